package logql

import (
	"fmt"
	"regexp"
	"strings"
)

// lineState is one entry flowing through a pipeline.
type lineState struct {
	ts   int64
	line string
	lbs  labelSet
}

// processor is one compiled stage: it may change the line or the labels and
// returns false to drop the entry.
type processor interface {
	process(s *lineState) bool
}

// pipeline is a compiled list of stages.
type pipeline struct {
	procs       []processor
	detectLevel bool // add detected_level before the stages
}

// compilePipeline turns stages into processors. detectLevel adds the
// detected_level label when the query refers to it.
func compilePipeline(stages []Stage, detectLevel bool) (*pipeline, error) {
	p := &pipeline{detectLevel: detectLevel}
	for _, st := range stages {
		proc, err := compileStage(st)
		if err != nil {
			return nil, err
		}
		p.procs = append(p.procs, proc)
	}
	return p, nil
}

func compileStage(st Stage) (processor, error) {
	switch s := st.(type) {
	case *LineFilterStage:
		return newLineFilter(s)
	case *ParserStage:
		return newParser(s)
	case *LabelFilterStage:
		return &labelFilterProc{f: s.Filter}, nil
	case *LineFormatStage:
		return newLineFormatter(s.Template)
	case *LabelFormatStage:
		return newLabelFormatter(s)
	case *DropStage:
		return &dropProc{s}, nil
	case *DecolorizeStage:
		return decolorizer{}, nil
	}
	return nil, fmt.Errorf("unsupported stage %T", st)
}

// run processes one entry; s.lbs must already hold its labels.
func (p *pipeline) run(s *lineState) bool {
	if p.detectLevel {
		if _, ok := s.lbs.get(DetectedLevel); !ok {
			s.lbs.set(DetectedLevel, detectLevel(s.line, &s.lbs), catMeta)
		}
	}
	for _, proc := range p.procs {
		if !proc.process(s) {
			return false
		}
	}
	return true
}

// lineFilter implements |=, !=, |~, !~, |> and !> with "or" alternatives.
type lineFilter struct {
	negate   bool
	contains []string
	res      []*regexp.Regexp
	pats     []*pattern
}

func newLineFilter(s *LineFilterStage) (processor, error) {
	f := &lineFilter{negate: s.Op[0] == '!'}
	for _, v := range s.Values {
		switch s.Op {
		case "|=", "!=":
			f.contains = append(f.contains, v)
		case "|~", "!~":
			re, err := compileRegexp(v)
			if err != nil {
				return nil, err
			}
			f.res = append(f.res, re)
		default:
			p, err := compilePattern(v)
			if err != nil {
				return nil, err
			}
			f.pats = append(f.pats, p)
		}
	}
	return f, nil
}

func compileRegexp(s string) (*regexp.Regexp, error) { return regexp.Compile(s) }

func (f *lineFilter) matches(line string) bool {
	for _, c := range f.contains {
		if strings.Contains(line, c) {
			return true
		}
	}
	for _, re := range f.res {
		if re.MatchString(line) {
			return true
		}
	}
	for _, p := range f.pats {
		if p.match(line, nil) {
			return true
		}
	}
	return false
}

func (f *lineFilter) process(s *lineState) bool { return f.matches(s.line) != f.negate }

// labelFilterProc applies a label filter expression.
type labelFilterProc struct{ f LabelFilter }

func (p *labelFilterProc) process(s *lineState) bool { return evalLabelFilter(p.f, &s.lbs) }

func evalLabelFilter(f LabelFilter, lbs *labelSet) bool {
	switch f := f.(type) {
	case *BinaryLabelFilter:
		if f.And {
			return evalLabelFilter(f.Left, lbs) && evalLabelFilter(f.Right, lbs)
		}
		return evalLabelFilter(f.Left, lbs) || evalLabelFilter(f.Right, lbs)
	case *ParenLabelFilter:
		return evalLabelFilter(f.Inner, lbs)
	case *StringLabelFilter:
		v, _ := lbs.get(f.Matcher.Name)
		return f.Matcher.Matches(v)
	case *NumericLabelFilter:
		return evalNumericFilter(f, lbs)
	}
	return false
}

// evalNumericFilter compares a label as a number; a label that does not
// convert sets __error__ and keeps the entry, so the problem is visible.
func evalNumericFilter(f *NumericLabelFilter, lbs *labelSet) bool {
	v, ok := lbs.get(f.Name)
	if !ok {
		return false
	}
	n, err := convertValue(f.Kind, v)
	if err != nil {
		lbs.setErr(errLabelFilter, err.Error())
		return true
	}
	switch f.Op {
	case ">":
		return n > f.Value
	case ">=":
		return n >= f.Value
	case "<":
		return n < f.Value
	case "<=":
		return n <= f.Value
	case "==":
		return n == f.Value
	case "!=":
		return n != f.Value
	}
	return false
}

// convertValue parses a label value as a number, a duration (in seconds)
// or a byte size.
func convertValue(kind, v string) (float64, error) {
	v = strings.TrimSpace(v)
	switch kind {
	case "duration", "duration_seconds":
		d, err := parseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("cannot parse %q as a duration", v)
		}
		return d.Seconds(), nil
	case "bytes":
		b, err := parseBytes(v)
		if err != nil {
			return 0, fmt.Errorf("cannot parse %q as a byte size", v)
		}
		return b, nil
	}
	n, err := parseNumber(v)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q as a number", v)
	}
	return n, nil
}

// dropProc implements drop and keep.
type dropProc struct{ s *DropStage }

func (d *dropProc) process(s *lineState) bool {
	if !d.s.Keep {
		for _, it := range d.s.Items {
			v, ok := s.lbs.get(it.Name)
			if !ok || (it.Matcher != nil && !it.Matcher.Matches(v)) {
				continue
			}
			s.lbs.del(it.Name)
			if it.Name == ErrorLabel {
				s.lbs.del(ErrorDetailsLabel)
			}
		}
		return true
	}
	kept := s.lbs.kv[:0]
	for _, l := range s.lbs.kv {
		if d.keeps(l) {
			kept = append(kept, l)
		}
	}
	s.lbs.kv = kept
	return true
}

func (d *dropProc) keeps(l label) bool {
	if l.name == ErrorLabel || l.name == ErrorDetailsLabel {
		return true
	}
	for _, it := range d.s.Items {
		if it.Name == l.name && (it.Matcher == nil || it.Matcher.Matches(l.value)) {
			return true
		}
	}
	return false
}

// decolorizer strips ANSI escape sequences.
type decolorizer struct{}

var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

func (decolorizer) process(s *lineState) bool {
	if strings.IndexByte(s.line, 0x1b) >= 0 {
		s.line = ansiRE.ReplaceAllString(s.line, "")
	}
	return true
}

// pushdownFilters returns the line filters that run on the original line
// (before any stage that rewrites it), for the storage to use.
func pushdownFilters(stages []Stage) []LineFilter {
	var out []LineFilter
	for _, st := range stages {
		switch s := st.(type) {
		case *LineFilterStage:
			if len(s.Values) == 1 && s.Op != "|>" && s.Op != "!>" {
				out = append(out, LineFilter{Op: s.Op, Value: s.Values[0]})
			}
		case *LineFormatStage, *DecolorizeStage:
			return out
		case *ParserStage:
			if s.Kind == "unpack" { // may replace the line with _entry
				return out
			}
		}
	}
	return out
}

// referencesLabel reports whether a query mentions a label name anywhere
// the engine would look it up (grouping, filters, templates, ...).
func referencesLabel(q, name string) bool { return strings.Contains(q, name) }
