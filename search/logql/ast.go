package logql

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Expr is a parsed LogQL query. String prints a canonical form that parses
// back to an equal Expr.
type Expr interface {
	String() string
	expr()
}

// LogExpr is a log query: a stream selector followed by a pipeline.
type LogExpr struct {
	Matchers []*labels.Matcher
	Stages   []Stage
}

// SampleExpr is an expression that evaluates to numbers.
type SampleExpr interface {
	Expr
	sampleExpr()
}

// Stage is one step of a log pipeline.
type Stage interface {
	String() string
	stage()
}

// LineFilterStage keeps lines that contain (or match) any of Values, or, for
// the negated operators, none of them.
type LineFilterStage struct {
	Op     string   // "|=", "!=", "|~", "!~", "|>", "!>"
	Values []string // alternatives joined by "or"
}

// ParserStage extracts labels from the line.
type ParserStage struct {
	Kind      string // "json", "logfmt", "regexp", "pattern", "unpack"
	Param     string // the expression of regexp and pattern
	Fields    []ExtractField
	Strict    bool // logfmt --strict
	KeepEmpty bool // logfmt --keep-empty
}

// ExtractField is a name="path" parameter of json or logfmt.
type ExtractField struct {
	Name string
	Path string
}

// LabelFilterStage keeps entries whose labels satisfy Filter.
type LabelFilterStage struct {
	Filter LabelFilter
}

// LineFormatStage rewrites the line with a Go text/template.
type LineFormatStage struct {
	Template string
}

// LabelFormatStage renames labels or sets them from templates.
type LabelFormatStage struct {
	Items []LabelFormatItem
}

// LabelFormatItem is dst=src (rename) or dst="template".
type LabelFormatItem struct {
	Dst      string
	Src      string
	Template bool
}

// DropStage removes labels; KeepStage keeps only the listed ones. An item
// with a matcher applies only when the label's value matches.
type DropStage struct {
	Keep  bool
	Items []DropItem
}

// DropItem names a label, optionally with a value matcher.
type DropItem struct {
	Name    string
	Matcher *labels.Matcher
}

// DecolorizeStage strips ANSI color sequences from the line.
type DecolorizeStage struct{}

// LabelFilter is a boolean expression over an entry's labels.
type LabelFilter interface {
	String() string
	labelFilter()
}

// BinaryLabelFilter is "a and b" or "a or b".
type BinaryLabelFilter struct {
	And         bool
	Left, Right LabelFilter
}

// StringLabelFilter compares a label with a string (=, !=, =~, !~).
type StringLabelFilter struct {
	Matcher *labels.Matcher
}

// NumericLabelFilter compares a label as a number, duration or byte size.
type NumericLabelFilter struct {
	Name  string
	Op    string // ">", ">=", "<", "<=", "==", "!="
	Value float64
	Kind  string // "number", "duration" (Value in seconds), "bytes"
	Text  string // the literal as written, for String
}

// ParenLabelFilter is a parenthesised filter, kept to print it back.
type ParenLabelFilter struct {
	Inner LabelFilter
}

// LogRangeExpr is a log query over a [range], the input of a range aggregation.
type LogRangeExpr struct {
	Log    *LogExpr
	Range  time.Duration
	Offset time.Duration
	Unwrap *Unwrap
}

// Unwrap turns a label into the sample value.
type Unwrap struct {
	Conv        string // "", "duration", "duration_seconds", "bytes"
	Label       string
	PostFilters []LabelFilter
}

// Grouping is by (...) or without (...).
type Grouping struct {
	Without bool
	Labels  []string
}

// RangeAggExpr is rate, count_over_time, ... over a log range.
type RangeAggExpr struct {
	Op       string
	Param    float64 // quantile_over_time
	Left     *LogRangeExpr
	Grouping *Grouping
}

// VectorAggExpr is sum, avg, topk, ... over a sample expression.
type VectorAggExpr struct {
	Op       string
	Param    float64 // topk, bottomk
	Grouping *Grouping
	Inner    SampleExpr
}

// BinOpExpr is a binary operation between sample expressions.
type BinOpExpr struct {
	Op         string
	LHS, RHS   SampleExpr
	ReturnBool bool
	Matching   *VectorMatching
}

