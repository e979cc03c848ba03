package metrics

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/ingest"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestAPIGolden")

// goldenBase is the fixed time of the golden tests' data.
var goldenBase = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// newAPIServer serves the API over a materialiser of e.
func newAPIServer(t *testing.T, e *env, m *Materialiser, rules *Rules) *httptest.Server {
	t.Helper()
	tenant := func(r *http.Request) (string, error) { return ingest.TenantFromRequest(r, false) }
	api := NewAPI(e.cfg, m, tenant, BuildInfo{Version: "3.10.0", Revision: "abc", Branch: "main", BuildUser: "u", BuildDate: "d", GoVersion: "go"},
		slog.New(slog.DiscardHandler), nil)
	if rules != nil {
		api.WithRules(rules)
	}
	mux := http.NewServeMux()
	for _, r := range api.Routes() {
		mux.Handle(r.Method+" "+r.Path, r.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// goldenFixture: two counters of two jobs, 10 minutes at 15 s, with metadata.
func goldenFixture(e *env) {
	for i := 0; i < 40; i++ {
		ts := goldenBase.Add(time.Duration(i) * 15 * time.Second).UnixMilli()
		e.push(
			series{labels: lbls("__name__", "http_requests_total", "job", "api", "code", "200"), samples: []ingest.MetricSample{{T: ts, V: float64(10 * i)}}},
			series{labels: lbls("__name__", "http_requests_total", "job", "api", "code", "500"), samples: []ingest.MetricSample{{T: ts, V: float64(i)}}},
			series{labels: lbls("__name__", "http_requests_total", "job", "web", "code", "200"), samples: []ingest.MetricSample{{T: ts, V: float64(3 * i)}}},
			series{labels: lbls("__name__", "up", "job", "api"), samples: []ingest.MetricSample{{T: ts, V: 1}}},
		)
	}
	e.pushMetadata("http_requests_total", MetricMetadata{Type: "counter", Help: "Requests served."})
	e.pushMetadata("up", MetricMetadata{Type: "gauge", Help: "1 if the target is up."})
}

func TestAPIGolden(t *testing.T) {
	e := newEnv(t)
	goldenFixture(e)
	m := e.start()
	rangeJSON(t, m, "up", goldenBase, goldenBase, time.Second) // wait until caught up
	srv := newAPIServer(t, e, m, nil)
	at := "1714558200" // goldenBase + 10m
	strong := "&read_consistency=strong"
	for _, tc := range []struct {
		name, method, path, form string
		status                   int
	}{
		{"grafana_health_check", "GET", "/query", "query=1%2B1&time=" + at, 200},
		{"query_vector", "GET", "/query", "query=http_requests_total%7Bjob%3D%22api%22%7D&time=" + at + strong, 200},
		{"query_post_form", "POST", "/query", "query=sum+by+(job)+(rate(http_requests_total[5m]))&time=" + at + strong, 200},
		{"query_rfc3339_time", "GET", "/query", "query=up&time=2024-05-01T10:05:00Z" + strong, 200},
		{"query_range", "GET", "/query_range", "query=sum(rate(http_requests_total[2m]))&start=1714557720&end=1714558200&step=120" + strong, 200},
		{"query_range_post", "POST", "/query_range", "query=up&start=1714557600&end=1714557660&step=30s" + strong, 200},
		{"labels", "GET", "/labels", "start=1714557600&end=1714558200" + strong, 200},
		{"labels_match", "POST", "/labels", "match[]=up" + strong, 200},
		{"label_name_values", "GET", "/label/__name__/values", strong[1:], 200},
		{"label_values_match", "GET", "/label/code/values", "match[]=http_requests_total%7Bjob%3D%22web%22%7D" + strong, 200},
		{"series", "GET", "/series", "match[]=http_requests_total%7Bcode%3D%22200%22%7D&start=1714557600&end=1714558200" + strong, 200},
		{"series_two_matchers_post", "POST", "/series", "match[]=up&match[]=http_requests_total%7Bjob%3D%22web%22%7D" + strong, 200},
		{"metadata", "GET", "/metadata", strong[1:], 200},
		{"metadata_metric", "GET", "/metadata", "metric=up" + strong, 200},
		{"query_exemplars", "GET", "/query_exemplars", "query=up&start=1714557600&end=1714558200", 200},
		{"format_query", "GET", "/format_query", "query=sum(rate(x%7Ba%3D%22b%22%7D[5m]))by(job)", 200},
		{"rules_empty", "GET", "/rules", "", 200},
		{"buildinfo", "GET", "/status/buildinfo", "", 200},
		{"error_parse", "GET", "/query", "query=sum(rate(x[5m]", 400},
		{"error_bad_time", "GET", "/query", "query=up&time=yesterday", 400},
		{"error_range_step", "GET", "/query_range", "query=up&start=1714557600&end=1714558200&step=0", 400},
		{"error_range_points", "GET", "/query_range", "query=up&start=1714557600&end=1714644000&step=1", 400},
		{"error_range_end_before_start", "GET", "/query_range", "query=up&start=1714558200&end=1714557600&step=10", 400},
		{"error_series_no_match", "GET", "/series", "", 400},
		{"error_series_empty_matcher", "GET", "/series", "match[]=%7Ba%3D%22%22%7D", 400},
		{"error_label_name", "GET", "/label/%FF/values", "", 400},
		{"error_execution", "GET", "/query", "query=label_replace(http_requests_total,%22code%22,%22x%22,%22%22,%22%22)&time=" + at + strong, 422},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := srv.URL + Prefix + "/api/v1" + tc.path
			var resp *http.Response
			var err error
			if tc.method == "POST" {
				resp, err = http.Post(u, "application/x-www-form-urlencoded", strings.NewReader(tc.form))
			} else {
				resp, err = http.Get(u + "?" + tc.form)
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("status %d (%s), want %d: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, body)
			}
			checkGolden(t, filepath.Join("testdata", "api", tc.name+".json"), body)
		})
	}
}

// checkGolden compares body, indented, with the golden file (rewritten
// with -update).
func checkGolden(t *testing.T, path string, body []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, body, "", "  "); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, body)
	}
	pretty.WriteByte('\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("response differs from %s:\n got %s\nwant %s", path, pretty.Bytes(), want)
	}
}

// TestAPIUnavailableWhileReplaying: a replica still replaying its partition
// after a start refuses non-strong queries with 503 in the Prometheus shape.
func TestAPIUnavailableWhileReplaying(t *testing.T) {
	e := newEnv(t)
	goldenFixture(e)
	m := e.start()
	// Pretend partition 0 is replaying: its open-time end is out of reach.
	p, err := m.partition(partKey{testTenant, 0})
	if err != nil {
		t.Fatal(err)
	}
	p.holdReplay.Store(true)
	p.caughtUp.Store(false)
	srv := newAPIServer(t, e, m, nil)
	resp, err := http.Get(srv.URL + Prefix + "/api/v1/query?" + url.Values{"query": {"up"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r response
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 503 || r.ErrorType != "unavailable" ||
		!strings.Contains(r.Error, "replaying") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, headers %v, body %s", resp.StatusCode, resp.Header, body)
	}
	// A strong read waits for the partition's end instead.
	req, _ := http.NewRequest("GET", srv.URL+Prefix+"/api/v1/query?query=count(up)&time=1714558200", nil)
	req.Header.Set(ReadConsistencyHeader, ReadConsistencyStrong)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"1"`) {
		t.Fatalf("strong read: status %d: %s", resp.StatusCode, body)
	}
}
