package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/dashboards"
	"github.com/siltlog/silt/metrics"
)

// metricFamilies returns the metric families in silt's /metrics output.
func metricFamilies(t *testing.T, ts *testServer) map[string]bool {
	t.Helper()
	code, body := ts.do(t, http.MethodGet, "/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		out[name] = true
		out[dashboards.BaseName(name)] = true
	}
	return out
}

// shortIngestRun exercises what the dashboards show: Loki pushes (accepted
// and refused), log and metric queries.
func shortIngestRun(t *testing.T, ts *testServer) {
	t.Helper()
	now := time.Now()
	for i := 0; i < 20; i++ {
		level := []string{"info", "error", "warn"}[i%3]
		body := fmt.Sprintf(`{"streams":[{"stream":{"service_name":"shop","level":%q},"values":[["%d","request %d failed: error"]]}]}`,
			level, now.Add(time.Duration(i)*time.Millisecond).UnixNano(), i)
		if code, resp := ts.do(t, http.MethodPost, "/loki/api/v1/push", "application/json", body); code != http.StatusNoContent {
			t.Fatalf("push: %d %s", code, resp)
		}
	}
	for _, bad := range []string{
		`{"streams":[{"stream":{}}`, // undecodable
		fmt.Sprintf(`{"streams":[{"stream":{"bad-name":"x"},"values":[["%d","x"]]}]}`, now.UnixNano()), // refused lines
	} {
		if code, _ := ts.do(t, http.MethodPost, "/loki/api/v1/push", "application/json", bad); code != http.StatusBadRequest {
			t.Fatalf("bad push %s: %d, want 400", bad, code)
		}
	}
	q := url.Values{"query": {`{service_name="shop"}`}, "limit": {"10"}}
	if code, resp := ts.do(t, http.MethodGet, "/loki/api/v1/query_range?"+q.Encode(), "", ""); code != http.StatusOK {
		t.Fatalf("loki query: %d %s", code, resp)
	}
}

// TestDashboardsAgainstSilt: with a real Prometheus scraping silt and
// remote-writing silt's own metrics to it, every metric a dashboard selects
// exists in silt's /metrics and in silt's TSDB, and every dashboard query
// runs through silt's own Prometheus and Loki APIs.
func TestDashboardsAgainstSilt(t *testing.T) {
	p := startPromPipeline(t)
	shortIngestRun(t, p.silt)
	p.waitForScrapes(t, 10)
	families := metricFamilies(t, p.silt)
	dbs, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	rangeParams := func(expr string) url.Values {
		return url.Values{"query": {expr}, "start": {fmt.Sprint(end.Add(-2 * time.Minute).Unix())}, "end": {fmt.Sprint(end.Unix())}, "step": {"15"}}
	}
	var promQueries, logQueries int
	for _, db := range dbs {
		if db.Panels == 0 || len(db.Queries) == 0 {
			t.Fatalf("%s: %d panels, %d queries", db.File, db.Panels, len(db.Queries))
		}
		for _, q := range db.Queries {
			where := db.File + " / " + q.Panel
			switch q.Lang {
			case dashboards.PromQL:
				promQueries++
				names, err := dashboards.MetricNames(q.Expr)
				if err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				for _, n := range names {
					if !families[n] {
						t.Errorf("%s: metric %s is not in silt's /metrics", where, n)
						continue
					}
					var series struct{ Data []map[string]string }
					p.silt.getJSON(t, metrics.Prefix+"/api/v1/series?"+url.Values{"match[]": {n}, metrics.ReadConsistencyParam: {"strong"}}.Encode(), &series)
					if len(series.Data) == 0 {
						t.Errorf("%s: metric %s has no series in silt's TSDB", where, n)
					}
				}
				if r := promQuery(t, p.silt.url+metrics.Prefix, "/api/v1/query_range", rangeParams(q.Expr)); r.Status != "success" {
					t.Errorf("%s: %q: %s %s", where, q.Expr, r.ErrorType, r.Error)
				}
			case dashboards.LogQL:
				logQueries++
				params := rangeParams(q.Expr)
				params.Set("start", fmt.Sprint(end.Add(-2*time.Minute).UnixNano()))
				params.Set("end", fmt.Sprint(end.UnixNano()))
				if code, body := p.silt.do(t, http.MethodGet, "/loki/api/v1/query_range?"+params.Encode(), "", ""); code != http.StatusOK {
					t.Errorf("%s: %q: %d %s", where, q.Expr, code, body)
				}
			default:
				t.Errorf("%s: data source type %q", where, q.Lang)
			}
		}
	}
	if promQueries < 20 || logQueries < 4 {
		t.Errorf("checked %d PromQL and %d LogQL queries, fewer than the dashboards hold", promQueries, logQueries)
	}
}
