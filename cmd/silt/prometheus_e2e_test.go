package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siltlog/silt/metrics"
	"github.com/siltlog/silt/segments/testtool"
)

// promPipeline is a silt server and a real Prometheus that scrapes silt's
// /metrics every second and remote-writes everything to silt.
type promPipeline struct {
	silt    *testServer
	promURL string
	out     *testtool.LockedBuffer
}

// startPromPipeline starts silt and the prometheus binary (skipped locally
// when it is not installed; CI=true fails instead).
func startPromPipeline(t *testing.T, siltArgs ...string) *promPipeline {
	t.Helper()
	bin := testtool.Require(t, "prometheus")
	silt := startServer(t, siltArgs...)
	host := strings.TrimPrefix(silt.url, "http://")
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: silt
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 500ms
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 1s
`, host, silt.url)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	web := fmt.Sprintf("127.0.0.1:%d", testtool.FreePort(t))
	p := &promPipeline{silt: silt, promURL: "http://" + web, out: &testtool.LockedBuffer{}}
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+web)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", p.out.String())
		}
	})
	return p
}

// promResult is the part of a Prometheus API answer the tests compare.
type promResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Values [][2]any          `json:"values"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// promQuery runs a query against base (silt's /prometheus or Prometheus).
func promQuery(t *testing.T, base, path string, params url.Values) promResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(params.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(metrics.ReadConsistencyHeader, metrics.ReadConsistencyStrong)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r promResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("%s %v: %v", path, params, err)
	}
	return r
}

// matrixOf flattens a matrix answer to "labels@t" -> value.
func matrixOf(r promResult) map[string]float64 {
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		k, _ := json.Marshal(s.Metric)
		for _, v := range s.Values {
			var f float64
			fmt.Sscan(v[1].(string), &f)
			out[fmt.Sprintf("%s@%v", k, v[0])] = f
		}
	}
	return out
}

// diffMatrices lists the points where a and b differ (NaN equals NaN).
func diffMatrices(a, b map[string]float64) []string {
	var diffs []string
	for k, va := range a {
		vb, ok := b[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: only in silt (%g)", k, va))
		case math.IsNaN(va) && math.IsNaN(vb):
		case math.Abs(va-vb) > 1e-9*math.Max(1, math.Abs(vb)):
			diffs = append(diffs, fmt.Sprintf("%s: silt %g, prometheus %g", k, va, vb))
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: only in prometheus (%g)", k, vb))
		}
	}
	return diffs
}

// waitForScrapes waits until silt holds n seconds of silt's own up series.
func (p *promPipeline) waitForScrapes(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		r := promQuery(t, p.silt.url+metrics.Prefix, "/api/v1/query", url.Values{"query": {`count_over_time(up{job="silt"}[5m])`}})
		if len(r.Data.Result) == 1 {
			var c float64
			fmt.Sscan(r.Data.Result[0].Value[1].(string), &c)
			if c >= float64(n) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("silt has not received %d scrapes of itself after 90s: last answer %+v", n, r)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// newestScrape is the time of the newest scrape of silt that silt holds.
func (p *promPipeline) newestScrape(t *testing.T) time.Time {
	t.Helper()
	r := promQuery(t, p.silt.url+metrics.Prefix, "/api/v1/query", url.Values{"query": {`max(timestamp(up{job="silt"}))`}})
	if len(r.Data.Result) != 1 {
		t.Fatalf("no scrape of silt in silt: %+v", r)
	}
	var ts float64
	fmt.Sscan(r.Data.Result[0].Value[1].(string), &ts)
	return time.UnixMilli(int64(ts * 1000))
}

// TestPrometheusRemoteWriteE2E: the real Prometheus scrapes silt and
// remote-writes to it; PromQL over silt's copy answers exactly what
// Prometheus answers over its own TSDB, for the same series and range.
func TestPrometheusRemoteWriteE2E(t *testing.T) {
	p := startPromPipeline(t)
	p.waitForScrapes(t, 20)
	queries := []string{
		`up`,
		`go_goroutines`,
		`sum by (route) (rate(silt_http_requests_total[10s]))`,
		`sum by (protocol) (increase(silt_ingest_lines_total[15s]))`,
		`histogram_quantile(0.9, sum by (le) (rate(silt_http_request_duration_seconds_bucket[15s])))`,
		`max_over_time(process_resident_memory_bytes[10s])`,
	}
	for _, q := range queries {
		var diffs []string
		// Remote write trails Prometheus' own TSDB (its WAL watcher reads in
		// rounds): compare a range that ends one scrape interval before the
		// newest scrape silt holds.
		for attempt := 0; attempt < 10; attempt++ {
			end := p.newestScrape(t).Add(-time.Second).Truncate(time.Second)
			params := url.Values{"query": {q}, "start": {fmt.Sprint(end.Add(-15 * time.Second).Unix())}, "end": {fmt.Sprint(end.Unix())}, "step": {"1"}}
			silt := promQuery(t, p.silt.url+metrics.Prefix, "/api/v1/query_range", params)
			prom := promQuery(t, p.promURL, "/api/v1/query_range", params)
			if silt.Status != "success" || prom.Status != "success" {
				t.Fatalf("%s: silt %s %s, prometheus %s %s", q, silt.Status, silt.Error, prom.Status, prom.Error)
			}
			a, b := matrixOf(silt), matrixOf(prom)
			if len(b) == 0 {
				t.Fatalf("%s: prometheus returned no points", q)
			}
			if diffs = diffMatrices(a, b); len(diffs) == 0 {
				break
			}
			time.Sleep(time.Second)
		}
		if len(diffs) > 0 {
			t.Errorf("%s: %d points differ, e.g. %v", q, len(diffs), diffs[:min(5, len(diffs))])
		}
	}
	// Metadata that Prometheus sent is kept.
	var md struct {
		Data map[string][]struct{ Type, Help string } `json:"data"`
	}
	p.silt.getJSON(t, metrics.Prefix+"/api/v1/metadata?metric=go_goroutines", &md)
	if m := md.Data["go_goroutines"]; len(m) != 1 || m[0].Type != "gauge" || m[0].Help == "" {
		t.Errorf("metadata of go_goroutines: %+v", md.Data)
	}
}
