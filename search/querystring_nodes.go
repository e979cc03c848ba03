package search

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/prometheus/prometheus/model/labels"
)

// qsEntry is the entry a query-string predicate looks at.
type qsEntry struct {
	line     string
	labels   labels.Labels // the stream's
	metadata labels.Labels
	parsed   map[string]string // the line's JSON or logfmt fields, once asked for
}

// field returns the value of a field: the stream label of that name, else
// the structured metadata, else the top-level field of a JSON line or the
// pair of a logfmt line (the first one, if the key repeats).
func (e *qsEntry) field(name string) (string, bool) {
	if v := e.labels.Get(name); v != "" {
		return v, true
	}
	if e.metadata.Has(name) {
		return e.metadata.Get(name), true
	}
	if e.parsed == nil {
		e.parsed = map[string]string{}
		parseLineFields(e.line, func(k, v, _ string) {
			if _, ok := e.parsed[k]; !ok {
				e.parsed[k] = v
			}
		})
	}
	v, ok := e.parsed[name]
	return v, ok
}

// qsNode is a query-string predicate. String prints it canonically: terms as
// LogQL-like tests (|= "x" for a line, name="x" for a field), groups as
// (+required -prohibited optional).
type qsNode interface {
	match(e *qsEntry) bool
	String() string
}

type qsClause struct {
	occur qsOccur
	node  qsNode
}

// qsBool matches as a Lucene boolean query: every required clause and no
// prohibited one, and, when there is no required clause, at least one of the
// optional ones. A group of prohibited clauses alone matches every entry they
// do not (as bleve and Elasticsearch do).
type qsBool struct {
	clauses []qsClause
}

func (b *qsBool) match(e *qsEntry) bool {
	must, should := false, false
	for _, c := range b.clauses {
		switch c.occur {
		case qsMust:
			if !c.node.match(e) {
				return false
			}
			must = true
		case qsMustNot:
			if c.node.match(e) {
				return false
			}
		case qsShould:
			should = true
		}
	}
	if must || !should {
		return true
	}
	for _, c := range b.clauses {
		if c.occur == qsShould && c.node.match(e) {
			return true
		}
	}
	return false
}

// soleShould reports whether the group's one optional clause is required:
// it has no required clause and no other optional one.
func (b *qsBool) soleShould() bool {
	n := 0
	for _, c := range b.clauses {
		switch c.occur {
		case qsMust:
			return false
		case qsShould:
			n++
		}
	}
	return n == 1
}

func (b *qsBool) String() string {
	parts := make([]string, len(b.clauses))
	for i, c := range b.clauses {
		parts[i] = map[qsOccur]string{qsMust: "+", qsMustNot: "-"}[c.occur] + c.node.String()
	}
	return "(" + strings.Join(parts, " ") + ")"
}

// qsAll is *:*, every entry.
type qsAll struct{}

func (qsAll) match(*qsEntry) bool { return true }
func (qsAll) String() string      { return "*:*" }

// qsExists is _exists_:name, entries that have the field.
type qsExists struct{ name string }

func (q qsExists) match(e *qsEntry) bool { _, ok := e.field(q.name); return ok }
func (q qsExists) String() string        { return "_exists_:" + q.name }

// qsContains is a bare word or phrase: lines that contain it, case-sensitive.
type qsContains struct{ value string }

func (q qsContains) match(e *qsEntry) bool { return strings.Contains(e.line, q.value) }
func (q qsContains) String() string        { return "|= " + strconv.Quote(q.value) }

// qsLineRegex is a bare /regex/ or wildcard: lines with a match anywhere.
type qsLineRegex struct {
	src string
	re  *regexp.Regexp
}

func (q qsLineRegex) match(e *qsEntry) bool { return q.re.MatchString(e.line) }
func (q qsLineRegex) String() string        { return "|~ " + strconv.Quote(q.src) }

