package search

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/logql"
)

// The query-string syntax of the native search API (syntax=querystring) is
// bleve's (a small Lucene), with Lucene's AND, OR, NOT and parentheses on top;
// search/README.md states what each form matches in silt. A query is parsed
// in two layers:
//
//   - scanQueryString splits it into terms, parentheses and the operators
//     + - ! NOT AND && OR ||, and parseGroup combines the terms as Lucene's
//     classic query parser does (default operator OR);
//   - each term ("error", level:error, "a phrase", path:/v1/*, ms:>100, ...)
//     goes through bleve's own query-string parser, and the bleve query it
//     yields becomes a predicate over an entry (querystring_nodes.go).
//
// The parts every match must satisfy are pushed down to the Searcher as line
// filters and stream matchers (pushdown), so the index can narrow them; the
// whole predicate is then checked on each selected entry.

// qsQuery is a parsed query-string query.
type qsQuery struct {
	root     qsNode
	matchers []*labels.Matcher
	filters  []logql.LineFilter
}

// qsError is a query-string syntax error at a column (1-based, in runes).
type qsError struct {
	col int
	msg string
}

func (e *qsError) Error() string { return fmt.Sprintf("col %d: %s", e.col, e.msg) }

func qsErrorf(col int, format string, args ...any) error {
	return &qsError{col: col, msg: fmt.Sprintf(format, args...)}
}

// parseQueryString parses and translates a query-string query.
func parseQueryString(s string) (*qsQuery, error) {
	toks, err := scanQueryString(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("query is empty")
	}
	p := &qsParser{toks: toks, end: utf8.RuneCountInString(s) + 1}
	root, err := p.parseGroup(0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) { // only an unmatched ) stops the top group early
		return nil, qsErrorf(p.toks[p.i].col, "unexpected ) without a matching (")
	}
	q := &qsQuery{root: root}
	q.pushdown(root, qsMust)
	return q, nil
}

type qsKind int

const (
	qsTerm qsKind = iota
	qsAnd
	qsOr
	qsNot // NOT, !, -
	qsPlus
	qsLParen
	qsRParen
)

// qsToken is one token of the boolean layer. For a term, text is what bleve
// parses, with a regular expression value replaced by /r/ and kept in regex.
type qsToken struct {
	kind    qsKind
	text    string
	col     int
	regex   string
	isRegex bool
}

// scanQueryString splits s into tokens. A term ends at unescaped white space
// or ")" outside quotes and regular expressions.
func scanQueryString(s string) ([]qsToken, error) {
	var toks []qsToken
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		col := utf8.RuneCountInString(s[:i]) + 1
		op := func(k qsKind, n int) {
			toks = append(toks, qsToken{kind: k, text: s[i : i+n], col: col})
			i += n
		}
		switch {
		case unicode.IsSpace(r):
			i += size
		case r == '(':
			op(qsLParen, 1)
		case r == ')':
			op(qsRParen, 1)
		case r == '+':
			op(qsPlus, 1)
		case r == '-', r == '!':
			op(qsNot, 1)
		case strings.HasPrefix(s[i:], "&&"):
			op(qsAnd, 2)
		case strings.HasPrefix(s[i:], "||"):
			op(qsOr, 2)
		default:
			t, end, err := scanTerm(s, i)
			if err != nil {
				return nil, err
			}
			t.col = col
			switch t.text {
			case "AND":
				t.kind = qsAnd
			case "OR":
				t.kind = qsOr
			case "NOT":
				t.kind = qsNot
			}
			toks = append(toks, t)
			i = end
		}
	}
	return toks, nil
}

// scanTerm reads the term that starts at s[i]. A value that starts with "/"
// (at the start or after a ":") and whose closing "/" ends the term is a
// regular expression, taken as written (only \/ is unescaped).
func scanTerm(s string, i int) (qsToken, int, error) {
	col := func(j int) int { return utf8.RuneCountInString(s[:j]) + 1 }
	t := qsToken{kind: qsTerm}
	var b strings.Builder
	valueStart := true
	j := i
	for j < len(s) {
		r, size := utf8.DecodeRuneInString(s[j:])
		switch {
		case r == '\\':
			_, n := utf8.DecodeRuneInString(s[j+size:])
			b.WriteString(s[j : j+size+n])
			j += size + n
		case r == '"':
			k := closingQuote(s, j+1, '"')
			if k < 0 {
				return t, 0, qsErrorf(col(j), "unterminated quoted phrase: add the closing \"")
			}
			b.WriteString(s[j : k+1])
			j = k + 1
		case r == '/' && valueStart:
			k := closingQuote(s, j+1, '/')
			if k < 0 || !termEnds(s, k+1) {
				b.WriteByte('/')
				j++
				break
			}
			t.regex, t.isRegex = strings.ReplaceAll(s[j+1:k], `\/`, "/"), true
			b.WriteString("/r/")
			j = k + 1
		case unicode.IsSpace(r) || r == ')':
			t.text = b.String()
			return t, j, nil
		case r == '(':
			if strings.HasSuffix(b.String(), ":") {
				return t, 0, qsErrorf(col(j), "grouping a field's values as field:(a b) is not supported: write (field:a OR field:b)")
			}
			return t, 0, qsErrorf(col(j), "unexpected ( inside a term: quote the term or escape it as \\(")
		default:
			b.WriteString(s[j : j+size])
			j += size
		}
		valueStart = r == ':'
	}
	t.text = b.String()
	return t, j, nil
}

