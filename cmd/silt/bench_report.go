package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// latencyHistogram counts durations in log-linear buckets of microseconds: 16
// buckets per power of two, so a quantile is off by at most 1/16 (6%), in a
// fixed 5 KiB whatever the run's length.
type latencyHistogram struct {
	counts [64 * latencySub]uint64
	n      uint64
	max    time.Duration
}

const latencyBits = 4
const latencySub = 1 << latencyBits

func latencyBucket(us uint64) int {
	if us < latencySub {
		return int(us)
	}
	e := bits.Len64(us) - 1 // >= latencyBits
	m := (us >> (e - latencyBits)) & (latencySub - 1)
	return (e-latencyBits+1)*latencySub + int(m)
}

// latencyUpper is the largest microsecond count that falls in bucket b.
func latencyUpper(b int) uint64 {
	if b < latencySub {
		return uint64(b)
	}
	e := b/latencySub + latencyBits - 1
	m := uint64(b % latencySub)
	return (latencySub+m+1)<<(e-latencyBits) - 1
}

func (h *latencyHistogram) observe(d time.Duration) {
	h.counts[latencyBucket(uint64(max(d, 0)/time.Microsecond))]++
	h.n++
	h.max = max(h.max, d)
}

func (h *latencyHistogram) merge(o *latencyHistogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns an upper bound of the q-quantile (never above the max).
func (h *latencyHistogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(latencyUpper(b)+1)*time.Microsecond, h.max)
		}
	}
	return h.max
}

// benchCounters are updated by every sender and read by the progress line.
type benchCounters struct {
	lines, failedLines, payload, wire, lineBytes, requests atomic.Int64
	throttled, unavailable, errors                         atomic.Int64

	mu       sync.Mutex
	statuses map[int]int64 // guarded by mu
	samples  []string      // guarded by mu: the first error messages
}

const maxErrorSamples = 5

func (c *benchCounters) status(code int) {
	c.mu.Lock()
	if c.statuses == nil {
		c.statuses = map[int]int64{}
	}
	c.statuses[code]++
	c.mu.Unlock()
}

func (c *benchCounters) sample(msg string) {
	c.mu.Lock()
	if len(c.samples) < maxErrorSamples {
		c.samples = append(c.samples, msg)
	}
	c.mu.Unlock()
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procCPUSeconds reads the user+system CPU time of pid from /proc.
func procCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. utime and stime are fields 14 and 15 of the line.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime %q %q", pid, f[11], f[12])
	}
	return float64(utime+stime) / clockTicks, nil
}

// procMemory reads VmRSS and VmHWM (peak RSS) of pid in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	m, err := procStatus(pid, "VmRSS", "VmHWM")
	return m["VmRSS"], m["VmHWM"], err
}

// procStatus reads the named kB fields of /proc/<pid>/status, in bytes.
func procStatus(pid int, names ...string) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status %s: %w", pid, name, err)
		}
		out[name] = kb << 10
	}
	return out, sc.Err()
}

// machineBusySeconds reads the CPU time all processes spent busy (user,
// nice, system, irq, softirq, steal) from /proc/stat.
func machineBusySeconds() (float64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += v
	}
	return float64(busy) / clockTicks, nil
}

// serverWatch follows the server's CPU and memory over the run.
type serverWatch struct {
	pid      int
	cpuStart float64
	peakRSS  atomic.Int64
}

func startServerWatch(pid int) (*serverWatch, error) {
	cpu, err := procCPUSeconds(pid)
	if err != nil {
		return nil, fmt.Errorf("-pid %d: %w", pid, err)
	}
	w := &serverWatch{pid: pid, cpuStart: cpu}
	w.sample()
	return w, nil
}

func (w *serverWatch) sample() {
	if rss, _, err := procMemory(w.pid); err == nil && rss > w.peakRSS.Load() {
		w.peakRSS.Store(rss)
	}
}

// benchServerReport is what -pid adds to the summary.
type benchServerReport struct {
	PID                       int     `json:"pid"`
	CPUSeconds                float64 `json:"cpu_seconds"`
	CPUSecondsPerMillionLines float64 `json:"cpu_seconds_per_million_lines"`
	PeakRSSBytes              int64   `json:"peak_rss_bytes"` // highest VmRSS sampled during the run
	VmHWMBytes                int64   `json:"vm_hwm_bytes"`   // the kernel's peak RSS over the process's life
}

func (w *serverWatch) report(lines int64) *benchServerReport {
	w.sample()
	r := &benchServerReport{PID: w.pid, PeakRSSBytes: w.peakRSS.Load()}
	if cpu, err := procCPUSeconds(w.pid); err == nil {
		r.CPUSeconds = cpu - w.cpuStart
	}
	_, r.VmHWMBytes, _ = procMemory(w.pid)
	r.CPUSecondsPerMillionLines = perMillion(r.CPUSeconds, lines)
	return r
}

func perMillion(sec float64, lines int64) float64 {
	if lines == 0 {
		return 0
	}
	return sec / float64(lines) * 1e6
}

