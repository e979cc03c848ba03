package search

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/ingest"
)

func TestPatternMiner(t *testing.T) {
	long := strings.TrimSpace(strings.Repeat("w ", 70))
	cases := []struct {
		name  string
		lines []string
		want  []string // "pattern=count", most frequent first
	}{
		{"identical lines", []string{"ready", "ready", "ready"}, []string{"ready=3"}},
		{"varying word", []string{"user alice logged in", "user bob logged in", "user carol logged in"},
			[]string{"user <_> logged in=3"}},
		{"tokens with digits are variables", []string{"GET /api/v1/users 200 12ms", "GET /api/v1/orders 500 3ms"},
			[]string{"GET <_> <_> <_>=2"}},
		{"lengths never mix", []string{"a b", "a b c", "a b"}, []string{"a b=2", "a b c=1"}},
		{"dissimilar lines", []string{"disk full on sda", "connection reset by peer"},
			[]string{"connection reset by peer=1", "disk full on sda=1"}},
		{"half equal joins", []string{"a b c d", "a b x y"}, []string{"a b <_> <_>=2"}},
		{"less than half does not", []string{"a b c d", "a x y z"}, []string{"a b c d=1", "a x y z=1"}},
		{"best cluster wins", []string{"open file a.txt now", "close socket fast please", "close socket slow please"},
			[]string{"close socket <_> please=2", "open file a.txt now=1"}},
		{"double spaces kept", []string{"a  b", "a  c"}, []string{"a  <_>=2"}},
		{"long line tail", []string{long, long}, []string{strings.Repeat("w ", 63) + "<_>=2"}},
		{"empty line", []string{"", ""}, []string{"=2"}},
		{"numbers only", []string{"1 2", "3 4", "a b"}, []string{"<_> <_>=2", "a b=1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newPatternMiner(int64(time.Minute))
			for i, l := range tc.lines {
				m.add(int64(i), l)
			}
			var got []string
			for _, s := range m.series() {
				n := int64(0)
				for _, smp := range s.Samples {
					n += smp[1]
				}
				got = append(got, fmt.Sprintf("%s=%d", s.Pattern, n))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestPatternMinerMergesEqualTemplates checks that two clusters that ended
// with the same template are answered as one pattern.
func TestPatternMinerMergesEqualTemplates(t *testing.T) {
	m := newPatternMiner(int64(time.Second))
	m.byLength[2] = []*patternCluster{
		{tokens: []string{"a", "<_>"}, counts: map[int64]int64{1: 2}, total: 2},
		{tokens: []string{"a", "<_>"}, counts: map[int64]int64{1: 1, 2: 4}, total: 5},
	}
	m.n = 2
	got, _ := json.Marshal(m.series())
	if want := `[{"pattern":"a \u003c_\u003e","samples":[[1,3],[2,4]]}]`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

// TestLokiPatternsAPI checks /loki/api/v1/patterns: the query's lines grouped
// into patterns, counted per step-wide bucket.
func TestLokiPatternsAPI(t *testing.T) {
	s, d := emptySearcher(t, 1)
	const base = int64(1_700_000_040) * 1e9 // a whole minute
	sec := int64(time.Second)
	lines := []struct {
		at   int64
		line string
	}{
		{0, "GET /users 200 12ms"}, {10 * sec, "GET /orders 500 3ms"}, {70 * sec, "GET /users 200 7ms"},
		{20 * sec, "user alice logged in"}, {80 * sec, "user bob logged in"}, {130 * sec, "user carol logged in"},
		{30 * sec, "cache warm"},
	}
	var entries []ingest.Entry
	for _, l := range lines {
		entries = append(entries, ingest.Entry{Timestamp: base + l.at, Line: l.line})
	}
	req := &ingest.PushRequest{Tenant: "t1", Streams: []ingest.Stream{
		{Labels: ingest.Labels{{Name: "app", Value: "web"}}, Entries: entries},
		{Labels: ingest.Labels{{Name: "app", Value: "other"}}, Entries: []ingest.Entry{{Timestamp: base, Line: "not web"}}},
	}}
	if err := d.Push(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	srv := serveAPI(t, s)
	form := func(kv ...string) url.Values {
		v := url.Values{"query": {`{app="web"}`}, "start": {fmt.Sprint(base)}, "end": {fmt.Sprint(base + 10*int64(time.Minute))}, "step": {"60s"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	m := base / 1e9
	cases := []struct {
		name   string
		form   url.Values
		status int
		want   string // data as JSON, or an error substring
	}{
		{"patterns", form(), 200, fmt.Sprintf(`[{"pattern":"GET \u003c_\u003e \u003c_\u003e \u003c_\u003e","samples":[[%[1]d,2],[%[2]d,1]]},`+
			`{"pattern":"user \u003c_\u003e logged in","samples":[[%[1]d,1],[%[2]d,1],[%[3]d,1]]},`+
			`{"pattern":"cache warm","samples":[[%[1]d,1]]}]`, m, m+60, m+120)},
		{"pipeline narrows", form("query", `{app="web"} |= "logged"`, "step", "3600"), 200,
			fmt.Sprintf(`[{"pattern":"user \u003c_\u003e logged in","samples":[[%d,3]]}]`, m-m%3600)},
		{"nothing in range", form("start", "1000", "end", "2000"), 200, `[]`},
		{"no query", form("query", ""), 400, "query is empty"},
		{"metric query", form("query", `count_over_time({app="web"}[1m])`), 400, "query:"},
		{"bad step", form("step", "-1"), 400, "step"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var env struct {
				Status string          `json:"status"`
				Data   json.RawMessage `json:"data"`
			}
			status, body := getJSON(t, srv, "/loki/api/v1/patterns", tc.form, &env)
			if status != tc.status {
				t.Fatalf("%d %s, want %d", status, body, tc.status)
			}
			if status != 200 {
				if !strings.Contains(body, tc.want) {
					t.Fatalf("error %q, want it to contain %q", body, tc.want)
				}
				return
			}
			if env.Status != "success" || string(env.Data) != tc.want {
				t.Fatalf("got %s\nwant data %s", body, tc.want)
			}
		})
	}
}