// closingQuote returns the index of the first unescaped q in s from i, or -1.
func closingQuote(s string, i int, q byte) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i
		}
	}
	return -1
}

// termEnds reports whether a term ends at s[i] (a boost ^n may follow).
func termEnds(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r) || r == ')' || r == '^'
}

// qsOccur is how a clause counts in its group, as in Lucene.
type qsOccur int

const (
	qsShould qsOccur = iota
	qsMust
	qsMustNot
)

// maxQueryStringDepth bounds the nesting of parentheses, and so the
// recursion of the parser and of matching.
const maxQueryStringDepth = 64

type qsParser struct {
	toks []qsToken
	i    int
	end  int // the column after the query, for errors at its end
}

// parseGroup parses clauses until a ")" (depth > 0) or the end. Clauses get
// their occurrence as Lucene's classic parser gives them with OR as the
// default operator: +x and AND make a clause required, -x, !x and NOT x
// prohibit it, and "a AND b" also makes a required.
func (p *qsParser) parseGroup(depth int) (qsNode, error) {
	g := &qsBool{}
	for p.i < len(p.toks) && p.toks[p.i].kind != qsRParen {
		conj := qsTerm // none
		if k := p.toks[p.i].kind; k == qsAnd || k == qsOr {
			if len(g.clauses) == 0 {
				return nil, qsErrorf(p.toks[p.i].col, "%s has no term before it", p.toks[p.i].text)
			}
			conj = k
			p.i++
		}
		occur := qsShould
		if p.i < len(p.toks) {
			switch p.toks[p.i].kind {
			case qsPlus:
				occur = qsMust
				p.i++
			case qsNot:
				occur = qsMustNot
				p.i++
			}
		}
		node, err := p.parseClause(depth)
		if err != nil {
			return nil, err
		}
		if conj == qsAnd {
			if last := &g.clauses[len(g.clauses)-1]; last.occur != qsMustNot {
				last.occur = qsMust
			}
			if occur != qsMustNot {
				occur = qsMust
			}
		}
		g.clauses = append(g.clauses, qsClause{occur, node})
	}
	if len(g.clauses) == 0 {
		return nil, qsErrorf(p.col(), "expected a term")
	}
	if len(g.clauses) == 1 && g.clauses[0].occur != qsMustNot {
		return g.clauses[0].node, nil // (x) and +x alone are x
	}
	return g, nil
}

