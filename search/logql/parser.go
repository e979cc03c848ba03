package logql

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// ParseExpr returns the AST of a LogQL query, or a *ParseError with the
// position of the first problem.
func ParseExpr(q string) (Expr, error) {
	toks, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{q: q, toks: toks}
	e, err := p.parseTop()
	if err != nil {
		return nil, err
	}
	return e, nil
}

// ParseSampleExpr parses a metric query.
func ParseSampleExpr(q string) (SampleExpr, error) {
	e, err := ParseExpr(q)
	if err != nil {
		return nil, err
	}
	se, ok := e.(SampleExpr)
	if !ok {
		return nil, newParseError(q, 0, "expected a metric query, got a log query")
	}
	return se, nil
}

// ParseLogSelector parses a log query (a selector and a pipeline).
func ParseLogSelector(q string) (*LogExpr, error) {
	e, err := ParseExpr(q)
	if err != nil {
		return nil, err
	}
	le, ok := e.(*LogExpr)
	if !ok {
		return nil, newParseError(q, 0, "expected a log query, got a metric query")
	}
	return le, nil
}

type parser struct {
	q    string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) errAt(t token, format string, args ...any) error {
	return newParseError(p.q, t.pos, fmt.Sprintf(format, args...))
}

func (p *parser) unexpected(t token, want string) error {
	return p.errAt(t, "syntax error: unexpected %s, expected %s", t.describe(), want)
}

func (p *parser) expect(k tokKind, want string) (token, error) {
	t := p.next()
	if t.kind != k {
		return t, p.unexpected(t, want)
	}
	return t, nil
}

func (p *parser) isIdent(text string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == text
}

func (p *parser) parseTop() (Expr, error) {
	if p.peek().kind == tEOF {
		return nil, p.errAt(p.peek(), "syntax error: empty query")
	}
	e, err := p.parseExpr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tLBrack {
			return nil, p.errAt(t, "syntax error: a log range [..] is only allowed inside a range aggregation such as count_over_time(...)")
		}
		return nil, p.unexpected(t, "end of query")
	}
	return e, nil
}

// parseSelector parses {name op "value", ...}.
func (p *parser) parseSelector() ([]*labels.Matcher, error) {
	open, err := p.expect(tLBrace, "{")
	if err != nil {
		return nil, err
	}
	var ms []*labels.Matcher
	for {
		if p.peek().kind == tRBrace && len(ms) == 0 {
			break
		}
		m, err := p.parseMatcher()
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
		if p.peek().kind == tComma {
			p.next()
			continue
		}
		break
	}
	if _, err := p.expect(tRBrace, "} or ,"); err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, p.errAt(open, "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will")
	}
	for _, m := range ms {
		if !m.Matches("") {
			return ms, nil
		}
	}
	return nil, p.errAt(open, "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will")
}

var matchTypes = map[tokKind]labels.MatchType{
	tEq: labels.MatchEqual, tNeq: labels.MatchNotEqual, tRe: labels.MatchRegexp, tNre: labels.MatchNotRegexp,
}

// parseMatcher parses name op "value".
func (p *parser) parseMatcher() (*labels.Matcher, error) {
	name, err := p.expect(tIdent, "label name")
	if err != nil {
		return nil, err
	}
	op := p.next()
	mt, ok := matchTypes[op.kind]
	if !ok {
		return nil, p.unexpected(op, "=, !=, =~ or !~")
	}
	val, err := p.expect(tString, "string")
	if err != nil {
		return nil, err
	}
	return p.newMatcher(mt, name.text, val)
}

func (p *parser) newMatcher(mt labels.MatchType, name string, val token) (*labels.Matcher, error) {
	m, err := labels.NewMatcher(mt, name, val.text)
	if err != nil {
		return nil, p.errAt(val, "invalid regexp %q: %v", val.text, err)
	}
	return m, nil
}

// parseLogExpr parses a selector and its pipeline; if allowRange, it also
// accepts "[range] offset d" (before or after the pipeline) and unwrap.
func (p *parser) parseLogExpr() (*LogExpr, error) {
	ms, err := p.parseSelector()
	if err != nil {
		return nil, err
	}
	le := &LogExpr{Matchers: ms}
	if err := p.parsePipeline(le); err != nil {
		return nil, err
	}
	return le, nil
}

