package search

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestLokiAnswersMatchBruteForce asks the Loki API 32 questions about the
// loghub lines and compares every answer with a scan of the same lines: the
// count (from count_over_time) and, where it fits one response, the lines. It
// asks before indexing (every partition scanned) and again once the indexer
// has caught up and more lines arrived after it (candidate blocks plus the
// unindexed head).
func TestLokiAnswersMatchBruteForce(t *testing.T) {
	s, all := fixture(t)
	srv := apiServerFor(t, s).URL
	t.Run("before-indexing", func(t *testing.T) { askBruteForceQuestions(t, srv, all) })
	ix := indexFully(t, s, 64)
	if ix.blocks(t) == 0 {
		t.Fatal("the indexer committed no blocks")
	}
	all = append(all, pushMore(t, s, "t1", 3000)...)
	t.Run("after-indexing", func(t *testing.T) { askBruteForceQuestions(t, srv, all) })
}

func askBruteForceQuestions(t *testing.T, srv string, all []pushed) {
	type bf = func(p pushed) bool
	has := func(sub string) bf { return func(p pushed) bool { return strings.Contains(p.line, sub) } }
	not := func(f bf) bf { return func(p pushed) bool { return !f(p) } }
	re := func(expr string) bf {
		r := regexp.MustCompile(expr)
		return func(p pushed) bool { return r.MatchString(p.line) }
	}
	app := func(a string) bf { return func(p pushed) bool { return p.labels.Get("app") == a } }
	and := func(fs ...bf) bf {
		return func(p pushed) bool {
			for _, f := range fs {
				if !f(p) {
					return false
				}
			}
			return true
		}
	}
	any := func(pushed) bool { return true }
	cases := []struct {
		query string
		want  bf
	}{
		{`{app=~".+"} |= "ERROR"`, has("ERROR")},
		{`{app=~".+"} |= "error"`, has("error")},
		{`{app=~".+"} |= "Error"`, has("Error")},
		{`{app=~".+"} |= "PacketResponder"`, has("PacketResponder")},
		{`{app=~".+"} |= "Packet"`, has("Packet")},
		{`{app=~".+"} |= "acketRespond"`, has("acketRespond")},
		{`{app=~".+"} |= "Received block"`, has("Received block")},
		{`{app=~".+"} |= "authentication failure;"`, has("authentication failure;")},
		{`{app=~".+"} |= "[client"`, has("[client")},
		{`{app=~".+"} |= "/var/log"`, has("/var/log")},
		{`{app=~".+"} |= "10.251."`, has("10.251.")},
		{`{app=~".+"} |= "blk_-"`, has("blk_-")},
		{`{app=~".+"} |= "0x"`, has("0x")},
		{`{app=~".+"} |= ":"`, has(":")},
		{`{app=~".+"} |= "=="`, has("==")},
		{`{app=~".+"} |= "state change"`, has("state change")},
		{`{app=~".+"} != "INFO"`, not(has("INFO"))},
		{`{app=~".+"} |= "INFO" != "dfs"`, and(has("INFO"), not(has("dfs")))},
		{`{app=~".+"} |~ "(?i)exception"`, re(`(?i)exception`)},
		{`{app=~".+"} |~ "\\d{3}\\.\\d+\\.\\d+\\.\\d+"`, re(`\d{3}\.\d+\.\d+\.\d+`)},
		{`{app=~".+"} |~ "^[0-9]{6} "`, re(`^[0-9]{6} `)},
		{`{app=~".+"} !~ "[a-z]"`, not(re(`[a-z]`))},
		{`{app="HDFS"}`, app("HDFS")},
		{`{app="HDFS", host="h1"}`, func(p pushed) bool { return p.labels.Get("app") == "HDFS" && p.labels.Get("host") == "h1" }},
		{`{app!="HDFS", app=~"H.*"}`, func(p pushed) bool { a := p.labels.Get("app"); return a != "HDFS" && strings.HasPrefix(a, "H") }},
		{`{app=~"Linux|OpenSSH"} |= "sshd"`, and(func(p pushed) bool { a := p.labels.Get("app"); return a == "Linux" || a == "OpenSSH" }, has("sshd"))},
		{`{app="Apache"} |= "notice"`, and(app("Apache"), has("notice"))},
		{`{app="Zookeeper"} |= "WARN"`, and(app("Zookeeper"), has("WARN"))},
		{`{app="Spark"} |= "Executor"`, and(app("Spark"), has("Executor"))},
		{`{app="OpenStack"} |= "status: 200"`, and(app("OpenStack"), has("status: 200"))},
		{`{app="Proxifier"} |= "HTTPS"`, and(app("Proxifier"), has("HTTPS"))},
		{`{app=~".+"}`, any},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%02d", i), func(t *testing.T) {
			var want []pushed
			for _, p := range all {
				if matchesSelector(t, tc.query, p) && tc.want(p) {
					want = append(want, p)
				}
			}
			if got := countVia(t, srv, tc.query); got != len(want) {
				t.Fatalf("%s: count %d, brute force %d", tc.query, got, len(want))
			}
			if len(want) == 0 || len(want) > 5000 {
				return
			}
			lines := linesVia(t, srv, tc.query, len(want))
			sort.Strings(lines)
			wantLines := make([]string, len(want))
			for i, p := range want {
				wantLines[i] = p.line
			}
			sort.Strings(wantLines)
			if strings.Join(lines, "\n") != strings.Join(wantLines, "\n") {
				t.Fatalf("%s: lines differ from brute force (%d vs %d)", tc.query, len(lines), len(wantLines))
			}
		})
	}
}

// matchesSelector applies the query's stream selector to a pushed line.
func matchesSelector(t *testing.T, q string, p pushed) bool {
	sel := q[:strings.Index(q, "}")+1]
	ms, err := selector(sel)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if !m.Matches(p.labels.Get(m.Name)) {
			return false
		}
	}
	return true
}

func countVia(t *testing.T, srv, q string) int {
	form := url.Values{"query": {"sum(count_over_time(" + q + " [2h]))"}}
	code, lr, body := getQuery(t, srv, "/loki/api/v1/query", form)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var res []struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal(lr.Data.Result, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(res[0].Value[1].(string))
	return n
}

func linesVia(t *testing.T, srv, q string, limit int) []string {
	form := url.Values{"query": {q}, "since": {"2h"}, "limit": {strconv.Itoa(limit)}}
	code, lr, body := getQuery(t, srv, "/loki/api/v1/query_range", form)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var streams []struct {
		Values [][]string `json:"values"`
	}
	if err := json.Unmarshal(lr.Data.Result, &streams); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range streams {
		for _, v := range s.Values {
			out = append(out, v[1])
		}
	}
	return out
}