// parseClause parses a term or a parenthesised group.
func (p *qsParser) parseClause(depth int) (qsNode, error) {
	if p.i >= len(p.toks) {
		return nil, qsErrorf(p.end, "expected a term at the end of the query")
	}
	t := p.toks[p.i]
	p.i++
	switch t.kind {
	case qsTerm:
		return parseTerm(t)
	case qsLParen:
		if depth >= maxQueryStringDepth {
			return nil, qsErrorf(t.col, "parentheses nest deeper than %d", maxQueryStringDepth)
		}
		g, err := p.parseGroup(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.i >= len(p.toks) {
			return nil, qsErrorf(t.col, "( is never closed: add a )")
		}
		p.i++ // the )
		return g, nil
	}
	return nil, qsErrorf(t.col, "expected a term or ( but found %s", t.text)
}

func (p *qsParser) col() int {
	if p.i < len(p.toks) {
		return p.toks[p.i].col
	}
	return p.end
}

// parseTerm parses one term with bleve's query-string parser and translates
// the query it yields.
func parseTerm(t qsToken) (qsNode, error) {
	switch {
	case t.text == "*:*":
		return qsAll{}, nil
	case strings.HasPrefix(t.text, "_exists_:") && len(t.text) > len("_exists_:"):
		return qsExists{name: strings.TrimPrefix(t.text, "_exists_:")}, nil
	}
	parsed, err := query.NewQueryStringQuery(t.text).Parse()
	if err != nil {
		return nil, qsErrorf(t.col, "%s: %s", t.text, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	var inner []query.Query
	if bq, ok := parsed.(*query.BooleanQuery); ok {
		for _, part := range []query.Query{bq.Must, bq.Should, bq.MustNot} {
			switch c := part.(type) {
			case *query.ConjunctionQuery:
				inner = append(inner, c.Conjuncts...)
			case *query.DisjunctionQuery:
				inner = append(inner, c.Disjuncts...)
			}
		}
	}
	if len(inner) != 1 {
		return nil, qsErrorf(t.col, "%s is not one term", t.text)
	}
	n, err := fromBleve(inner[0], t)
	if err != nil {
		return nil, qsErrorf(t.col, "%s: %v", t.text, err)
	}
	return n, nil
}

// fromBleve translates the bleve query of one term.
func fromBleve(q query.Query, t qsToken) (qsNode, error) {
	switch q := q.(type) {
	case *query.MatchQuery:
		if q.Fuzziness != 0 {
			return nil, errors.New("fuzzy matching (~) is not supported")
		}
		return textNode(q.FieldVal, q.Match), nil
	case *query.MatchPhraseQuery:
		if q.Fuzziness != 0 {
			return nil, errors.New("fuzzy matching (~) is not supported")
		}
		return textNode(q.FieldVal, q.MatchPhrase), nil
	case *query.WildcardQuery:
		return wildcardNode(q.FieldVal, q.Wildcard)
	case *query.RegexpQuery:
		src := q.Regexp
		if t.isRegex {
			src = t.regex
		}
		return regexNode(q.FieldVal, src)
	case *query.DisjunctionQuery: // a number: its text or its value
		if len(q.Disjuncts) == 2 {
			m, ok1 := q.Disjuncts[0].(*query.MatchQuery)
			nr, ok2 := q.Disjuncts[1].(*query.NumericRangeQuery)
			if ok1 && ok2 && nr.Min != nil {
				if m.FieldVal == "" {
					return qsContains{value: m.Match}, nil
				}
				return numberField(m.FieldVal, m.Match, *nr.Min), nil
			}
		}
	case *query.NumericRangeQuery:
		return numericRangeField(q), nil
	case *query.DateRangeQuery:
		return dateRangeField(q), nil
	}
	return nil, fmt.Errorf("this kind of query (%T) is not supported", q)
}

// wildcardNode: in a line, * and ? stay within one whitespace-separated word;
// in a field, they match any characters of the whole value.
func wildcardNode(field, w string) (qsNode, error) {
	if field == "*" && w == "*" {
		return qsAll{}, nil
	}
	if field == "" {
		return regexNode("", wildcardRegexp(w, `\S`))
	}
	return regexNode(field, wildcardRegexp(w, "."))
}

func wildcardRegexp(w, any string) string {
	var b strings.Builder
	for _, r := range w {
		switch r {
		case '*':
			b.WriteString(any + "*")
		case '?':
			b.WriteString(any)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	return b.String()
}

// pushdown collects, from the clauses every match must satisfy, line filters
// and stream matchers the Searcher can use to narrow what it reads.
func (q *qsQuery) pushdown(n qsNode, occur qsOccur) {
	switch n := n.(type) {
	case *qsBool:
		if occur != qsMust {
			return
		}
		sole := n.soleShould()
		for _, c := range n.clauses {
			switch {
			case c.occur != qsShould:
				q.pushdown(c.node, c.occur)
			case sole:
				q.pushdown(c.node, qsMust)
			}
		}
	case qsContains:
		op := map[qsOccur]string{qsMust: "|=", qsMustNot: "!="}[occur]
		q.filters = append(q.filters, logql.LineFilter{Op: op, Value: n.value})
	case qsLineRegex:
		op := map[qsOccur]string{qsMust: "|~", qsMustNot: "!~"}[occur]
		q.filters = append(q.filters, logql.LineFilter{Op: op, Value: n.src})
	case qsField:
		// A stream label, when present, is the field's value: a stream whose
		// label says otherwise cannot match (or, for a prohibited clause,
		// cannot fail to match).
		switch {
		case occur == qsMust && n.eq != nil:
			q.matchers = append(q.matchers, labels.MustNewMatcher(labels.MatchRegexp, n.name, regexp.QuoteMeta(*n.eq)+"|"))
		case occur == qsMust && n.re != "":
			q.matchers = append(q.matchers, labels.MustNewMatcher(labels.MatchRegexp, n.name, "(?:"+n.re+")|"))
		case occur == qsMustNot && n.eq != nil:
			q.matchers = append(q.matchers, labels.MustNewMatcher(labels.MatchNotEqual, n.name, *n.eq))
		}
	}
}
