package logql

import (
	"errors"
	"strings"
	"testing"
)

// parseCases: a query and its canonical String() ("" means unchanged).
var parseCases = []struct {
	name, query, want string
}{
	{"selector eq", `{app="a"}`, ""},
	{"selector multi", `{app="a",env!="dev", host=~"h.*", zone!~"z1"}`, `{app="a", env!="dev", host=~"h.*", zone!~"z1"}`},
	{"selector backquote", "{app=`a\\b`}", `{app="a\\b"}`},
	{"selector escaped quote", `{app="a\"b"}`, ""},
	{"selector regex plus ok", `{app=~".+"}`, ""},
	{"selector utf8 value", `{app="日本"}`, ""},
	{"selector newline in query", "{app=\"a\"}\n|= \"x\"", `{app="a"} |= "x"`},
	{"comment", "{app=\"a\"} # trailing comment", `{app="a"}`},
	{"line contains", `{app="a"} |= "err"`, ""},
	{"line not contains", `{app="a"} != "debug"`, ""},
	{"line regex", `{app="a"} |~ "(?i)error"`, ""},
	{"line not regex", `{app="a"} !~ "health.*"`, ""},
	{"line chain", `{app="a"} |= "a" |= "b" != "c" |~ "d+"`, ""},
	{"line or", `{app="a"} |= "a" or "b"`, ""},
	{"line or three", `{app="a"} != "a" or "b" or "c"`, ""},
	{"line pattern filter", `{app="a"} |> "<_> error <_>"`, ""},
	{"line pattern negated", `{app="a"} !> "GET <_>"`, ""},
	{"json", `{app="a"} | json`, ""},
	{"json fields", `{app="a"} | json status="response.status", first="items[0]", m`, `{app="a"} | json status="response.status", first="items[0]", m="m"`},
	{"json bracket path", `{app="a"} | json x="[\"a b\"].c"`, ""},
	{"logfmt", `{app="a"} | logfmt`, ""},
	{"logfmt flags", `{app="a"} | logfmt --strict --keep-empty`, ""},
	{"logfmt fields", `{app="a"} | logfmt lvl="level", msg`, `{app="a"} | logfmt lvl="level", msg="msg"`},
	{"logfmt flags and fields", `{app="a"} | logfmt --strict dur="duration"`, ""},
	{"regexp", `{app="a"} | regexp "(?P<method>\\w+) (?P<path>\\S+)"`, ""},
	{"pattern", `{app="a"} | pattern "<ip> - - <_> \"<method> <uri> <_>\" <status> <size>"`, ""},
	{"unpack", `{app="a"} | unpack`, ""},
	{"label filter string", `{app="a"} | logfmt | level="error"`, ""},
	{"label filter ne", `{app="a"} | logfmt | level!="info"`, ""},
	{"label filter re", `{app="a"} | logfmt | level=~"err.*"`, ""},
	{"label filter nre", `{app="a"} | logfmt | level!~"debug|info"`, ""},
	{"label filter double eq string", `{app="a"} | logfmt | level=="error"`, `{app="a"} | logfmt | level="error"`},
	{"numeric gt", `{app="a"} | json | status > 399`, ""},
	{"numeric ops", `{app="a"} | json | a >= 1 | b < 2 | c <= 3 | d == 4 | e != 5`, ""},
	{"numeric eq single", `{app="a"} | json | status = 200`, `{app="a"} | json | status == 200`},
	{"numeric float", `{app="a"} | json | ratio > 0.5`, ""},
	{"duration filter", `{app="a"} | logfmt | duration > 10s`, ""},
	{"duration filter ms", `{app="a"} | logfmt | latency >= 250ms`, ""},
	{"duration compound", `{app="a"} | logfmt | latency < 1m30s`, ""},
	{"bytes filter", `{app="a"} | logfmt | size > 20MB`, ""},
	{"bytes filter kib", `{app="a"} | logfmt | size <= 1.5KiB`, ""},
	{"filter and", `{app="a"} | logfmt | a="1" and b="2"`, ""},
	{"filter comma", `{app="a"} | logfmt | a="1", b="2"`, `{app="a"} | logfmt | a="1" and b="2"`},
	{"filter space and", `{app="a"} | logfmt | a="1" b="2"`, `{app="a"} | logfmt | a="1" and b="2"`},
	{"filter or", `{app="a"} | logfmt | a="1" or b="2"`, ""},
	{"filter precedence", `{app="a"} | logfmt | a="1" or b="2" and c="3"`, ""},
	{"filter parens", `{app="a"} | logfmt | (a="1" or b="2") and c > 3`, ""},
	{"filter first parens", `{app="a"} | logfmt | (a="1")`, ""},
	{"error filter", `{app="a"} | json | __error__=""`, ""},
	{"error filter ne", `{app="a"} | json | __error__!="JSONParserErr"`, ""},
	{"line_format", `{app="a"} | logfmt | line_format "{{.level}}: {{.msg}}"`, ""},
	{"line_format funcs", `{app="a"} | line_format "{{ ToUpper .app | trunc 3 }} {{ __line__ }}"`, ""},
	{"label_format rename", `{app="a"} | logfmt | label_format lvl=level`, ""},
	{"label_format template", `{app="a"} | label_format x="{{.app}}-{{.host}}", y=app`, ""},
	{"drop", `{app="a"} | logfmt | drop level, msg`, ""},
	{"drop matcher", `{app="a"} | logfmt | drop level="debug", __error__`, ""},
	{"drop error", `{app="a"} | json | drop __error__, __error_details__`, ""},
	{"keep", `{app="a"} | logfmt | keep level, app`, ""},
	{"keep matcher", `{app="a"} | logfmt | keep level=~"err.*"`, ""},
	{"decolorize", `{app="a"} | decolorize`, ""},
	{"long pipeline", `{app="a"} |= "x" | json | decolorize | status >= 500 | line_format "{{.msg}}" |~ "boom" | drop a`, ""},
	{"count_over_time", `count_over_time({app="a"}[5m])`, ""},
	{"rate", `rate({app="a"} |= "err" [1m])`, ""},
	{"bytes_rate", `bytes_rate({app="a"}[30s])`, ""},
	{"bytes_over_time", `bytes_over_time({app="a"}[1h])`, ""},
	{"absent_over_time", `absent_over_time({app="a"}[10m])`, ""},
	{"range then pipeline", `count_over_time({app="a"}[5m] | json | x="y")`, `count_over_time({app="a"} | json | x="y" [5m])`},
	{"range offset", `count_over_time({app="a"}[5m] offset 1h)`, ""},
	{"range offset pipeline", `rate({app="a"} | json [5m] offset 30s)`, ""},
	{"range compound duration", `count_over_time({app="a"}[1h30m])`, ""},
	{"range days", `count_over_time({app="a"}[2d])`, ""},
	{"range seconds normalised", `count_over_time({app="a"}[120s])`, `count_over_time({app="a"}[2m])`},
	{"range ms", `count_over_time({app="a"}[1500ms])`, `count_over_time({app="a"}[1s500ms])`},
	{"parenthesised range", `count_over_time(({app="a"} | json)[5m])`, `count_over_time({app="a"} | json [5m])`},
	{"sum_over_time unwrap", `sum_over_time({app="a"} | logfmt | unwrap bytes [1m])`, ""},
	{"unwrap duration", `avg_over_time({app="a"} | logfmt | unwrap duration(latency) [5m])`, ""},
	{"unwrap duration_seconds", `max_over_time({app="a"} | logfmt | unwrap duration_seconds(latency) [5m])`, ""},
	{"unwrap bytes conv", `min_over_time({app="a"} | logfmt | unwrap bytes(size) [5m])`, ""},
	{"unwrap post filter", `sum_over_time({app="a"} | json | unwrap v | __error__="" [5m])`, ""},
	{"unwrap range first", `sum_over_time({app="a"}[5m] | json | unwrap v)`, `sum_over_time({app="a"} | json | unwrap v [5m])`},
	{"first last", `first_over_time({app="a"} | json | unwrap v [1m]) + last_over_time({app="a"} | json | unwrap v [1m])`, ""},
	{"stddev stdvar", `stddev_over_time({app="a"} | json | unwrap v [1m]) / stdvar_over_time({app="a"} | json | unwrap v [1m])`, ""},
	{"quantile", `quantile_over_time(0.99, {app="a"} | json | unwrap v [5m])`, ""},
	{"quantile by", `quantile_over_time(0.5, {app="a"} | json | unwrap v [5m]) by (host)`, ""},
	{"avg by without", `avg_over_time({app="a"} | json | unwrap v [5m]) without (pod)`, ""},
	{"rate unwrap", `rate({app="a"} | json | unwrap v [5m])`, ""},
	{"rate by", `rate({app="a"} | json | unwrap v [5m]) by (host)`, ""},
	{"sum", `sum(rate({app="a"}[1m]))`, ""},
	{"sum by before", `sum by (host) (rate({app="a"}[1m]))`, ""},
	{"sum by after", `sum(rate({app="a"}[1m])) by (host)`, `sum by (host) (rate({app="a"}[1m]))`},
	{"sum without", `sum without (pod, host) (rate({app="a"}[1m]))`, ""},
	{"sum by empty", `sum by () (rate({app="a"}[1m]))`, ""},
	{"avg min max count", `avg(count_over_time({app="a"}[1m])) + min(count_over_time({app="a"}[1m])) + max(count_over_time({app="a"}[1m])) + count(count_over_time({app="a"}[1m]))`, `((avg(count_over_time({app="a"}[1m])) + min(count_over_time({app="a"}[1m]))) + max(count_over_time({app="a"}[1m]))) + count(count_over_time({app="a"}[1m]))`},
	{"stddev stdvar agg", `stddev(count_over_time({app="a"}[1m])) - stdvar(count_over_time({app="a"}[1m]))`, ""},
	{"topk", `topk(5, count_over_time({app="a"}[1m]))`, ""},
	{"topk by", `topk by (host) (3, count_over_time({app="a"}[1m]))`, ""},
	{"bottomk after by", `bottomk(2, count_over_time({app="a"}[1m])) by (host)`, `bottomk by (host) (2, count_over_time({app="a"}[1m]))`},
	{"sort", `sort(count_over_time({app="a"}[1m]))`, ""},
	{"sort_desc", `sort_desc(sum by (host) (count_over_time({app="a"}[1m])))`, ""},
	{"logs volume", `sum by (level, detected_level) (count_over_time({app="a"} | drop __error__ [1m]))`, ""},
	{"health check", `vector(1)+vector(1)`, `vector(1) + vector(1)`},
	{"vector negative", `vector(-2.5)`, ""},
	{"literal", `42`, ""},
	{"literal float", `1.5`, ""},
	{"literal exp", `1e3`, `1000`},
	{"literal negative", `-3`, ""},
	{"literal arithmetic", `1 + 2 * 3`, `1 + (2 * 3)`},
	{"literal parens", `(1 + 2) * 3`, `(1 + 2) * 3`},
	{"pow right assoc", `2 ^ 3 ^ 2`, `2 ^ (3 ^ 2)`},
	{"minus left assoc", `10 - 2 - 3`, `(10 - 2) - 3`},
	{"scalar comparison bool", `1 > bool 2`, ""},
	{"binop vector scalar", `count_over_time({app="a"}[1m]) * 2`, ""},
	{"binop scalar vector", `100 / count_over_time({app="a"}[1m])`, ""},
	{"binop negative rhs", `count_over_time({app="a"}[1m]) - -1`, `count_over_time({app="a"}[1m]) - (-1)`},
	{"binop vectors", `sum(rate({app="a"} |= "err" [1m])) / sum(rate({app="a"}[1m]))`, ""},
	{"binop mod pow", `count_over_time({app="a"}[1m]) % 3 ^ 2`, `count_over_time({app="a"}[1m]) % (3 ^ 2)`},
	{"comparison filter", `count_over_time({app="a"}[1m]) > 10`, ""},
	{"comparison bool", `count_over_time({app="a"}[1m]) >= bool 10`, ""},
	{"comparisons all", `count_over_time({app="a"}[1m]) == 1 or count_over_time({app="a"}[1m]) != 2`, `(count_over_time({app="a"}[1m]) == 1) or (count_over_time({app="a"}[1m]) != 2)`},
	{"and", `count_over_time({app="a"}[1m]) and count_over_time({app="b"}[1m])`, ""},
	{"unless", `count_over_time({app="a"}[1m]) unless count_over_time({app="b"}[1m])`, ""},
	{"set precedence", `count_over_time({app="a"}[1m]) or count_over_time({app="b"}[1m]) and count_over_time({app="c"}[1m])`, `count_over_time({app="a"}[1m]) or (count_over_time({app="b"}[1m]) and count_over_time({app="c"}[1m]))`},
	{"on", `sum by (host) (count_over_time({app="a"}[1m])) / on (host) sum by (host) (count_over_time({app="b"}[1m]))`, ""},
	{"ignoring", `count_over_time({app="a"}[1m]) + ignoring (app) count_over_time({app="b"}[1m])`, ""},
	{"group_left", `count_over_time({app="a"}[1m]) * on (host) group_left (zone) count_over_time({app="b"}[1m])`, ""},
	{"group_right empty", `count_over_time({app="a"}[1m]) * on (host) group_right count_over_time({app="b"}[1m])`, `count_over_time({app="a"}[1m]) * on (host) group_right () count_over_time({app="b"}[1m])`},
	{"label_replace", `label_replace(count_over_time({app="a"}[1m]), "dst", "$1", "host", "(.*)-.*")`, ""},
	{"nested aggs", `sum(topk(3, sum by (host) (rate({app="a"}[1m]))))`, ""},
	{"paren metric", `(sum(rate({app="a"}[1m])))`, `sum(rate({app="a"}[1m]))`},
	{"whitespace everywhere", "sum  by(host)(\n  rate( {app=\"a\"}\t[1m] )\n)", `sum by (host) (rate({app="a"}[1m]))`},
	{"keyword label names", `sum by (by, on, offset) (count_over_time({and="x"}[1m]))`, ""},
}