// qsField tests the value of a field (see qsEntry.field).
type qsField struct {
	name string
	op   string // the test, for String
	test func(v string) bool
	// For pushdown: the exact value of name:value, or the (unanchored)
	// regular expression the whole value must match.
	eq *string
	re string
}

func (q qsField) match(e *qsEntry) bool {
	v, ok := e.field(q.name)
	return ok && q.test(v)
}
func (q qsField) String() string { return q.name + q.op }

// textNode is a word or phrase: in a line, or the exact value of a field.
func textNode(field, v string) qsNode {
	if field == "" {
		return qsContains{value: v}
	}
	return qsField{name: field, op: "=" + strconv.Quote(v), eq: &v, test: func(x string) bool { return x == v }}
}

// regexNode is a regular expression: anywhere in a line, or the whole value
// of a field.
func regexNode(field, src string) (qsNode, error) {
	if field == "" {
		re, err := regexp.Compile(src)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression: %w", err)
		}
		return qsLineRegex{src: src, re: re}, nil
	}
	re, err := regexp.Compile("^(?:" + src + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression: %w", err)
	}
	return qsField{name: field, op: "=~" + strconv.Quote(src), re: src, test: re.MatchString}, nil
}

// numberField is field:123: the value as written, or any number equal to it.
func numberField(field, text string, n float64) qsNode {
	return qsField{name: field, op: "==" + text, test: func(v string) bool {
		if v == text {
			return true
		}
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && f == n
	}}
}

// numericRangeField is field:>n, >=n, <n or <=n over values that are numbers.
func numericRangeField(q *query.NumericRangeQuery) qsNode {
	minIncl := q.InclusiveMin == nil || *q.InclusiveMin
	maxIncl := q.InclusiveMax != nil && *q.InclusiveMax
	var op []string
	if q.Min != nil {
		op = append(op, map[bool]string{true: ">=", false: ">"}[minIncl]+strconv.FormatFloat(*q.Min, 'g', -1, 64))
	}
	if q.Max != nil {
		op = append(op, map[bool]string{true: "<=", false: "<"}[maxIncl]+strconv.FormatFloat(*q.Max, 'g', -1, 64))
	}
	return qsField{name: q.FieldVal, op: strings.Join(op, ","), test: func(v string) bool {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return false
		}
		return inRange(f, q.Min, q.Max, minIncl, maxIncl)
	}}
}

func inRange[T int64 | float64](v T, lo, hi *T, loIncl, hiIncl bool) bool {
	switch {
	case lo != nil && (v < *lo || v == *lo && !loIncl):
		return false
	case hi != nil && (v > *hi || v == *hi && !hiIncl):
		return false
	}
	return true
}

// timeLayouts are the forms a field value may take to compare as a time.
var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"}

// dateRangeField is field:>"2024-05-01T12:00:00Z" (and >=, <, <=) over values
// that are RFC 3339 times or dates.
func dateRangeField(q *query.DateRangeQuery) qsNode {
	var lo, hi *int64
	var op []string
	loIncl := q.InclusiveStart == nil || *q.InclusiveStart
	hiIncl := q.InclusiveEnd != nil && *q.InclusiveEnd
	if !q.Start.IsZero() {
		ns := q.Start.UnixNano()
		lo = &ns
		op = append(op, map[bool]string{true: ">=", false: ">"}[loIncl]+q.Start.UTC().Format(time.RFC3339Nano))
	}
	if !q.End.IsZero() {
		ns := q.End.UnixNano()
		hi = &ns
		op = append(op, map[bool]string{true: "<=", false: "<"}[hiIncl]+q.End.UTC().Format(time.RFC3339Nano))
	}
	return qsField{name: q.FieldVal, op: strings.Join(op, ","), test: func(v string) bool {
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				return inRange(t.UnixNano(), lo, hi, loIncl, hiIncl)
			}
		}
		return false
	}}
}
