package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Series mode of `silt bench -protocol remote_write -series N`: N active
// counters, each sampled once per -interval of simulated time, sent as fast
// as silt takes them (rounds of simulated time run ahead of the clock,
// starting -backfill ago, and the run stops before they reach now). It
// reports samples/s, the materialiser's lag (polled from silt's /metrics),
// the server's RSS per active series (-pid) and the time of a PromQL query
// over the series.

// seriesBench holds the run's state.
type seriesBench struct {
	cfg       *benchConfig
	base      string            // the server's base URL
	templates []*seriesTemplate // one per batch of a round
	start     time.Time         // simulated time of round 0
	next      atomic.Int64
	samples   atomic.Int64
	failures  atomic.Int64
	maxLag    atomic.Int64 // ms
	lastErr   atomic.Value
}

// seriesReport is the summary of a series run.
type seriesReport struct {
	Series            int     `json:"series"`
	Samples           int64   `json:"samples"`
	Seconds           float64 `json:"seconds"`
	SamplesPerSecond  float64 `json:"samples_per_second"`
	FailedRequests    int64   `json:"failed_requests"`
	MaxLagSeconds     float64 `json:"max_materialiser_lag_seconds"`
	DrainSeconds      float64 `json:"drain_seconds"`
	ClientCPUSeconds  float64 `json:"client_cpu_seconds"`
	ServerCPUSeconds  float64 `json:"server_cpu_seconds,omitempty"`
	MachineCPUSeconds float64 `json:"machine_busy_cpu_seconds,omitempty"`
	MachineCPUs       int     `json:"machine_cpus"`
	// FloorSamplesPerSecond is -floor: stock Prometheus decoding and TSDB
	// appends of the same requests in this process (bench_floor.go).
	FloorSamplesPerSecond float64 `json:"floor_samples_per_second,omitempty"`
	ServerRSSBefore       int64   `json:"server_rss_before_bytes,omitempty"`
	SettleSeconds         float64 `json:"settle_seconds,omitempty"`
	ServerRSSBytes        int64   `json:"server_rss_bytes,omitempty"`
	// ServerRSSAfterGC is the RSS once the server is idle after the run
	// (SettleSeconds later), a few seconds after asking it (silt's
	// /debug/pprof/heap?gc=1) for a garbage collection; RSSPerSeries divides
	// it by the series.
	ServerRSSAfterGC  int64     `json:"server_rss_after_gc_bytes,omitempty"`
	ServerRSSFile     int64     `json:"server_rss_file_bytes,omitempty"` // of which mapped files (RssFile)
	RSSPerSeries      float64   `json:"rss_bytes_per_series,omitempty"`
	HeapPerSeries     float64   `json:"heap_live_bytes_per_series,omitempty"`
	QuerySeconds      float64   `json:"promql_seconds"` // the median of QueryRuns
	QueryRuns         []float64 `json:"promql_runs_seconds"`
	QueryCPUSeconds   float64   `json:"promql_server_cpu_seconds,omitempty"` // -pid: the server's CPU per query, median
	QueryExpr         string    `json:"promql"`
	QueryRangeMinutes int       `json:"promql_range_minutes"`
	QueryDataMinutes  float64   `json:"promql_data_minutes"` // simulated time sent, at most the range
	QueryResultSeries int       `json:"promql_result_series"`
}

const (
	benchSeriesMetric = "silt_bench_requests_total"
	benchQueryRuns    = 3
)