// parsePipeline appends stages to le until the next token is not a stage.
// It stops before "| unwrap", which the caller handles.
func (p *parser) parsePipeline(le *LogExpr) error {
	for {
		t := p.peek()
		switch t.kind {
		case tPipeEq, tNeq, tPipeRe, tNre, tPipePat, tNotPat:
			s, err := p.parseLineFilter()
			if err != nil {
				return err
			}
			le.Stages = append(le.Stages, s)
		case tPipe:
			if n := p.peekAt(1); n.kind == tIdent && n.text == "unwrap" {
				return nil
			}
			p.next()
			s, err := p.parseStage()
			if err != nil {
				return err
			}
			le.Stages = append(le.Stages, s)
		default:
			return nil
		}
	}
}

var lineFilterOps = map[tokKind]string{
	tPipeEq: "|=", tNeq: "!=", tPipeRe: "|~", tNre: "!~", tPipePat: "|>", tNotPat: "!>",
}

func (p *parser) parseLineFilter() (*LineFilterStage, error) {
	op := p.next()
	s := &LineFilterStage{Op: lineFilterOps[op.kind]}
	for {
		v, err := p.expect(tString, "string after "+s.Op)
		if err != nil {
			return nil, err
		}
		if s.Op == "|~" || s.Op == "!~" {
			if _, err := compileRegexp(v.text); err != nil {
				return nil, p.errAt(v, "invalid regexp %q: %v", v.text, err)
			}
		}
		if s.Op == "|>" || s.Op == "!>" {
			if _, err := compilePattern(v.text); err != nil {
				return nil, p.errAt(v, "invalid pattern %q: %v", v.text, err)
			}
		}
		s.Values = append(s.Values, v.text)
		if p.isIdent("or") && p.peekAt(1).kind == tString {
			p.next()
			continue
		}
		return s, nil
	}
}

// parseStage parses what follows a "|".
func (p *parser) parseStage() (Stage, error) {
	t := p.peek()
	if t.kind == tLParen {
		return p.parseLabelFilterStage()
	}
	if t.kind != tIdent {
		return nil, p.unexpected(t, "parser, formatter or label filter after |")
	}
	if isCmpTok(p.peekAt(1).kind) {
		return p.parseLabelFilterStage()
	}
	switch t.text {
	case "json", "logfmt", "regexp", "pattern", "unpack":
		return p.parseParserStage()
	case "line_format":
		p.next()
		v, err := p.expect(tString, "template string after line_format")
		if err != nil {
			return nil, err
		}
		if _, err := newTemplate(v.text); err != nil {
			return nil, p.errAt(v, "invalid line_format template: %v", err)
		}
		return &LineFormatStage{Template: v.text}, nil
	case "label_format":
		return p.parseLabelFormat()
	case "drop", "keep":
		return p.parseDrop()
	case "decolorize":
		p.next()
		return &DecolorizeStage{}, nil
	}
	return nil, p.errAt(t, "syntax error: unexpected identifier %q after |, expected a parser (json, logfmt, regexp, pattern, unpack), line_format, label_format, drop, keep, decolorize, unwrap or a label filter", t.text)
}

func isCmpTok(k tokKind) bool {
	switch k {
	case tEq, tNeq, tRe, tNre, tGt, tGte, tLt, tLte, tCmpEq:
		return true
	}
	return false
}

func (p *parser) parseParserStage() (Stage, error) {
	kind := p.next()
	s := &ParserStage{Kind: kind.text}
	switch kind.text {
	case "regexp", "pattern":
		v, err := p.expect(tString, "string after "+kind.text)
		if err != nil {
			return nil, err
		}
		var perr error
		if kind.text == "regexp" {
			_, perr = newRegexpParser(v.text)
		} else {
			_, perr = newPatternParser(v.text)
		}
		if perr != nil {
			return nil, p.errAt(v, "invalid %s %q: %v", kind.text, v.text, perr)
		}
		s.Param = v.text
		return s, nil
	case "unpack":
		return s, nil
	}
	for kind.text == "logfmt" && p.peek().kind == tFlag {
		f := p.next()
		switch f.text {
		case "--strict":
			s.Strict = true
		case "--keep-empty":
			s.KeepEmpty = true
		default:
			return nil, p.errAt(f, "unknown logfmt flag %q, expected --strict or --keep-empty", f.text)
		}
	}
	fields, err := p.parseExtractFields()
	if err != nil {
		return nil, err
	}
	s.Fields = fields
	return s, nil
}

