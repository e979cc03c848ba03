package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// runBenchCLI runs `silt bench -json` in-process and decodes its summary.
func runBenchCLI(t *testing.T, args ...string) (*benchSummary, int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"bench", "-json"}, args...), nil, &out, &errOut)
	var sum benchSummary
	if code == 0 || code == 1 {
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
			t.Fatalf("exit %d, summary %q: %v\nstderr: %s", code, out.String(), err, errOut.String())
		}
	}
	return &sum, code, errOut.String()
}

// countingServer decodes pushes of one protocol with benchDecoders and
// counts their entries; its first request gets 429 with Retry-After: 0.
type countingServer struct {
	t       *testing.T
	name    string
	entries atomic.Int64
	calls   atomic.Int64
	bad     atomic.Value // string: the first problem seen
}

func (cs *countingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if cs.calls.Add(1) == 1 {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "slow down", http.StatusTooManyRequests)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err == nil && r.Header.Get("Content-Encoding") == "gzip" {
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(body)); err == nil {
			body, err = io.ReadAll(zr)
		}
	}
	if err != nil || r.Header.Get("X-Scope-OrgID") != "t1" || r.Method != http.MethodPost {
		cs.bad.CompareAndSwap(nil, "bad request: "+r.Method+" "+r.Header.Get("X-Scope-OrgID"))
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	cs.entries.Add(int64(len(benchDecoders[cs.name](cs.t, body))))
	w.WriteHeader(http.StatusNoContent)
}

func TestBenchEndToEndHTTP(t *testing.T) {
	glob := writeBenchCorpus(t)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"jsonline", []string{"-protocol", "jsonline"}},
		{"jsonline", []string{"-protocol", "jsonline", "-gzip"}},
		{"loki", []string{"-protocol", "loki"}},
		{"loki-json", []string{"-protocol", "loki", "-loki-json"}},
		{"bulk", []string{"-protocol", "bulk"}},
		{"otlp", []string{"-protocol", "otlp", "-gzip"}},
		{"remote_write", []string{"-protocol", "remote_write"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cs := &countingServer{t: t, name: tc.name}
			srv := httptest.NewServer(cs)
			defer srv.Close()
			sum, code, stderr := runBenchCLI(t, append(tc.args, "-url", srv.URL, "-corpus", glob, "-lines", "2500",
				"-batch", "300", "-concurrency", "3", "-streams", "2", "-tenant", "t1")...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if bad := cs.bad.Load(); bad != nil {
				t.Fatal(bad)
			}
			if sum.Lines != 2500 || cs.entries.Load() != 2500 || sum.FailedLines != 0 {
				t.Errorf("bench says %d lines (%d failed), server counted %d; want 2500", sum.Lines, sum.FailedLines, cs.entries.Load())
			}
			if sum.Throttled429 != 1 || sum.Statuses["429"] != 1 || sum.Requests != 10 {
				t.Errorf("429s %d, statuses %v, requests %d; want one 429 and 10 requests", sum.Throttled429, sum.Statuses, sum.Requests)
			}
			if (sum.PayloadBytes <= sum.LineBytes) != (tc.name == "remote_write") || sum.Latency.P50 <= 0 || sum.Latency.Max < sum.Latency.P99 || sum.Streams != 6 {
				t.Errorf("implausible summary %+v", sum)
			}
		})
	}
}

func TestBenchEndToEndSyslog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var entries atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				data, _ := io.ReadAll(conn)
				entries.Add(int64(len(decodeSyslog(t, data))))
			})
		}
	})
	sum, code, stderr := runBenchCLI(t, "-protocol", "syslog", "-url", "tcp://"+ln.Addr().String(),
		"-corpus", writeBenchCorpus(t), "-lines", "2500", "-batch", "300", "-concurrency", "2")
	// Connections the bench made may still wait in the accept backlog:
	// closing the listener now would drop them.
	for deadline := time.Now().Add(10 * time.Second); entries.Load() < 2500 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	ln.Close()
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if sum.Lines != 2500 || entries.Load() != 2500 {
		t.Errorf("bench says %d lines, listener read %d; want 2500", sum.Lines, entries.Load())
	}
}