func runSeriesBench(ctx context.Context, cfg *benchConfig, stdout, stderr io.Writer) int {
	u, _ := url.Parse(cfg.target)
	b := &seriesBench{cfg: cfg, base: u.Scheme + "://" + u.Host}
	b.start = time.Now().Add(-cfg.backfill).Truncate(cfg.interval)
	for lo := 0; lo < cfg.series; lo += cfg.batch {
		t, err := newSeriesTemplate(lo, min(cfg.series, lo+cfg.batch), b.start.UnixMilli())
		if err != nil {
			return cliFail(stderr, "bench", err)
		}
		b.templates = append(b.templates, t)
	}
	rep := &seriesReport{}
	if cfg.floor > 0 {
		floor, err := runFloor(ctx, b, cfg.floor)
		if err != nil {
			return cliFail(stderr, "bench", fmt.Errorf("-floor: %w", err))
		}
		rep.FloorSamplesPerSecond = floor
	}
	if cfg.pid > 0 {
		rep.ServerRSSBefore, _, _ = procMemory(cfg.pid)
	}
	b.run(ctx, rep)
	if cfg.pid > 0 {
		rep.ServerRSSBytes, _, _ = procMemory(cfg.pid)
		b.memoryAfterGC(ctx, rep)
	}
	if err := b.query(ctx, rep); err != nil {
		fmt.Fprintln(stderr, "silt bench: query:", err)
	}
	rep.write(stdout, cfg.jsonOut)
	if err, _ := b.lastErr.Load().(string); err != "" {
		fmt.Fprintln(stderr, "silt bench: last error:", err)
	}
	if rep.Samples == 0 {
		return 1
	}
	return 0
}

func (rep *seriesReport) write(w io.Writer, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		return
	}
	fmt.Fprintf(w, "series %d, samples %d in %.1fs: %.0f samples/s (%d failed requests)\n",
		rep.Series, rep.Samples, rep.Seconds, rep.SamplesPerSecond, rep.FailedRequests)
	if rep.FloorSamplesPerSecond > 0 {
		fmt.Fprintf(w, "floor (Prometheus decode + TSDB append in the bench process): %.0f samples/s; silt does %.0f%% of it\n",
			rep.FloorSamplesPerSecond, 100*rep.SamplesPerSecond/rep.FloorSamplesPerSecond)
	}
	fmt.Fprintf(w, "materialiser lag: max %.1fs during the run, drained %.1fs after it\n", rep.MaxLagSeconds, rep.DrainSeconds)
	fmt.Fprintf(w, "CPU seconds: bench %.1f, server %.1f, whole machine %.1f of %.0f (%d CPUs)\n",
		rep.ClientCPUSeconds, rep.ServerCPUSeconds, rep.MachineCPUSeconds, rep.Seconds*float64(rep.MachineCPUs), rep.MachineCPUs)
	if rep.ServerRSSBytes > 0 {
		fmt.Fprintf(w, "server RSS %d MB at the end (%d MB before); idle %.0fs later, after a GC, %d MB (%d MB of it mapped files): %.0f bytes per active series (live heap %.0f)\n",
			rep.ServerRSSBytes>>20, rep.ServerRSSBefore>>20, rep.SettleSeconds, rep.ServerRSSAfterGC>>20, rep.ServerRSSFile>>20, rep.RSSPerSeries, rep.HeapPerSeries)
	}
	fmt.Fprintf(w, "PromQL %s over %d min (%.0f min of data), %d series: median %.3fs of %v (server CPU %.1fs)\n",
		rep.QueryExpr, rep.QueryRangeMinutes, rep.QueryDataMinutes, rep.QueryResultSeries, rep.QuerySeconds, rep.QueryRuns, rep.QueryCPUSeconds)
}

