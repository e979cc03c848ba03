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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
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
	cfg      *benchConfig
	base     string // the server's base URL
	labels   [][]prompb.Label
	start    time.Time // simulated time of round 0
	next     atomic.Int64
	samples  atomic.Int64
	failures atomic.Int64
	maxLag   atomic.Int64 // ms
	lastErr  atomic.Value
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
	ServerRSSBytes    int64   `json:"server_rss_bytes,omitempty"`
	ServerRSSBefore   int64   `json:"server_rss_before_bytes,omitempty"`
	RSSPerSeries      float64 `json:"rss_bytes_per_series,omitempty"`
	QuerySeconds      float64 `json:"promql_seconds"`
	QueryExpr         string  `json:"promql"`
	QueryRangeMinutes int     `json:"promql_range_minutes"`
}

const benchSeriesMetric = "silt_bench_requests_total"

func runSeriesBench(ctx context.Context, cfg *benchConfig, stdout, stderr io.Writer) int {
	u, _ := url.Parse(cfg.target)
	b := &seriesBench{cfg: cfg, base: u.Scheme + "://" + u.Host}
	for k := 0; k < cfg.series; k++ {
		b.labels = append(b.labels, []prompb.Label{
			{Name: "__name__", Value: benchSeriesMetric},
			{Name: "instance", Value: fmt.Sprintf("inst-%d", k/100)},
			{Name: "job", Value: fmt.Sprintf("job-%d", k%10)},
			{Name: "series", Value: strconv.Itoa(k)},
		})
	}
	b.start = time.Now().Add(-cfg.backfill).Truncate(cfg.interval)
	var rssBefore int64
	if cfg.pid > 0 {
		rssBefore, _, _ = procMemory(cfg.pid)
	}
	rep := b.run(ctx)
	rep.ServerRSSBefore = rssBefore
	if cfg.pid > 0 {
		rep.ServerRSSBytes, _, _ = procMemory(cfg.pid)
		rep.RSSPerSeries = float64(rep.ServerRSSBytes) / float64(cfg.series)
	}
	if err := b.query(ctx, rep); err != nil {
		fmt.Fprintln(stderr, "silt bench: query:", err)
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		fmt.Fprintf(stdout, "series %d, samples %d in %.1fs: %.0f samples/s (%d failed requests)\n",
			rep.Series, rep.Samples, rep.Seconds, rep.SamplesPerSecond, rep.FailedRequests)
		fmt.Fprintf(stdout, "materialiser lag: max %.1fs during the run, drained %.1fs after it\n", rep.MaxLagSeconds, rep.DrainSeconds)
		if rep.ServerRSSBytes > 0 {
			fmt.Fprintf(stdout, "server RSS %d MB (%d MB before): %.0f bytes per active series\n",
				rep.ServerRSSBytes>>20, rep.ServerRSSBefore>>20, rep.RSSPerSeries)
		}
		fmt.Fprintf(stdout, "PromQL %s over %d min: %.3fs\n", rep.QueryExpr, rep.QueryRangeMinutes, rep.QuerySeconds)
	}
	if err, _ := b.lastErr.Load().(string); err != "" {
		fmt.Fprintln(stderr, "silt bench: last error:", err)
	}
	if rep.Samples == 0 {
		return 1
	}
	return 0
}

// run sends rounds until -duration ends or simulated time reaches now.
func (b *seriesBench) run(ctx context.Context) *seriesReport {
	runCtx, cancel := context.WithTimeout(ctx, b.cfg.duration)
	defer cancel()
	done := make(chan struct{})
	go b.watchLag(runCtx, done)
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
	cancel()
	<-done
	rep := &seriesReport{Series: b.cfg.series, Samples: b.samples.Load(), Seconds: took.Seconds(), FailedRequests: b.failures.Load()}
	rep.SamplesPerSecond = float64(rep.Samples) / took.Seconds()
	drainBegan := time.Now()
	for ctx.Err() == nil && time.Since(drainBegan) < 5*time.Minute {
		if recs, _, err := b.lag(ctx); err == nil && recs == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep.DrainSeconds = time.Since(drainBegan).Seconds()
	rep.MaxLagSeconds = float64(b.maxLag.Load()) / 1000
	return rep
}

// sendLoop takes the next batch of the next round and posts it.
func (b *seriesBench) sendLoop(ctx context.Context) {
	perRound := (b.cfg.series + b.cfg.batch - 1) / b.cfg.batch
	client := &http.Client{Timeout: b.cfg.timeout}
	var raw, body []byte
	for ctx.Err() == nil {
		n := b.next.Add(1) - 1
		round, part := int(n/int64(perRound)), int(n%int64(perRound))
		ts := b.start.Add(time.Duration(round) * b.cfg.interval)
		if ts.After(time.Now()) {
			return // simulated time caught up with the clock
		}
		lo, hi := part*b.cfg.batch, min(b.cfg.series, (part+1)*b.cfg.batch)
		req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, hi-lo)}
		for k := lo; k < hi; k++ {
			req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: b.labels[k],
				Samples: []prompb.Sample{{Timestamp: ts.UnixMilli(), Value: float64(round * (k%7 + 1))}}})
		}
		raw = raw[:0]
		raw, _ = marshalSized(raw, req.Size(), req.MarshalToSizedBuffer)
		body = snappy.Encode(body[:cap(body)], raw)
		if err := b.post(ctx, client, body); err != nil {
			if ctx.Err() != nil {
				return // the run ended under this request
			}
			b.failures.Add(1)
			b.lastErr.Store(err.Error())
			continue
		}
		b.samples.Add(int64(hi - lo))
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
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, b.base+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		_, val, _ := strings.Cut(rest, "} ")
		v, _ := strconv.ParseFloat(val, 64)
		switch name {
		case "silt_metrics_lag_records":
			records += v
		case "silt_metrics_lag_seconds":
			seconds = max(seconds, v)
		}
	}
	return records, seconds, sc.Err()
}

// query times `sum by (job) (rate(x[5m]))` over the last simulated hour
// sent, at a 60 s step, through silt's Prometheus API.
func (b *seriesBench) query(ctx context.Context, rep *seriesReport) error {
	sent := int(b.next.Load()) / ((b.cfg.series + b.cfg.batch - 1) / b.cfg.batch)
	end := b.start.Add(time.Duration(max(0, sent-1)) * b.cfg.interval)
	start := end.Add(-time.Hour)
	rep.QueryExpr = fmt.Sprintf("sum by (job) (rate(%s[5m]))", benchSeriesMetric)
	rep.QueryRangeMinutes = 60
	form := url.Values{"query": {rep.QueryExpr}, "start": {strconv.FormatInt(start.Unix(), 10)},
		"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"60"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/prometheus/api/v1/query_range", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.cfg.tenant != "" {
		req.Header.Set("X-Scope-OrgID", b.cfg.tenant)
	}
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	rep.QuerySeconds = time.Since(began).Seconds()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %.300s", resp.StatusCode, body)
	}
	return nil
}