// parseExtractFields parses: name="path", name, ... (possibly none).
func (p *parser) parseExtractFields() ([]ExtractField, error) {
	if !p.startsExtractField() {
		return nil, nil
	}
	var fs []ExtractField
	for {
		name, err := p.expect(tIdent, "label name")
		if err != nil {
			return nil, err
		}
		f := ExtractField{Name: name.text, Path: name.text}
		if p.peek().kind == tEq {
			p.next()
			v, err := p.expect(tString, "string path after =")
			if err != nil {
				return nil, err
			}
			f.Path = v.text
		}
		fs = append(fs, f)
		if p.peek().kind != tComma {
			return fs, nil
		}
		p.next()
	}
}

func (p *parser) startsExtractField() bool {
	if p.peek().kind != tIdent {
		return false
	}
	k := p.peekAt(1).kind
	return k == tEq || k == tComma || isPipelineEnd(k)
}

// isPipelineEnd reports whether k ends a stage.
func isPipelineEnd(k tokKind) bool {
	switch k {
	case tEOF, tPipe, tPipeEq, tNeq, tPipeRe, tNre, tPipePat, tNotPat, tRParen, tLBrack:
		return true
	}
	return false
}

func (p *parser) parseLabelFormat() (Stage, error) {
	p.next()
	s := &LabelFormatStage{}
	seen := map[string]bool{}
	for {
		dst, err := p.expect(tIdent, "label name")
		if err != nil {
			return nil, err
		}
		if seen[dst.text] {
			return nil, p.errAt(dst, "label_format: label %q is set more than once", dst.text)
		}
		seen[dst.text] = true
		if _, err := p.expect(tEq, "="); err != nil {
			return nil, err
		}
		v := p.next()
		switch v.kind {
		case tIdent:
			s.Items = append(s.Items, LabelFormatItem{Dst: dst.text, Src: v.text})
		case tString:
			if _, err := newTemplate(v.text); err != nil {
				return nil, p.errAt(v, "invalid label_format template: %v", err)
			}
			s.Items = append(s.Items, LabelFormatItem{Dst: dst.text, Src: v.text, Template: true})
		default:
			return nil, p.unexpected(v, "label name or template string")
		}
		if p.peek().kind != tComma {
			return s, nil
		}
		p.next()
	}
}

func (p *parser) parseDrop() (Stage, error) {
	kw := p.next()
	s := &DropStage{Keep: kw.text == "keep"}
	for {
		name, err := p.expect(tIdent, "label name")
		if err != nil {
			return nil, err
		}
		it := DropItem{Name: name.text}
		if mt, ok := matchTypes[p.peek().kind]; ok {
			p.next()
			v, err := p.expect(tString, "string")
			if err != nil {
				return nil, err
			}
			if it.Matcher, err = p.newMatcher(mt, name.text, v); err != nil {
				return nil, err
			}
		}
		s.Items = append(s.Items, it)
		if p.peek().kind != tComma {
			return s, nil
		}
		p.next()
	}
}

func (p *parser) parseLabelFilterStage() (Stage, error) {
	f, err := p.parseLabelFilterOr()
	if err != nil {
		return nil, err
	}
	return &LabelFilterStage{Filter: f}, nil
}

func (p *parser) parseLabelFilterOr() (LabelFilter, error) {
	l, err := p.parseLabelFilterAnd()
	if err != nil {
		return nil, err
	}
	for p.isIdent("or") {
		p.next()
		r, err := p.parseLabelFilterAnd()
		if err != nil {
			return nil, err
		}
		l = &BinaryLabelFilter{Left: l, Right: r}
	}
	return l, nil
}

