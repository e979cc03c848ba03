package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/logql"
)

// fakeLogs is a LogQL storage of fixed entries, all of one stream.
type fakeLogs struct{ entries []logql.Entry }

func (f fakeLogs) SelectLogs(_ context.Context, p logql.SelectParams) (logql.EntryIterator, error) {
	var out []logql.Entry
	for _, e := range f.entries {
		ok := e.Timestamp >= p.Start && e.Timestamp < p.End
		for _, m := range p.Matchers {
			ok = ok && m.Matches(e.Labels.Get(m.Name))
		}
		if ok {
			out = append(out, e)
		}
	}
	return &sliceIter{entries: out, i: -1}, nil
}

type sliceIter struct {
	entries []logql.Entry
	i       int
}

func (it *sliceIter) Next() bool      { it.i++; return it.i < len(it.entries) }
func (it *sliceIter) At() logql.Entry { return it.entries[it.i] }
func (it *sliceIter) Err() error      { return nil }
func (it *sliceIter) Close() error    { return nil }

const testRules = `
groups:
  - name: requests
    interval: 1m
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
        labels: {team: infra}
  - name: log-errors
    lang: logql
    rules:
      - record: app:log_errors:count1m
        expr: sum by (app) (count_over_time({app="shop"} |= "error" [1m]))
`

func TestRecordingRules(t *testing.T) {
	e := newEnv(t)
	goldenFixture(e)
	dir := t.TempDir()
	e.cfg.RulesDir = dir
	if err := os.WriteFile(filepath.Join(dir, testTenant+".yaml"), []byte(testRules), 0o644); err != nil {
		t.Fatal(err)
	}
	m := e.start()
	at := goldenBase.Add(10 * time.Minute)
	shop := labels.FromStrings("app", "shop")
	logs := fakeLogs{entries: []logql.Entry{
		{Timestamp: at.Add(-50 * time.Second).UnixNano(), Line: "error: payment declined", Labels: shop},
		{Timestamp: at.Add(-40 * time.Second).UnixNano(), Line: "ok", Labels: shop},
		{Timestamp: at.Add(-30 * time.Second).UnixNano(), Line: "error: timeout", Labels: shop},
	}}
	rules := NewRules(e.cfg, testEngine, m, func(string) logql.Querier { return logs }, e.d.Push, slog.New(slog.DiscardHandler))
	rules.Reload(context.Background())
	t.Cleanup(func() { _ = rules.stopping(nil) })
	groups := rules.Groups(testTenant)
	if len(groups) != 2 {
		t.Fatalf("%d groups loaded, want 2", len(groups))
	}
	rangeJSON(t, m, "up", at, at, time.Second) // caught up
	for _, g := range groups {
		rules.EvalGroup(context.Background(), g, at)
	}
	if got, want := rangeJSON(t, m, `job:http_requests:rate5m`, at, at, time.Second),
		`[{"metric":{"__name__":"job:http_requests:rate5m","job":"api","team":"infra"},"values":[[1714558200,"0.7333333333333334"]]},`+
			`{"metric":{"__name__":"job:http_requests:rate5m","job":"web","team":"infra"},"values":[[1714558200,"0.2"]]}]`; got != want {
		t.Errorf("PromQL rule result:\n got %s\nwant %s", got, want)
	}
	if got, want := rangeJSON(t, m, `app:log_errors:count1m`, at, at, time.Second),
		`[{"metric":{"__name__":"app:log_errors:count1m","app":"shop"},"values":[[1714558200,"2"]]}]`; got != want {
		t.Errorf("LogQL rule result:\n got %s\nwant %s", got, want)
	}

	srv := newAPIServer(t, e, m, rules)
	resp, err := http.Get(srv.URL + Prefix + "/api/v1/rules")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`"name":"requests"`, `"name":"job:http_requests:rate5m"`, `"health":"ok"`, `"type":"recording"`, `"interval":60`, `"name":"log-errors"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/rules lacks %s: %s", want, body)
		}
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"unknown key", "groups:\n  - name: a\n    rulez: []\n", "field rulez not found"},
		{"alerting rule", "groups:\n  - name: a\n    rules:\n      - alert: Down\n        expr: up == 0\n", "alerting rules are not supported"},
		{"missing record", "groups:\n  - name: a\n    rules:\n      - expr: up\n", "record is missing"},
		{"bad record name", "groups:\n  - name: a\n    rules:\n      - record: 'a b'\n        expr: up\n", "not a valid metric name"},
		{"bad promql", "groups:\n  - name: a\n    rules:\n      - record: x\n        expr: sum(\n", "expr:"},
		{"log query as logql rule", "groups:\n  - name: a\n    lang: logql\n    rules:\n      - record: x\n        expr: '{app=\"a\"}'\n", "expected a metric query"},
		{"bad lang", "groups:\n  - name: a\n    lang: sql\n    rules:\n      - record: x\n        expr: up\n", "want promql or logql"},
		{"duplicate group", "groups:\n  - name: a\n    rules: [{record: x, expr: up}]\n  - name: a\n    rules: [{record: y, expr: up}]\n", "name used twice"},
		{"bad interval", "groups:\n  - name: a\n    interval: soon\n    rules: [{record: x, expr: up}]\n", "not a positive duration"},
		{"no rules", "groups:\n  - name: a\n", "no rules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRules([]byte(tc.file), time.Minute)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte(testRules))
	f.Add([]byte("groups: [{name: a, rules: [{record: x, expr: 'up'}]}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := parseRules(data, time.Minute)
		if err != nil {
			return
		}
		for _, g := range groups {
			if g.Name == "" || g.Interval <= 0 || len(g.Rules) == 0 {
				t.Fatalf("accepted group %+v", g)
			}
			for _, r := range g.Rules {
				if r.prom == nil && r.logs == nil {
					t.Fatalf("rule %s without a parsed expression", r.Record)
				}
			}
		}
	})
}
