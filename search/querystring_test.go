package search

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments"
)

// TestQueryStringTranslation pins how query strings become a predicate
// (printed canonically) and what of it is pushed down to the Searcher.
func TestQueryStringTranslation(t *testing.T) {
	cases := []struct {
		query    string
		tree     string // or the error, when err is set
		matchers string
		filters  string
		err      bool
	}{
		// Terms.
		{query: `error`, tree: `|= "error"`, filters: `[{|= error}]`},
		{query: `"connection refused"`, tree: `|= "connection refused"`, filters: `[{|= connection refused}]`},
		{query: `Error`, tree: `|= "Error"`, filters: `[{|= Error}]`}, // case kept: case-sensitive
		{query: `404`, tree: `|= "404"`, filters: `[{|= 404}]`},
		{query: `level:error`, tree: `level="error"`, matchers: `[level=~"error|"]`},
		{query: `msg:"disk full"`, tree: `msg="disk full"`, matchers: `[msg=~"disk full|"]`},
		{query: `"log.level":warn`, tree: `log.level="warn"`, matchers: `["log.level"=~"warn|"]`},
		{query: `app:api.v2`, tree: `app="api.v2"`, matchers: `[app=~"api\\.v2|"]`},
		{query: `status:200`, tree: `status==200`},
		{query: `delta:-1.5`, tree: `delta==-1.5`},
		{query: `ms:>100`, tree: `ms>100`},
		{query: `ms:<=2.5`, tree: `ms<=2.5`},
		{query: `ts:>="2024-05-01T12:00:00Z"`, tree: `ts>=2024-05-01T12:00:00Z`},
		{query: `ts:<"2024-05-02"`, tree: `ts<2024-05-02T00:00:00Z`},
		{query: `path:/v1/*`, tree: `path=~"/v1/.*"`, matchers: `[path=~"(?:/v1/.*)|"]`},
		{query: `host:web-?`, tree: `host=~"web-."`, matchers: `[host=~"(?:web-.)|"]`},
		{query: `time*ut`, tree: `|~ "time\\S*ut"`, filters: `[{|~ time\S*ut}]`},
		{query: `/time(out|d out)/`, tree: `|~ "time(out|d out)"`, filters: `[{|~ time(out|d out)}]`},
		{query: `code:/5\d\d/`, tree: `code=~"5\\d\\d"`, matchers: `[code=~"(?:5\\d\\d)|"]`},
		{query: `url:/a\/b/`, tree: `url=~"a/b"`, matchers: `[url=~"(?:a/b)|"]`},
		{query: `*:*`, tree: `*:*`},
		{query: `_exists_:trace_id`, tree: `_exists_:trace_id`},
		{query: `error^2`, tree: `|= "error"`, filters: `[{|= error}]`}, // boosts do not matter
		// Boolean structure, as Lucene's classic parser.
		{query: `a b`, tree: `(|= "a" |= "b")`},
		{query: `a AND b`, tree: `(+|= "a" +|= "b")`, filters: `[{|= a} {|= b}]`},
		{query: `a && b`, tree: `(+|= "a" +|= "b")`, filters: `[{|= a} {|= b}]`},
		{query: `+a +level:error -debug`, tree: `(+|= "a" +level="error" -|= "debug")`,
			matchers: `[level=~"error|"]`, filters: `[{|= a} {!= debug}]`},
		{query: `a OR b`, tree: `(|= "a" |= "b")`},
		{query: `a || b`, tree: `(|= "a" |= "b")`},
		{query: `a AND b OR c`, tree: `(+|= "a" +|= "b" |= "c")`, filters: `[{|= a} {|= b}]`},
		{query: `a NOT b`, tree: `(|= "a" -|= "b")`, filters: `[{|= a} {!= b}]`},
		{query: `a AND NOT b`, tree: `(+|= "a" -|= "b")`, filters: `[{|= a} {!= b}]`},
		{query: `!b`, tree: `(-|= "b")`, filters: `[{!= b}]`},
		{query: `-level:debug`, tree: `(-level="debug")`, matchers: `[level!="debug"]`},
		{query: `-/x+/`, tree: `(-|~ "x+")`, filters: `[{!~ x+}]`},
		{query: `(a OR b) AND c`, tree: `(+(|= "a" |= "b") +|= "c")`, filters: `[{|= c}]`},
		{query: `((a))`, tree: `|= "a"`, filters: `[{|= a}]`},
		{query: `level:error AND (timeout OR "connection refused") -app:db`,
			tree:     `(+level="error" +(|= "timeout" |= "connection refused") -app="db")`,
			matchers: `[level=~"error|" app!="db"]`},
		{query: `(a -b) c`, tree: `((|= "a" -|= "b") |= "c")`},
		{query: `+(a -b)`, tree: `(|= "a" -|= "b")`, filters: `[{|= a} {!= b}]`},
		{query: `-(a b)`, tree: `(-(|= "a" |= "b"))`},
		{query: `func\(x\)`, tree: `|= "func(x)"`, filters: `[{|= func(x)}]`},
		{query: `"a (b) c"`, tree: `|= "a (b) c"`, filters: `[{|= a (b) c}]`},
		// Errors name the column.
		{query: `a AND`, tree: "col 6: expected a term at the end of the query", err: true},
		{query: `AND a`, tree: "col 1: AND has no term before it", err: true},
		{query: `(a OR b`, tree: "col 1: ( is never closed", err: true},
		{query: `a)`, tree: "col 2: unexpected ) without a matching (", err: true},
		{query: `level:(a b)`, tree: "col 7: grouping a field's values as field:(a b) is not supported", err: true},
		{query: `f(x)`, tree: "col 2: unexpected ( inside a term", err: true},
		{query: `say "hi`, tree: "col 5: unterminated quoted phrase", err: true},
		{query: `erorr~`, tree: "col 1: erorr~: fuzzy matching (~) is not supported", err: true},
		{query: `/a(/`, tree: "col 1: /r/: invalid regular expression", err: true},
		{query: `x:>abc`, tree: "col 1: x:>abc: syntax error", err: true},
		{query: `NOT NOT a`, tree: "col 5: expected a term or ( but found NOT", err: true},
		{query: strings.Repeat("(", 65) + "a" + strings.Repeat(")", 65), tree: "col 65: parentheses nest deeper than 64", err: true},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			q, err := parseQueryString(tc.query)
			if tc.err {
				if err == nil || !strings.HasPrefix(err.Error(), tc.tree) {
					t.Fatalf("error %v, want one starting with %q", err, tc.tree)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ms, fs := "[]", "[]"
			if tc.matchers != "" {
				ms = tc.matchers
			}
			if tc.filters != "" {
				fs = tc.filters
			}
			if got := q.root.String(); got != tc.tree {
				t.Errorf("tree %s, want %s", got, tc.tree)
			}
			if got := fmt.Sprint(q.matchers); got != ms {
				t.Errorf("matchers %s, want %s", got, ms)
			}
			if got := fmt.Sprint(q.filters); got != fs {
				t.Errorf("line filters %s, want %s", got, fs)
			}
		})
	}
}