func (p *parser) parseLabelFilterAnd() (LabelFilter, error) {
	l, err := p.parseLabelFilterPrimary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		switch {
		case t.kind == tComma, t.kind == tIdent && t.text == "and":
			p.next()
		case t.kind == tIdent && isCmpTok(p.peekAt(1).kind), t.kind == tLParen:
			// Juxtaposition is an implicit "and", as in Loki.
		default:
			return l, nil
		}
		r, err := p.parseLabelFilterPrimary()
		if err != nil {
			return nil, err
		}
		l = &BinaryLabelFilter{And: true, Left: l, Right: r}
	}
}

func (p *parser) parseLabelFilterPrimary() (LabelFilter, error) {
	if p.peek().kind == tLParen {
		p.next()
		f, err := p.parseLabelFilterOr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, ")"); err != nil {
			return nil, err
		}
		return &ParenLabelFilter{Inner: f}, nil
	}
	name, err := p.expect(tIdent, "label name")
	if err != nil {
		return nil, err
	}
	op := p.next()
	v := p.next()
	if v.kind == tString {
		switch op.kind {
		case tCmpEq:
			op.kind = tEq
			fallthrough
		case tEq, tNeq, tRe, tNre:
			m, err := p.newMatcher(matchTypes[op.kind], name.text, v)
			if err != nil {
				return nil, err
			}
			return &StringLabelFilter{Matcher: m}, nil
		}
		return nil, p.errAt(op, "syntax error: operator %s cannot compare a label with a string", op.text)
	}
	return p.parseNumericFilter(name, op, v)
}

var numericOps = map[tokKind]string{
	tGt: ">", tGte: ">=", tLt: "<", tLte: "<=", tCmpEq: "==", tEq: "==", tNeq: "!=",
}

func (p *parser) parseNumericFilter(name, op, v token) (LabelFilter, error) {
	sop, ok := numericOps[op.kind]
	if !ok {
		return nil, p.unexpected(op, "comparison operator")
	}
	f := &NumericLabelFilter{Name: name.text, Op: sop, Text: v.text}
	switch v.kind {
	case tNumber:
		n, err := parseNumber(v.text)
		if err != nil {
			return nil, p.errAt(v, "invalid number %q", v.text)
		}
		f.Value, f.Kind = n, "number"
	case tDuration:
		if d, err := parseDuration(v.text); err == nil {
			f.Value, f.Kind = d.Seconds(), "duration"
		} else if b, err := parseBytes(v.text); err == nil {
			f.Value, f.Kind = b, "bytes"
		} else {
			return nil, p.errAt(v, "invalid duration or byte size %q", v.text)
		}
	default:
		return nil, p.unexpected(v, "string, number, duration or byte size")
	}
	return f, nil
}

func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("number out of range")
	}
	return f, nil
}

var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond,
	"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour,
}

// parseDuration accepts Go durations plus the d, w and y units (1h30m, 2d, 1.5s).
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total float64
	for s != "" {
		i := 0
		for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("invalid duration")
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("invalid duration")
		}
		j := i
		for j < len(s) && !isDigit(s[j]) && s[j] != '.' {
			j++
		}
		u, ok := durationUnits[s[i:j]]
		if !ok {
			return 0, fmt.Errorf("unknown duration unit %q", s[i:j])
		}
		total += n * float64(u)
		s = s[j:]
	}
	if total > math.MaxInt64 {
		return 0, fmt.Errorf("duration out of range")
	}
	return time.Duration(total), nil
}

var byteUnits = map[string]float64{
	"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15, "eb": 1e18,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50, "eib": 1 << 60,
	"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15, "e": 1e18,
	"ki": 1 << 10, "mi": 1 << 20, "gi": 1 << 30, "ti": 1 << 40, "pi": 1 << 50, "ei": 1 << 60,
}

// parseBytes accepts humanized sizes such as 20MB, 1.5KiB or 100b.
func parseBytes(s string) (float64, error) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid byte size %q", s)
	}
	unit := strings.ToLower(strings.TrimSpace(s[i:]))
	if unit == "" {
		return n, nil
	}
	m, ok := byteUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown byte unit %q", s[i:])
	}
	return n * m, nil
}