// run sends rounds until -duration ends or simulated time reaches now.
func (b *seriesBench) run(ctx context.Context, rep *seriesReport) {
	runCtx, cancel := context.WithTimeout(ctx, b.cfg.duration)
	defer cancel()
	done := make(chan struct{})
	go b.watchLag(runCtx, done)
	cpu, busy := cpuSeconds(), machineBusy()
	var serverCPU float64
	if b.cfg.pid > 0 {
		serverCPU, _ = procCPUSeconds(b.cfg.pid)
	}
	began := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < b.cfg.concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.sendLoop(runCtx)
		}()
	}
	wg.Wait()
	took := time.Since(began)
	rep.ClientCPUSeconds, rep.MachineCPUSeconds, rep.MachineCPUs = cpuSeconds()-cpu, machineBusy()-busy, runtime.NumCPU()
	if b.cfg.pid > 0 {
		if now, err := procCPUSeconds(b.cfg.pid); err == nil {
			rep.ServerCPUSeconds = now - serverCPU
		}
	}
	cancel()
	<-done
	rep.Series, rep.Samples, rep.Seconds, rep.FailedRequests = b.cfg.series, b.samples.Load(), took.Seconds(), b.failures.Load()
	rep.SamplesPerSecond = float64(rep.Samples) / took.Seconds()
	drainBegan := time.Now()
	for ctx.Err() == nil && time.Since(drainBegan) < 5*time.Minute && !b.drained(ctx, rep.Samples) {
		time.Sleep(50 * time.Millisecond)
	}
	rep.DrainSeconds = time.Since(drainBegan).Seconds()
	rep.MaxLagSeconds = float64(b.maxLag.Load()) / 1000
}

func machineBusy() float64 {
	s, _ := machineBusySeconds()
	return s
}

// batch returns request n of the run: which template, the round and its
// simulated time.
func (b *seriesBench) batch(n int64) (t *seriesTemplate, round int, ts time.Time) {
	perRound := int64(len(b.templates))
	round = int(n / perRound)
	return b.templates[n%perRound], round, b.start.Add(time.Duration(round) * b.cfg.interval)
}

// sendLoop takes the next batch of the next round and posts it.
func (b *seriesBench) sendLoop(ctx context.Context) {
	client := &http.Client{Timeout: b.cfg.timeout}
	var raw, body []byte
	for ctx.Err() == nil {
		t, round, ts := b.batch(b.next.Add(1) - 1)
		if ts.After(time.Now()) {
			return // simulated time caught up with the clock
		}
		var ok bool
		if raw, body, ok = t.encode(raw, body, round, ts.UnixMilli()); !ok {
			b.lastErr.Store(fmt.Sprintf("timestamp %d ms has another varint length than the first", ts.UnixMilli()))
			return
		}
		if err := b.post(ctx, client, body); err != nil {
			if ctx.Err() != nil {
				return // the run ended under this request
			}
			b.failures.Add(1)
			b.lastErr.Store(err.Error())
			continue
		}
		b.samples.Add(int64(len(t.series)))
	}
}