// qsEntries are the entries the match tests look at.
var qsEntries = []logql.Entry{
	{Line: `level=error msg="disk full" ms=250`, Labels: labels.FromStrings("app", "api")},
	{Line: `level=info msg=ok ms=12`, Labels: labels.FromStrings("app", "api"), Metadata: labels.FromStrings("trace_id", "t1")},
	{Line: `{"level":"warn","msg":"slow query","ms":1200,"at":"2024-05-01T12:00:00Z"}`, Labels: labels.FromStrings("app", "db")},
	{Line: `GET /v1/items 503 timeout`, Labels: labels.FromStrings("app", "web", "level", "error")},
	{Line: `level=debug msg="connection refused" ms=3`, Labels: labels.FromStrings("app", "web")},
}

// TestQueryStringMatch checks which entries each query matches.
func TestQueryStringMatch(t *testing.T) {
	cases := []struct {
		query string
		want  []int // indexes into qsEntries
	}{
		{`level:error`, []int{0, 3}},               // logfmt field and stream label
		{`app:web level:info`, []int{1, 3, 4}},     // OR of the two
		{`+app:web -level:error`, []int{4}},        // the stream label wins over nothing
		{`level:warn`, []int{2}},                   // JSON field
		{`ms:>=250`, []int{0, 2}},                  // numbers, logfmt and JSON
		{`ms:250`, []int{0}},                       // number equality
		{`trace_id:t1`, []int{1}},                  // structured metadata
		{`_exists_:trace_id`, []int{1}},            // presence
		{`"connection refused"`, []int{4}},         // phrase in the line
		{`refused OR timeout`, []int{3, 4}},        // words in the line
		{`-level:debug -level:error`, []int{1, 2}}, // pure negative
		{`msg:/slow.*/`, []int{2}},                 // a field regex is anchored
		{`msg:/slo/`, nil},                         // ... so a part does not match
		{`/sl.w/`, []int{2}},                       // a line regex is not
		{`path:/v1/*`, nil},                        // no such field
		{`/v1/*`, []int{3}},                        // a wildcard within one word of the line
		{`at:>"2024-05-01"`, []int{2}},             // a date range
		{`at:<"2024-05-01"`, nil},
		{`Level:error`, nil}, // field names are case-sensitive
		{`ERROR`, nil},       // and so are words
		{`*:*`, []int{0, 1, 2, 3, 4}},
		{`level:error AND (timeout OR disk)`, []int{0, 3}},
		{`level:error AND timeout OR disk`, []int{3}}, // +level +timeout disk: disk is optional
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			q, err := parseQueryString(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for i := range qsEntries {
				if q.match(&qsEntries[i]) {
					got = append(got, i)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("matches %v, want %v (tree %s)", got, tc.want, q.root)
			}
		})
	}
}

