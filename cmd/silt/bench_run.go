package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/siltlog/silt/ingest"
)

// The run is a pipeline: encoder goroutines (at most one per CPU) turn batches
// of corpus lines into request bodies ahead of the senders, through a channel
// as deep as the concurrency, so a sender always has its next body ready and
// the generator's CPU goes to encoding, never to waiting. Bodies are recycled.

// benchRequest is one encoded batch.
type benchRequest struct {
	body      []byte
	lines     int
	payload   int // uncompressed payload bytes
	lineBytes int
}

// benchRunner runs one load test.
type benchRunner struct {
	cfg      *benchConfig
	corpus   *benchCorpus
	encoders int
	progress io.Writer    // nil: no progress output
	watch    *serverWatch // nil without -pid
	client   *http.Client
	limiter  *rate.Limiter // nil without -rate

	next     atomic.Int64 // the next batch number
	bodies   chan *benchRequest
	free     chan []byte
	counters benchCounters
	elapsed  time.Duration

	histMu sync.Mutex
	hist   latencyHistogram // guarded by histMu: every sender's, merged
}

func newBenchRunner(cfg *benchConfig, corpus *benchCorpus, encoders int) *benchRunner {
	r := &benchRunner{
		cfg:      cfg,
		corpus:   corpus,
		encoders: encoders,
		bodies:   make(chan *benchRequest, cfg.concurrency),
		free:     make(chan []byte, 2*cfg.concurrency+encoders),
	}
	if cfg.proto.path != "" {
		tr := &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        cfg.concurrency,
			MaxIdleConnsPerHost: cfg.concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
		r.client = &http.Client{Transport: tr, Timeout: cfg.timeout}
	}
	if cfg.rate > 0 {
		r.limiter = rate.NewLimiter(rate.Limit(cfg.rate), cfg.batch)
	}
	return r
}

// run sends until -lines are sent, -duration is over or ctx is cancelled.
// Requests in flight when the duration ends are waited for.
func (r *benchRunner) run(ctx context.Context) error {
	stop, cancel := ctx, context.CancelFunc(func() {})
	if r.cfg.duration > 0 {
		stop, cancel = context.WithTimeout(ctx, r.cfg.duration)
	}
	defer cancel()
	start := time.Now()
	var enc sync.WaitGroup
	for range r.encoders {
		enc.Go(func() { r.encodeLoop(stop) })
	}
	go func() {
		enc.Wait()
		close(r.bodies)
	}()
	progressDone := make(chan struct{})
	progressStopped := make(chan struct{})
	go func() {
		defer close(progressStopped)
		r.progressLoop(start, progressDone)
	}()
	var send sync.WaitGroup
	for range r.cfg.concurrency {
		send.Go(func() { r.sendLoop(ctx, stop) })
	}
	send.Wait()
	r.elapsed = time.Since(start)
	cancel()
	for range r.bodies { // let blocked encoders finish
	}
	close(progressDone)
	<-progressStopped
	if r.client != nil {
		r.client.CloseIdleConnections()
	}
	return nil
}

// encodeLoop encodes batches until the line budget is spent or stop.
func (r *benchRunner) encodeLoop(stop context.Context) {
	e := newBenchEncoder(r.cfg.proto, r.corpus, r.cfg.gzip)
	for stop.Err() == nil {
		req, ok := r.nextRequest(e)
		if !ok {
			return
		}
		select {
		case r.bodies <- req:
		case <-stop.Done():
			return
		}
	}
}

func (r *benchRunner) nextRequest(e *benchEncoder) (*benchRequest, bool) {
	batch := int64(r.cfg.batch)
	first := (r.next.Add(1) - 1) * batch
	n := batch
	if r.cfg.lines > 0 {
		if first >= r.cfg.lines {
			return nil, false
		}
		n = min(batch, r.cfg.lines-first)
	}
	b := benchBatch{c: r.corpus, start: int(first % int64(r.corpus.len())), n: int(n), t0: time.Now().UnixNano()}
	var buf []byte
	select {
	case buf = <-r.free:
	default:
	}
	body, payload, err := e.encode(b, buf)
	if err != nil {
		r.counters.errors.Add(1)
		r.counters.sample(err.Error())
		return nil, false
	}
	return &benchRequest{body: body, lines: b.n, payload: payload, lineBytes: b.lineBytes()}, true
}