// VectorMatching is on/ignoring with optional group_left/group_right.
type VectorMatching struct {
	On      bool
	Labels  []string
	Card    string // "", "group_left", "group_right"
	Include []string
}

// LiteralExpr is a number.
type LiteralExpr struct {
	Val float64
}

// VectorExpr is vector(x): one sample with no labels at every step.
type VectorExpr struct {
	Val float64
}

// LabelReplaceExpr is label_replace(v, dst, replacement, src, regex).
type LabelReplaceExpr struct {
	Inner                        SampleExpr
	Dst, Replacement, Src, Regex string
}

func (*LogExpr) expr()          {}
func (*RangeAggExpr) expr()     {}
func (*VectorAggExpr) expr()    {}
func (*BinOpExpr) expr()        {}
func (*LiteralExpr) expr()      {}
func (*VectorExpr) expr()       {}
func (*LabelReplaceExpr) expr() {}

func (*RangeAggExpr) sampleExpr()     {}
func (*VectorAggExpr) sampleExpr()    {}
func (*BinOpExpr) sampleExpr()        {}
func (*LiteralExpr) sampleExpr()      {}
func (*VectorExpr) sampleExpr()       {}
func (*LabelReplaceExpr) sampleExpr() {}

func (*LineFilterStage) stage()  {}
func (*ParserStage) stage()      {}
func (*LabelFilterStage) stage() {}
func (*LineFormatStage) stage()  {}
func (*LabelFormatStage) stage() {}
func (*DropStage) stage()        {}
func (*DecolorizeStage) stage()  {}

func (*BinaryLabelFilter) labelFilter()  {}
func (*StringLabelFilter) labelFilter()  {}
func (*NumericLabelFilter) labelFilter() {}
func (*ParenLabelFilter) labelFilter()   {}

func matcherString(m *labels.Matcher) string {
	return m.Name + m.Type.String() + strconv.Quote(m.Value)
}

func (e *LogExpr) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range e.Matchers {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(matcherString(m))
	}
	b.WriteByte('}')
	for _, s := range e.Stages {
		b.WriteByte(' ')
		b.WriteString(s.String())
	}
	return b.String()
}

func (s *LineFilterStage) String() string {
	parts := make([]string, len(s.Values))
	for i, v := range s.Values {
		parts[i] = strconv.Quote(v)
	}
	return s.Op + " " + strings.Join(parts, " or ")
}

func (s *ParserStage) String() string {
	var b strings.Builder
	b.WriteString("| " + s.Kind)
	if s.Kind == "regexp" || s.Kind == "pattern" {
		b.WriteString(" " + strconv.Quote(s.Param))
	}
	if s.Strict {
		b.WriteString(" --strict")
	}
	if s.KeepEmpty {
		b.WriteString(" --keep-empty")
	}
	for i, f := range s.Fields {
		if i == 0 {
			b.WriteByte(' ')
		} else {
			b.WriteString(", ")
		}
		b.WriteString(f.Name + "=" + strconv.Quote(f.Path))
	}
	return b.String()
}

func (s *LabelFilterStage) String() string { return "| " + s.Filter.String() }
func (s *LineFormatStage) String() string  { return "| line_format " + strconv.Quote(s.Template) }
func (s *DecolorizeStage) String() string  { return "| decolorize" }

func (s *LabelFormatStage) String() string {
	parts := make([]string, len(s.Items))
	for i, it := range s.Items {
		if it.Template {
			parts[i] = it.Dst + "=" + strconv.Quote(it.Src)
		} else {
			parts[i] = it.Dst + "=" + it.Src
		}
	}
	return "| label_format " + strings.Join(parts, ", ")
}

func (s *DropStage) String() string {
	parts := make([]string, len(s.Items))
	for i, it := range s.Items {
		if it.Matcher != nil {
			parts[i] = matcherString(it.Matcher)
		} else {
			parts[i] = it.Name
		}
	}
	kw := "| drop "
	if s.Keep {
		kw = "| keep "
	}
	return kw + strings.Join(parts, ", ")
}