func TestBenchDurationRateAndPID(t *testing.T) {
	var lines atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		lines.Add(int64(bytes.Count(body, []byte("\n"))))
	}))
	defer srv.Close()
	began := time.Now()
	sum, code, stderr := runBenchCLI(t, "-url", srv.URL, "-corpus", writeBenchCorpus(t), "-duration", "1200ms",
		"-rate", "5000", "-batch", "100", "-pid", strconv.Itoa(os.Getpid()), "-progress")
	took := time.Since(began)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if sum.Lines != lines.Load() || sum.Lines < 3000 || sum.Lines > 6000+200 {
		t.Errorf("sent %d lines, server saw %d; want about 6000 (5000/s for 1.2s)", sum.Lines, lines.Load())
	}
	// Only the sending phase is timed: building the corpus is slow under -race.
	if took < 1200*time.Millisecond || sum.ElapsedSeconds < 1.1 || sum.ElapsedSeconds > 4 {
		t.Errorf("run took %s (summary %.2fs) for -duration 1.2s", took, sum.ElapsedSeconds)
	}
	if sum.Server == nil || sum.Server.PID != os.Getpid() || sum.Server.PeakRSSBytes <= 0 || sum.Server.VmHWMBytes <= 0 {
		t.Errorf("server report %+v", sum.Server)
	}
	if !strings.Contains(stderr, "lines/s") {
		t.Errorf("no progress line on stderr: %q", stderr)
	}
}

func TestBenchReportsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "stream labels are invalid", http.StatusBadRequest)
	}))
	defer srv.Close()
	sum, code, _ := runBenchCLI(t, "-url", srv.URL, "-corpus", writeBenchCorpus(t), "-lines", "500", "-batch", "100")
	if code != 1 || sum.Lines != 0 || sum.FailedLines != 500 || sum.Errors != 5 || sum.Statuses["400"] != 5 {
		t.Fatalf("exit %d, summary %+v", code, sum)
	}
	if len(sum.ErrorSamples) == 0 || !strings.Contains(sum.ErrorSamples[0], "HTTP 400: stream labels are invalid") {
		t.Errorf("error samples %q", sum.ErrorSamples)
	}
}

// TestBenchAgainstSilt pushes JSON lines into a real in-process server and
// reads them back.
func TestBenchAgainstSilt(t *testing.T) {
	ts := startServer(t)
	if code, body := ts.do(t, http.MethodPost, "/api/v1/push/jsonline", "application/json", `{"_msg":"probe"}`+"\n"); code != http.StatusOK {
		t.Fatalf("probe push: %d %s", code, body)
	}
	glob := writeBenchCorpus(t)
	sum, code, stderr := runBenchCLI(t, "-url", ts.url, "-corpus", glob, "-lines", "20000", "-batch", "1000", "-seed", "3")
	if code != 0 || sum.Lines != 20000 {
		t.Fatalf("exit %d, %d lines: %s %+v", code, sum.Lines, stderr, sum)
	}
	if n := ts.totalRecords(t); n != 20001 {
		t.Fatalf("server holds %d records, want 20000 and the probe", n)
	}
	srcs, err := loadCorpusSources(glob)
	if err != nil {
		t.Fatal(err)
	}
	corpus := buildCorpus(srcs, 20000, 4, 3)
	want := map[string]bool{"probe": true}
	for i := range corpus.len() {
		want[corpus.line(i)] = true
	}
	var list topicListJSON
	ts.getJSON(t, "/api/v1/topics", &list)
	read := 0
	for _, tp := range list.Topics {
		for _, p := range tp.Partitions {
			if p.EndOffset == p.StartOffset {
				continue
			}
			var resp consumeResponse
			ts.getJSON(t, "/api/v1/topics/"+tp.Name+"/partitions/"+strconv.Itoa(p.Partition)+"/records?offset=0&limit=100", &resp)
			for _, r := range resp.Records {
				if r.Value == nil || !want[*r.Value] {
					t.Fatalf("record %+v is not a corpus line", r)
				}
				read++
			}
		}
	}
	if read == 0 {
		t.Fatal("read no record back")
	}
}

// TestBenchSeriesAgainstSilt runs the remote_write series mode against a real
// in-process server, with its floor: every round of every series is accepted
// and the query sees the ten jobs.
func TestBenchSeriesAgainstSilt(t *testing.T) {
	ts := startServer(t)
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "-json", "-url", ts.url, "-protocol", "remote_write", "-series", "500", "-batch", "200",
		"-interval", "15s", "-backfill", "20m", "-floor", "200ms", "-concurrency", "2"}, nil, &out, &errOut)
	var rep seriesReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || code != 0 {
		t.Fatalf("exit %d, report %q: %v\nstderr: %s", code, out.String(), err, errOut.String())
	}
	if rep.Samples < 80*500 || rep.Samples%500 != 0 || rep.FailedRequests != 0 {
		t.Errorf("%d samples (%d failed requests), want whole rounds of 500 over 20 minutes", rep.Samples, rep.FailedRequests)
	}
	if rep.FloorSamplesPerSecond <= 0 || len(rep.QueryRuns) != benchQueryRuns || rep.QueryResultSeries != 10 || rep.QueryDataMinutes < 19 {
		t.Errorf("report %+v: want a floor, %d query runs and 10 result series over 20 minutes of data\n%s", rep, benchQueryRuns, errOut.String())
	}
}