func TestParseRoundTrip(t *testing.T) {
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseExpr(tc.query)
			if err != nil {
				t.Fatalf("ParseExpr(%q): %v", tc.query, err)
			}
			want := tc.want
			if want == "" {
				want = tc.query
			}
			got := e.String()
			if got != want {
				t.Fatalf("String():\n got  %s\n want %s", got, want)
			}
			e2, err := ParseExpr(got)
			if err != nil {
				t.Fatalf("reparse %q: %v", got, err)
			}
			if e2.String() != got {
				t.Fatalf("not stable: %q -> %q", got, e2.String())
			}
		})
	}
}

// errorCases: a bad query, the 1-based column of the error and a fragment
// of its message.
var errorCases = []struct {
	name, query string
	line, col   int
	msg         string
}{
	{"empty", ``, 1, 1, "empty query"},
	{"blank", `   `, 1, 4, "empty query"},
	{"line filter without string", `{app="x"} |= `, 1, 14, "expected string after |="},
	{"line filter number", `{app="x"} |= 5`, 1, 14, "expected string after |="},
	{"match everything", `{a=~".*"}`, 1, 1, "at least one regexp or equality matcher"},
	{"only negative matcher", `{a!="b"}`, 1, 1, "empty-compatible"},
	{"empty selector", `{}`, 1, 1, "at least one"},
	{"unclosed selector", `{app="a"`, 1, 9, "expected } or ,"},
	{"missing value", `{app=}`, 1, 6, "expected string"},
	{"bad op in selector", `{app>"a"}`, 1, 5, "expected =, !=, =~ or !~"},
	{"number label value", `{app=1}`, 1, 6, "expected string"},
	{"bad regexp selector", `{app=~"("}`, 1, 7, "invalid regexp"},
	{"bad regexp filter", `{app="a"} |~ "(["`, 1, 14, "invalid regexp"},
	{"unterminated string", `{app="a}`, 1, 6, "unterminated string"},
	{"bad character", `{app="a"} | json @`, 1, 18, "unexpected character"},
	{"unknown stage", `{app="a"} | jsonx`, 1, 13, "unexpected identifier \"jsonx\""},
	{"pipe at end", `{app="a"} |`, 1, 12, "expected parser"},
	{"regexp without groups", `{app="a"} | regexp "a+"`, 1, 20, "named capture"},
	{"pattern without captures", `{app="a"} | pattern "foo"`, 1, 21, "named capture"},
	{"pattern consecutive captures", `{app="a"} | pattern "<a><b>"`, 1, 21, "consecutive captures"},
	{"bad template", `{app="a"} | line_format "{{.a"`, 1, 25, "invalid line_format template"},
	{"bad label_format template", `{app="a"} | label_format a="{{"`, 1, 28, "invalid label_format template"},
	{"label_format twice", `{app="a"} | label_format a=b, a=c`, 1, 31, "more than once"},
	{"logfmt unknown flag", `{app="a"} | logfmt --fast`, 1, 20, "unknown logfmt flag"},
	{"label filter missing value", `{app="a"} | logfmt | a >`, 1, 25, "expected string, number"},
	{"label filter string gt", `{app="a"} | logfmt | a > "x"`, 1, 24, "cannot compare a label with a string"},
	{"bad duration unit", `{app="a"} | logfmt | a > 10parsecs`, 1, 26, "invalid duration or byte size"},
	{"unclosed label filter paren", `{app="a"} | logfmt | (a="b"`, 1, 28, "expected )"},
	{"range at top level", `{app="a"}[5m]`, 1, 10, "only allowed inside a range aggregation"},
	{"range agg without range", `count_over_time({app="a"})`, 1, 26, "needs a log range"},
	{"range agg bad duration", `count_over_time({app="a"}[5x])`, 1, 27, "invalid range"},
	{"range agg number range", `count_over_time({app="a"}[5])`, 1, 27, "expected duration"},
	{"range agg unclosed", `count_over_time({app="a"}[5m]`, 1, 30, "expected )"},
	{"unwrap on count", `count_over_time({app="a"} | logfmt | unwrap x [5m])`, 1, 17, "invalid aggregation count_over_time with unwrap"},
	{"sum_over_time without unwrap", `sum_over_time({app="a"}[5m])`, 1, 15, "without unwrap"},
	{"grouping on sum_over_time", `sum_over_time({app="a"} | logfmt | unwrap x [5m]) by (a)`, 1, 15, "grouping not allowed"},
	{"unwrap bad conversion", `sum_over_time({app="a"} | unwrap seconds(x) [5m])`, 1, 34, "unknown unwrap conversion"},
	{"stage after unwrap", `sum_over_time({app="a"} | unwrap x | json [5m])`, 1, 38, "only label filters may follow unwrap"},
	{"unwrap outside range", `{app="a"} | unwrap x`, 1, 13, "only allowed inside a range aggregation"},
	{"unknown function", `foo_over_time({app="a"}[5m])`, 1, 1, "unknown function"},
	{"vector agg over log query", `sum({app="a"})`, 1, 5, "needs a metric query"},
	{"vector agg over number", `sum(1)`, 1, 5, "not a number"},
	{"topk without k", `topk(count_over_time({app="a"}[1m]))`, 1, 6, "expected number"},
	{"topk fractional k", `topk(1.5, count_over_time({app="a"}[1m]))`, 1, 6, "positive integer"},
	{"grouping twice", `sum by (a) (count_over_time({app="a"}[1m])) by (b)`, 1, 45, "grouping given twice"},
	{"binop with log query", `{app="a"} + 1`, 1, 11, "needs metric queries on both sides"},
	{"set op with scalar", `count_over_time({app="a"}[1m]) and 1`, 1, 32, "set operator"},
	{"scalar comparison without bool", `1 > 2`, 1, 3, "must use the bool modifier"},
	{"bool on arithmetic", `1 + bool 2`, 1, 5, "bool modifier is only allowed"},
	{"trailing garbage", `count_over_time({app="a"}[1m]) foo`, 1, 32, "expected end of query"},
	{"unbalanced paren", `(1 + 2`, 1, 7, "expected )"},
	{"vector non-number", `vector(count_over_time({app="a"}[1m]))`, 1, 8, "expected number"},
	{"second line error", "sum(\n  count_over_time({app=\"a\"}[1m]) +\n)", 3, 1, "unexpected \")\""},
	{"error column counts characters", `{app="日本"} |= `, 1, 15, "expected string"},
	{"number out of range", `1e999`, 1, 1, "invalid number"},
	{"label_replace bad regexp", `label_replace(count_over_time({app="a"}[1m]), "d", "r", "s", "(")`, 1, 62, "invalid regexp"},
}

func TestParseErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExpr(tc.query)
			if err == nil {
				t.Fatalf("ParseExpr(%q): want error", tc.query)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, want *ParseError", err, err)
			}
			if pe.Line != tc.line || pe.Col != tc.col || !strings.Contains(pe.Msg, tc.msg) {
				t.Fatalf("got line %d col %d %q\nwant line %d col %d containing %q", pe.Line, pe.Col, pe.Msg, tc.line, tc.col, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "parse error at line ") {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}