func (b *seriesBench) post(ctx context.Context, client *http.Client, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if b.cfg.tenant != "" {
		req.Header.Set("X-Scope-OrgID", b.cfg.tenant)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

// watchLag polls the materialiser's lag every second until ctx ends.
func (b *seriesBench) watchLag(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if _, secs, err := b.lag(ctx); err == nil {
			ms := int64(secs * 1000)
			for cur := b.maxLag.Load(); ms > cur && !b.maxLag.CompareAndSwap(cur, ms); cur = b.maxLag.Load() {
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lag reads the summed lag in records and the largest lag in seconds of the
// materialiser from the server's /metrics.
func (b *seriesBench) lag(ctx context.Context) (records, seconds float64, err error) {
	err = b.scrape(ctx, func(name string, v float64) {
		switch name {
		case "silt_metrics_lag_records":
			records += v
		case "silt_metrics_lag_seconds":
			seconds = max(seconds, v)
		}
	})
	return records, seconds, err
}

// drained reports whether silt's materialiser has applied (or refused)
// every sample the run sent, and lags no more. A server whose /metrics
// cannot be read counts as drained.
func (b *seriesBench) drained(ctx context.Context, sent int64) bool {
	var done, lag float64
	err := b.scrape(ctx, func(name string, v float64) {
		switch name {
		case "silt_metrics_samples_applied_total", "silt_metrics_samples_skipped_total":
			done += v
		case "silt_metrics_lag_records":
			lag += v
		}
	})
	return err != nil || done >= float64(sent) && lag == 0
}

// scrape calls f with every sample of the server's /metrics.
func (b *seriesBench) scrape(ctx context.Context, f func(name string, v float64)) error {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, b.base+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			name, ok = line[:i], true
			_, val, _ = strings.Cut(line[i:], "} ")
		}
		if v, err := strconv.ParseFloat(val, 64); ok && err == nil {
			f(name, v)
		}
	}
	return sc.Err()
}

// memoryAfterGC waits for the server to settle (background work such as
// compressing the log the run wrote holds memory that is not per series),
// asks silt for a garbage collection (its pprof heap profile with gc=1),
// waits for the runtime to return freed memory, and reads the RSS and the
// live heap.
func (b *seriesBench) memoryAfterGC(ctx context.Context, rep *seriesReport) {
	began := time.Now()
	for last, _ := procCPUSeconds(b.cfg.pid); time.Since(began) < 2*time.Minute && sleepCtx(ctx, time.Second); {
		now, err := procCPUSeconds(b.cfg.pid)
		if err != nil || now-last <= 0.05 { // idle: at most 5 % of a CPU
			break
		}
		last = now
	}
	rep.SettleSeconds = time.Since(began).Seconds()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var heap float64
	_ = b.scrape(ctx, func(name string, v float64) {
		if name == "go_memstats_heap_alloc_bytes" {
			heap = v
		}
	})
	rep.HeapPerSeries = heap / float64(b.cfg.series)
	sleepCtx(ctx, 5*time.Second)
	m, _ := procStatus(b.cfg.pid, "VmRSS", "RssFile")
	rep.ServerRSSAfterGC, rep.ServerRSSFile = m["VmRSS"], m["RssFile"]
	rep.RSSPerSeries = float64(rep.ServerRSSAfterGC) / float64(b.cfg.series)
}

// query times `sum by (job) (rate(x[5m]))` over the last simulated hour
// sent, at a 60 s step, through silt's Prometheus API: benchQueryRuns
// times, the first with cold caches.
func (b *seriesBench) query(ctx context.Context, rep *seriesReport) error {
	rounds := int(b.samples.Load() / int64(b.cfg.series)) // complete rounds
	end := b.start.Add(time.Duration(max(0, rounds-1)) * b.cfg.interval)
	start := end.Add(-time.Hour)
	rep.QueryExpr = fmt.Sprintf("sum by (job) (rate(%s[5m]))", benchSeriesMetric)
	rep.QueryRangeMinutes = 60
	rep.QueryDataMinutes = min(60, end.Sub(b.start).Minutes())
	form := url.Values{"query": {rep.QueryExpr}, "start": {strconv.FormatInt(start.Unix(), 10)},
		"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"60"}}.Encode()
	var cpu []float64
	for range benchQueryRuns {
		before, _ := procCPUSeconds(b.cfg.pid)
		took, n, err := b.queryOnce(ctx, form)
		if err != nil {
			return err
		}
		if after, err := procCPUSeconds(b.cfg.pid); err == nil && b.cfg.pid > 0 {
			cpu = append(cpu, after-before)
		}
		rep.QueryRuns, rep.QueryResultSeries = append(rep.QueryRuns, took.Seconds()), n
	}
	rep.QuerySeconds = median(rep.QueryRuns)
	if len(cpu) > 0 {
		rep.QueryCPUSeconds = median(cpu)
	}
	return nil
}

func median(v []float64) float64 {
	sorted := slices.Sorted(slices.Values(v))
	return sorted[len(sorted)/2]
}

// queryOnce runs one query_range and returns its time and result series.
func (b *seriesBench) queryOnce(ctx context.Context, form string) (time.Duration, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/prometheus/api/v1/query_range", strings.NewReader(form))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.cfg.tenant != "" {
		req.Header.Set("X-Scope-OrgID", b.cfg.tenant)
	}
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	took := time.Since(began)
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("status %d: %.300s", resp.StatusCode, body)
	}
	var out struct {
		Data struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, 0, fmt.Errorf("query_range answer: %w", err)
	}
	return took, len(out.Data.Result), nil
}