// sendLoop sends bodies until there are none or stop; ctx aborts requests.
func (r *benchRunner) sendLoop(ctx, stop context.Context) {
	var h latencyHistogram
	var conn net.Conn // syslog
	defer func() {
		if conn != nil {
			conn.Close()
		}
		r.histMu.Lock()
		r.hist.merge(&h)
		r.histMu.Unlock()
	}()
	for stop.Err() == nil {
		var req *benchRequest
		select {
		case req = <-r.bodies:
		case <-stop.Done():
		}
		if req == nil {
			return
		}
		if r.limiter != nil && r.limiter.WaitN(stop, req.lines) != nil {
			return
		}
		if r.client != nil {
			r.sendHTTP(ctx, stop, req, &h)
		} else {
			conn = r.sendSyslog(conn, req, &h)
		}
		select {
		case r.free <- req.body[:0]:
		default:
		}
	}
}

func (r *benchRunner) accepted(req *benchRequest) {
	r.counters.lines.Add(int64(req.lines))
	r.counters.payload.Add(int64(req.payload))
	r.counters.wire.Add(int64(len(req.body)))
	r.counters.lineBytes.Add(int64(req.lineBytes))
}

func (r *benchRunner) failed(req *benchRequest, msg string) {
	r.counters.errors.Add(1)
	r.counters.failedLines.Add(int64(req.lines))
	r.counters.sample(msg)
}

// sendHTTP posts req, sleeping and retrying after a 429 or 503 for as long
// as the server's Retry-After says (1s without one), until stop.
func (r *benchRunner) sendHTTP(ctx, stop context.Context, req *benchRequest, h *latencyHistogram) {
	for {
		code, retry, msg, err := r.postOnce(ctx, req, h)
		switch {
		case err != nil:
			r.failed(req, err.Error())
			sleepCtx(stop, 100*time.Millisecond) // no hot loop against a dead server
			return
		case code/100 == 2:
			r.accepted(req)
			return
		case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
			if code == http.StatusTooManyRequests {
				r.counters.throttled.Add(1)
			} else {
				r.counters.unavailable.Add(1)
			}
			if !sleepCtx(stop, retry) {
				r.counters.failedLines.Add(int64(req.lines))
				return
			}
		default:
			r.failed(req, fmt.Sprintf("HTTP %d: %s", code, msg))
			return
		}
	}
}

// postOnce sends one request and returns its status, Retry-After and the
// start of its body (for error messages).
func (r *benchRunner) postOnce(ctx context.Context, req *benchRequest, h *latencyHistogram) (int, time.Duration, string, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.target, bytes.NewReader(req.body))
	if err != nil {
		return 0, 0, "", err
	}
	p := r.cfg.proto
	hr.Header.Set("Content-Type", p.contentType)
	hr.Header.Set("User-Agent", "silt-bench")
	switch {
	case p.contentEncoding != "":
		hr.Header.Set("Content-Encoding", p.contentEncoding)
	case r.cfg.gzip:
		hr.Header.Set("Content-Encoding", "gzip")
	}
	if p.name == "remote_write" {
		hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	}
	if r.cfg.tenant != "" {
		hr.Header.Set(ingest.TenantHeader, r.cfg.tenant)
	}
	began := time.Now()
	resp, err := r.client.Do(hr)
	if err != nil {
		return 0, 0, "", err
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	h.observe(time.Since(began))
	r.counters.requests.Add(1)
	r.counters.status(resp.StatusCode)
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")), strings.TrimSpace(string(head)), nil
}

// retryAfter parses a Retry-After header (seconds or an HTTP date); 1s when
// it is missing or unreadable.
func retryAfter(v string) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return time.Second
}