// benchLatency is the request latency summary in milliseconds.
type benchLatency struct {
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// benchSummary is the result of a run, printed as text or with -json.
type benchSummary struct {
	Protocol          string             `json:"protocol"`
	Target            string             `json:"target"`
	Concurrency       int                `json:"concurrency"`
	Batch             int                `json:"batch"`
	Streams           int                `json:"streams"`
	Lines             int64              `json:"lines"`
	FailedLines       int64              `json:"failed_lines"`
	Requests          int64              `json:"requests"`
	PayloadBytes      int64              `json:"payload_bytes"`
	WireBytes         int64              `json:"wire_bytes"`
	LineBytes         int64              `json:"line_bytes"`
	ElapsedSeconds    float64            `json:"elapsed_seconds"`
	LinesPerSecond    float64            `json:"lines_per_second"`
	PayloadMBPerSec   float64            `json:"payload_mb_per_second"`
	Latency           benchLatency       `json:"latency"`
	Statuses          map[string]int64   `json:"statuses"`
	Throttled429      int64              `json:"throttled_429"`
	Unavailable503    int64              `json:"unavailable_503"`
	Errors            int64              `json:"errors"`
	ErrorSamples      []string           `json:"error_samples,omitempty"`
	CorpusLines       int                `json:"corpus_lines"`
	CorpusSeconds     float64            `json:"corpus_build_seconds"`
	GenCPUSeconds     float64            `json:"generator_cpu_seconds"`
	GenCPUPerMillion  float64            `json:"generator_cpu_seconds_per_million_lines"`
	MachineCPUSeconds float64            `json:"machine_busy_cpu_seconds"` // every process's, from /proc/stat
	MachineCPUs       int                `json:"machine_cpus"`
	Server            *benchServerReport `json:"server,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (s *benchSummary) write(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "protocol %s -> %s (concurrency %d, batch %d, %d streams)\n", s.Protocol, s.Target, s.Concurrency, s.Batch, s.Streams)
	fmt.Fprintf(&b, "lines       %d accepted, %d failed, in %d requests over %.2fs\n", s.Lines, s.FailedLines, s.Requests, s.ElapsedSeconds)
	fmt.Fprintf(&b, "throughput  %.0f lines/s, %.2f MB/s payload (%.1f MB payload, %.1f MB on the wire, %.1f MB of log lines)\n",
		s.LinesPerSecond, s.PayloadMBPerSec, float64(s.PayloadBytes)/1e6, float64(s.WireBytes)/1e6, float64(s.LineBytes)/1e6)
	fmt.Fprintf(&b, "latency     p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max)
	codes := make([]string, 0, len(s.Statuses))
	for c := range s.Statuses {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	fmt.Fprintf(&b, "statuses   ")
	for _, c := range codes {
		fmt.Fprintf(&b, " %s:%d", c, s.Statuses[c])
	}
	fmt.Fprintf(&b, "  (429: %d, 503: %d, other errors: %d)\n", s.Throttled429, s.Unavailable503, s.Errors)
	for _, e := range s.ErrorSamples {
		fmt.Fprintf(&b, "  error: %s\n", e)
	}
	fmt.Fprintf(&b, "generator   %.2f CPU s (%.3f CPU s per million lines); corpus of %d lines built in %.2fs\n",
		s.GenCPUSeconds, s.GenCPUPerMillion, s.CorpusLines, s.CorpusSeconds)
	others := s.MachineCPUSeconds - s.GenCPUSeconds
	if s.Server != nil {
		others -= s.Server.CPUSeconds
	}
	fmt.Fprintf(&b, "machine     %.2f busy CPU s of %.2f (%d CPUs); other processes: %.2f CPU s\n",
		s.MachineCPUSeconds, s.ElapsedSeconds*float64(s.MachineCPUs), s.MachineCPUs, others)
	if sv := s.Server; sv != nil {
		fmt.Fprintf(&b, "server      pid %d: %.2f CPU s (%.3f CPU s per million lines), peak RSS %.1f MB during the run, VmHWM %.1f MB\n",
			sv.PID, sv.CPUSeconds, sv.CPUSecondsPerMillionLines, float64(sv.PeakRSSBytes)/1e6, float64(sv.VmHWMBytes)/1e6)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine formats one progress update.
func progressLine(c *benchCounters, elapsed time.Duration, lastLines int64, interval time.Duration, eta time.Duration) string {
	lines := c.lines.Load()
	rate := float64(lines-lastLines) / interval.Seconds()
	avgMB := float64(c.payload.Load()) / 1e6 / max(elapsed.Seconds(), 1e-9)
	errs := c.errors.Load() + c.throttled.Load() + c.unavailable.Load()
	s := fmt.Sprintf("%6.1fs  %d lines  %.0f lines/s  %.1f MB/s  %d errors", elapsed.Seconds(), lines, rate, avgMB, errs)
	if eta > 0 {
		s += fmt.Sprintf("  ETA %s", eta.Round(time.Second))
	}
	return s
}