func (f *BinaryLabelFilter) String() string {
	if f.And {
		return f.Left.String() + " and " + f.Right.String()
	}
	return f.Left.String() + " or " + f.Right.String()
}

func (f *StringLabelFilter) String() string  { return matcherString(f.Matcher) }
func (f *NumericLabelFilter) String() string { return f.Name + " " + f.Op + " " + f.Text }
func (f *ParenLabelFilter) String() string   { return "(" + f.Inner.String() + ")" }

func (u *Unwrap) String() string {
	s := "| unwrap "
	if u.Conv != "" {
		s += u.Conv + "(" + u.Label + ")"
	} else {
		s += u.Label
	}
	for _, f := range u.PostFilters {
		s += " | " + f.String()
	}
	return s
}

func (e *LogRangeExpr) String() string {
	s := e.Log.String()
	if e.Unwrap != nil {
		s += " " + e.Unwrap.String()
	}
	if len(e.Log.Stages) > 0 || e.Unwrap != nil {
		s += " "
	}
	s += "[" + formatDuration(e.Range) + "]"
	if e.Offset != 0 {
		s += " offset " + formatDuration(e.Offset)
	}
	return s
}

func (g *Grouping) String() string {
	kw := "by"
	if g.Without {
		kw = "without"
	}
	return kw + " (" + strings.Join(g.Labels, ", ") + ")"
}

func (e *RangeAggExpr) String() string {
	s := e.Op + "("
	if e.Op == "quantile_over_time" {
		s += formatFloat(e.Param) + ", "
	}
	s += e.Left.String() + ")"
	if e.Grouping != nil {
		s += " " + e.Grouping.String()
	}
	return s
}

func (e *VectorAggExpr) String() string {
	s := e.Op
	if e.Grouping != nil {
		s += " " + e.Grouping.String() + " "
	}
	s += "("
	if e.Op == "topk" || e.Op == "bottomk" {
		s += formatFloat(e.Param) + ", "
	}
	return s + e.Inner.String() + ")"
}

func (e *BinOpExpr) String() string {
	var b strings.Builder
	b.WriteString(operandString(e.LHS))
	b.WriteString(" " + e.Op)
	if e.ReturnBool {
		b.WriteString(" bool")
	}
	if m := e.Matching; m != nil {
		kw := " ignoring"
		if m.On {
			kw = " on"
		}
		b.WriteString(kw + " (" + strings.Join(m.Labels, ", ") + ")")
		if m.Card != "" {
			b.WriteString(" " + m.Card + " (" + strings.Join(m.Include, ", ") + ")")
		}
	}
	b.WriteString(" " + operandString(e.RHS))
	return b.String()
}

// operandString parenthesises nested binary operations, so the printed form
// does not depend on operator precedence.
func operandString(e SampleExpr) string {
	if _, ok := e.(*BinOpExpr); ok {
		return "(" + e.String() + ")"
	}
	if l, ok := e.(*LiteralExpr); ok && l.Val < 0 {
		return "(" + l.String() + ")"
	}
	return e.String()
}

func (e *LiteralExpr) String() string { return formatFloat(e.Val) }
func (e *VectorExpr) String() string  { return "vector(" + formatFloat(e.Val) + ")" }

func (e *LabelReplaceExpr) String() string {
	return "label_replace(" + e.Inner.String() + ", " + strconv.Quote(e.Dst) + ", " +
		strconv.Quote(e.Replacement) + ", " + strconv.Quote(e.Src) + ", " + strconv.Quote(e.Regex) + ")"
}

func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// formatDuration prints d as Prometheus does (1h30m, 5m, 250ms), falling
// back to Go's form for sub-millisecond precision.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d < 0 || d%time.Millisecond != 0 {
		return d.String()
	}
	ms := int64(d / time.Millisecond)
	units := []struct {
		name string
		ms   int64
	}{{"y", 365 * 24 * 3600 * 1000}, {"w", 7 * 24 * 3600 * 1000}, {"d", 24 * 3600 * 1000},
		{"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1}}
	var b strings.Builder
	for _, u := range units {
		if ms >= u.ms {
			b.WriteString(strconv.FormatInt(ms/u.ms, 10) + u.name)
			ms %= u.ms
		}
	}
	return b.String()
}