// TestQueryStringSearchAPI runs query strings through /api/v1/search (all
// pages), /hits and /facets and checks them against evaluating the query on
// every entry: the pushdown never loses a match.
func TestQueryStringSearchAPI(t *testing.T) {
	s, d := emptySearcher(t, 2)
	base := time.Now().Add(-time.Hour).Truncate(time.Minute).UnixNano()
	var all []logql.Entry
	req := &ingest.PushRequest{Tenant: "t1"}
	for k, app := range []string{"api", "db", "web"} {
		st := ingest.Stream{Labels: ingest.Labels{{Name: "app", Value: app}}}
		for i := 0; i < 60; i++ {
			level := []string{"info", "error", "warn", "debug"}[(i+k)%4]
			line := fmt.Sprintf("level=%s msg=%q ms=%d", level, []string{"ok", "disk full", "connection refused", "timeout"}[(i*7+k)%4], i*10)
			ts := base + int64(i*3+k)*int64(time.Second)
			md := []segments.Header{{Key: "trace_id", Value: []byte(fmt.Sprintf("t%d", i%5))}}
			st.Entries = append(st.Entries, ingest.Entry{Timestamp: ts, Line: line, Metadata: md})
			all = append(all, logql.Entry{Timestamp: ts, Line: line, Labels: labels.FromStrings("app", app), Metadata: labels.FromStrings("trace_id", string(md[0].Value))})
		}
		req.Streams = append(req.Streams, st)
	}
	if err := d.Push(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	srv := serveAPI(t, s)
	form := func(q string, kv ...string) url.Values {
		v := url.Values{"syntax": {"querystring"}, "query": {q}, "start": {fmt.Sprint(base)}, "end": {fmt.Sprint(base + int64(time.Hour))}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, query := range []string{
		`level:error`, `+app:db -level:debug`, `"disk full" OR timeout`, `ms:>=300 AND app:web`,
		`-app:api -app:db`, `trace_id:t3 AND (refused OR app:api)`, `app:/d./ level:warn`, `*:*`,
	} {
		t.Run(query, func(t *testing.T) {
			q, err := parseQueryString(query)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range all {
				if q.match(&all[i]) {
					want = append(want, fmt.Sprint(all[i].Timestamp, " ", all[i].Line))
				}
			}
			if len(want) == 0 || len(want) == len(all) && query != "*:*" {
				t.Fatalf("%q matches %d of %d entries: pick a query that tells something", query, len(want), len(all))
			}
			sort.Sort(sort.Reverse(sort.StringSlice(want))) // newest first; timestamps are distinct and as long
			var got []string
			f := form(query, "limit", "7")
			for page := 0; ; page++ {
				var p searchPage
				if status, body := getJSON(t, srv, "/api/v1/search", f, &p); status != 200 {
					t.Fatalf("page %d: %d %s", page, status, body)
				}
				for _, e := range p.Entries {
					got = append(got, e.Timestamp+" "+e.Line)
				}
				if p.NextCursor == "" {
					break
				}
				f.Set("cursor", p.NextCursor)
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("search returned %d entries, a scan finds %d:\ngot  %q\nwant %q", len(got), len(want), got, want)
			}
			var hits struct {
				Total int `json:"total"`
			}
			if status, body := getJSON(t, srv, "/api/v1/hits", form(query), &hits); status != 200 || hits.Total != len(want) {
				t.Fatalf("hits: %d %s, want total %d", status, body, len(want))
			}
			var facets struct {
				Facets []facet `json:"facets"`
			}
			if status, body := getJSON(t, srv, "/api/v1/facets", form(query), &facets); status != 200 {
				t.Fatalf("facets: %d %s", status, body)
			}
			n := int64(0)
			for _, f := range facets.Facets {
				if f.Field == "app" {
					for _, v := range f.Values {
						n += v.Hits
					}
				}
			}
			if n != int64(len(want)) {
				t.Fatalf("facets count %d entries by app, want %d", n, len(want))
			}
		})
	}
}

func TestQueryStringSearchAPIErrors(t *testing.T) {
	srv, base := nativeFixture(t)
	rng := func(kv ...string) url.Values {
		v := url.Values{"start": {fmt.Sprint(base)}, "end": {fmt.Sprint(base + int64(time.Hour))}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cases := []struct {
		name, path string
		form       url.Values
		status     int
		want       string
	}{
		{"level", "/api/v1/search", rng("syntax", "querystring", "query", "level:error"), 200, `"line":"level=error msg=again"`},
		{"mode alias", "/api/v1/search", rng("mode", "querystring", "query", "+level:error -app:db", "limit", "5"), 200, `"line":"level=error msg=boom"`},
		{"logql stays the default", "/api/v1/search", rng("query", `{app="api"} |= "boom"`), 200, `"line":"level=error msg=boom"`},
		{"hits", "/api/v1/hits", rng("syntax", "querystring", "query", "trace:a", "step", "1h"), 200, `"total":2`},
		{"facets", "/api/v1/facets", rng("syntax", "querystring", "query", "app:db"), 200,
			`{"facets":[{"field":"app","kind":"label","values":[{"value":"db","hits":1}]}]}`},
		{"parse error", "/api/v1/search", rng("syntax", "querystring", "query", "level:error AND"), 400,
			`query: parse error at col 16: expected a term at the end of the query`},
		{"empty", "/api/v1/hits", rng("syntax", "querystring", "query", " "), 400, "query is empty"},
		{"unknown syntax", "/api/v1/facets", rng("syntax", "lucene", "query", "a"), 400, `syntax must be logql or querystring, got \"lucene\"`},
		{"syntax and mode disagree", "/api/v1/search", rng("syntax", "logql", "mode", "querystring", "query", "a"), 400, "disagree"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := getJSON(t, srv, tc.path, tc.form, nil)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s\nwant %d with %s", status, body, tc.status, tc.want)
			}
		})
	}
}