// sleepCtx sleeps d; false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sendSyslog writes req on conn (dialled when nil) and returns the connection
// to use next; a written batch counts as accepted, as syslog has no answer.
func (r *benchRunner) sendSyslog(conn net.Conn, req *benchRequest, h *latencyHistogram) net.Conn {
	if conn == nil {
		c, err := net.DialTimeout("tcp", r.cfg.target, 5*time.Second)
		if err != nil {
			r.failed(req, err.Error())
			time.Sleep(100 * time.Millisecond)
			return nil
		}
		conn = c
	}
	began := time.Now()
	_ = conn.SetWriteDeadline(began.Add(r.cfg.timeout))
	_, err := conn.Write(req.body)
	h.observe(time.Since(began))
	r.counters.requests.Add(1)
	if err != nil {
		r.failed(req, err.Error())
		conn.Close()
		return nil
	}
	r.accepted(req)
	return conn
}

// progressLoop samples the server's memory and prints progress until done:
// 4 times a second in place on a terminal, once a second as lines otherwise.
func (r *benchRunner) progressLoop(start time.Time, done <-chan struct{}) {
	if r.progress == nil && r.watch == nil {
		<-done
		return
	}
	const tick = 250 * time.Millisecond
	term := isTerminal(r.progress)
	every := 4
	if term {
		every = 1
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	var last int64
	for n := 1; ; n++ {
		select {
		case <-done:
			if r.progress != nil && term {
				fmt.Fprintf(r.progress, "\r%s\x1b[K\n", progressLine(&r.counters, time.Since(start), last, tick*time.Duration(every), 0))
			}
			return
		case <-t.C:
		}
		if r.watch != nil {
			r.watch.sample()
		}
		if r.progress == nil || n%every != 0 {
			continue
		}
		line := progressLine(&r.counters, time.Since(start), last, tick*time.Duration(every), r.eta(start))
		last = r.counters.lines.Load()
		if term {
			fmt.Fprintf(r.progress, "\r%s\x1b[K", line)
		} else {
			fmt.Fprintln(r.progress, line)
		}
	}
}

// eta estimates the time left from the average rate and the limits.
func (r *benchRunner) eta(start time.Time) time.Duration {
	elapsed := time.Since(start)
	var eta time.Duration
	if r.cfg.duration > 0 {
		eta = max(r.cfg.duration-elapsed, 0)
	}
	if sent := r.counters.lines.Load(); r.cfg.lines > 0 && sent > 0 {
		left := time.Duration(float64(r.cfg.lines-sent) / float64(sent) * float64(elapsed))
		if eta == 0 || left < eta {
			eta = left
		}
	}
	return eta
}

func (r *benchRunner) summary() *benchSummary {
	c := &r.counters
	s := &benchSummary{
		Protocol: r.cfg.proto.name, Target: r.cfg.target, Concurrency: r.cfg.concurrency, Batch: r.cfg.batch,
		Streams: len(r.corpus.streams), Lines: c.lines.Load(), FailedLines: c.failedLines.Load(),
		Requests: c.requests.Load(), PayloadBytes: c.payload.Load(), WireBytes: c.wire.Load(),
		LineBytes: c.lineBytes.Load(), ElapsedSeconds: r.elapsed.Seconds(),
		Throttled429: c.throttled.Load(), Unavailable503: c.unavailable.Load(), Errors: c.errors.Load(),
		Statuses: map[string]int64{},
	}
	if secs := r.elapsed.Seconds(); secs > 0 {
		s.LinesPerSecond = float64(s.Lines) / secs
		s.PayloadMBPerSec = float64(s.PayloadBytes) / 1e6 / secs
	}
	r.histMu.Lock()
	h := &r.hist
	s.Latency = benchLatency{P50: ms(h.quantile(0.5)), P90: ms(h.quantile(0.9)), P99: ms(h.quantile(0.99)), Max: ms(h.max)}
	r.histMu.Unlock()
	c.mu.Lock()
	for code, n := range c.statuses {
		s.Statuses[strconv.Itoa(code)] = n
	}
	s.ErrorSamples = append([]string(nil), c.samples...)
	c.mu.Unlock()
	return s
}
