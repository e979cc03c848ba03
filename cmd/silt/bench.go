package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// benchConfig is the command line of `silt bench`.
type benchConfig struct {
	protocol    string
	lokiJSON    bool
	url         string
	path        string
	query       string
	tenant      string
	corpus      string
	concurrency int
	batch       int
	hosts       int
	lines       int64
	corpusLines int
	duration    time.Duration
	rate        float64
	gzip        bool
	seed        uint64
	pid         int
	timeout     time.Duration
	progress    bool
	jsonOut     bool
	series      int           // remote_write series mode: active series
	interval    time.Duration // series mode: simulated sample interval
	backfill    time.Duration // series mode: simulated time starts this long ago
	floor       time.Duration // series mode: how long to measure the in-process floor first

	proto  *benchProtocol
	target string // the push URL, or host:port for syslog
}

const (
	benchDefaultLines  = 1_000_000
	benchMaxCorpus     = 10_000_000
	benchDefaultSyslog = "127.0.0.1:5514"
)

const benchUsage = `Usage: silt bench [-protocol P] [-url URL] [-lines N | -duration D] [flags]

Pushes log lines to silt (or any server speaking the protocol: VictoriaLogs,
Loki, Elasticsearch, an OTLP or syslog receiver) as fast as it takes them, or
at -rate, and reports lines/s, MB/s, request latency, status codes and the CPU
the generator (and with -pid the server) used.

Lines come from the -corpus files, cycled and with their numbers and hex IDs
redrawn at random (deterministic for -seed). Streams are
{app=<file base name>, host=host-<k>}, k < -streams.

Protocols: jsonline, loki (protobuf+snappy; -loki-json for JSON), bulk,
otlp, syslog (TCP, octet-counted RFC 5424), remote_write.

Flags:
`

// parseBenchArgs parses and checks the bench flags.
func parseBenchArgs(args []string, stderr io.Writer) (*benchConfig, error) {
	c := &benchConfig{}
	f := flag.NewFlagSet("bench", flag.ContinueOnError)
	f.SetOutput(stderr)
	f.StringVar(&c.protocol, "protocol", "jsonline", "Push protocol: jsonline, loki, bulk, otlp, syslog or remote_write.")
	f.BoolVar(&c.lokiJSON, "loki-json", false, "With -protocol loki: send JSON instead of protobuf+snappy.")
	f.StringVar(&c.url, "url", "http://127.0.0.1:3100", "Server base URL; for syslog host:port or tcp://host:port (default "+benchDefaultSyslog+").")
	f.StringVar(&c.path, "path", "", "URL path to push to (default: the protocol's, e.g. /api/v1/push/jsonline; VictoriaLogs wants /insert/jsonline).")
	f.StringVar(&c.query, "query", "", "Query string of the push URL (default: the protocol's; jsonline sends _stream_fields=app,host).")
	f.StringVar(&c.tenant, "tenant", "", "Tenant sent as X-Scope-OrgID.")
	f.StringVar(&c.corpus, "corpus", "../shared/data/loghub/*.log", "Glob of sample log files; each file's base name is its app label.")
	f.IntVar(&c.concurrency, "concurrency", 4, "Requests (or syslog connections) in flight at once.")
	f.IntVar(&c.batch, "batch", 1000, "Lines per request.")
	f.IntVar(&c.hosts, "streams", 4, "Hosts per app: every file's lines spread over this many streams host=host-<k>.")
	f.Int64Var(&c.lines, "lines", 0, fmt.Sprintf("Lines to send (default %d unless -duration is set; with both, whichever ends first).", benchDefaultLines))
	f.IntVar(&c.corpusLines, "corpus-lines", 0, "Distinct lines generated before the run and cycled (default min(-lines, 1000000)).")
	f.DurationVar(&c.duration, "duration", 0, "How long to send (0: until -lines are sent).")
	f.Float64Var(&c.rate, "rate", 0, "Cap in lines/s (0: unlimited).")
	f.BoolVar(&c.gzip, "gzip", false, "gzip request bodies (Content-Encoding: gzip, fastest level).")
	f.Uint64Var(&c.seed, "seed", 1, "Seed of the ID re-randomisation and host choice.")
	f.IntVar(&c.pid, "pid", 0, "PID of the server on this machine, to report its CPU seconds and peak RSS over the run.")
	f.DurationVar(&c.timeout, "timeout", time.Minute, "Timeout of one request.")
	f.BoolVar(&c.progress, "progress", isTerminal(stderr), "Show progress on stderr (default: when stderr is a terminal).")
	f.BoolVar(&c.jsonOut, "json", false, "Print the summary as JSON.")
	f.IntVar(&c.series, "series", 0, "With -protocol remote_write: send this many active counters (one sample each per -interval of simulated time) instead of corpus lines; -batch is series per request.")
	f.DurationVar(&c.interval, "interval", 15*time.Second, "Series mode: simulated time between two samples of a series.")
	f.DurationVar(&c.backfill, "backfill", 3*time.Hour, "Series mode: simulated time starts this long ago and the run ends when it reaches now (or after -duration).")
	f.DurationVar(&c.floor, "floor", 0, "Series mode: before the run, measure for this long what stock Prometheus code (snappy, protobuf, TSDB head append) does with the same requests in this process, as the yardstick of the run's samples/s (0: skip).")
	f.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		f.PrintDefaults()
	}
	if err := parseCLIFlags(f, args); err != nil {
		return nil, err
	}
	if err := c.resolve(f); err != nil {
		return nil, err
	}
	return c, nil
}

// resolve checks the flags and fills in the defaults that depend on others.
func (c *benchConfig) resolve(f *flag.FlagSet) error {
	name := c.protocol
	if name == "loki" && c.lokiJSON {
		name = "loki-json"
	}
	c.proto = benchProtocols[name]
	switch {
	case c.proto == nil || name == "loki-json" && c.protocol != "loki":
		return usageError(f, "unknown -protocol %q: use jsonline, loki, bulk, otlp, syslog or remote_write", c.protocol)
	case c.lokiJSON && c.protocol != "loki":
		return usageError(f, "-loki-json needs -protocol loki")
	case c.gzip && !c.proto.gzipOK:
		return usageError(f, "-gzip does not apply to -protocol %s", name)
	case c.concurrency < 1 || c.batch < 1 || c.hosts < 1:
		return usageError(f, "-concurrency, -batch and -streams must be at least 1")
	case c.lines < 0 || c.duration < 0 || c.rate < 0 || c.corpusLines < 0:
		return usageError(f, "-lines, -duration, -rate and -corpus-lines must not be negative")
	case c.series < 0 || c.series > 0 && (c.protocol != "remote_write" || c.interval <= 0 || c.backfill <= 0):
		return usageError(f, "-series needs -protocol remote_write and a positive -interval and -backfill")
	case c.floor < 0 || c.floor > 0 && c.series == 0:
		return usageError(f, "-floor needs -series")
	case c.corpusLines > benchMaxCorpus:
		return usageError(f, "-corpus-lines must be at most %d", benchMaxCorpus)
	}
	if c.lines == 0 && c.duration == 0 {
		c.lines = benchDefaultLines
	}
	if c.corpusLines == 0 {
		c.corpusLines = benchDefaultLines
		if c.lines > 0 {
			c.corpusLines = int(min(c.lines, benchDefaultLines))
		}
	}
	if c.proto.name == "syslog" {
		return c.resolveSyslog(f)
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError(f, "-url %q must be an http:// or https:// URL", c.url)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + c.proto.path
	if isFlagSet(f, "path") {
		u.Path = c.path
	}
	u.RawQuery = c.proto.query
	if isFlagSet(f, "query") {
		u.RawQuery = strings.TrimPrefix(c.query, "?")
	}
	c.target = u.String()
	return nil
}

func (c *benchConfig) resolveSyslog(f *flag.FlagSet) error {
	c.target = benchDefaultSyslog
	if isFlagSet(f, "url") {
		c.target = strings.TrimPrefix(c.url, "tcp://")
	}
	if strings.Contains(c.target, "/") || !strings.Contains(c.target, ":") {
		return usageError(f, "-url %q: syslog needs host:port or tcp://host:port", c.url)
	}
	return nil
}

// runBench is `silt bench`.
func runBench(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseBenchArgs(args, stderr)
	if err != nil {
		return usageExit(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.series > 0 {
		if cfg.duration == 0 {
			cfg.duration = time.Hour
		}
		return runSeriesBench(ctx, cfg, stdout, stderr)
	}
	sum, err := runBenchConfig(ctx, cfg, stderr)
	if err != nil {
		return cliFail(stderr, "bench", err)
	}
	if err := sum.write(stdout, cfg.jsonOut); err != nil {
		return cliFail(stderr, "bench", err)
	}
	if sum.Lines == 0 {
		fmt.Fprintln(stderr, "silt bench: no line was accepted")
		return 1
	}
	return 0
}

// runBenchConfig builds the corpus, runs the load and returns the summary.
func runBenchConfig(ctx context.Context, cfg *benchConfig, progress io.Writer) (*benchSummary, error) {
	t0 := time.Now()
	srcs, err := loadCorpusSources(cfg.corpus)
	if err != nil {
		return nil, err
	}
	corpus := buildCorpus(srcs, cfg.corpusLines, cfg.hosts, cfg.seed)
	corpusTime := time.Since(t0)
	var watch *serverWatch
	if cfg.pid > 0 {
		if watch, err = startServerWatch(cfg.pid); err != nil {
			return nil, err
		}
	}
	r := newBenchRunner(cfg, corpus, max(1, min(cfg.concurrency, runtime.GOMAXPROCS(0))))
	if cfg.progress {
		r.progress = progress
	}
	r.watch = watch
	cpuRun := cpuSeconds()
	busy, _ := machineBusySeconds()
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	sum := r.summary()
	if now, err := machineBusySeconds(); err == nil {
		sum.MachineCPUSeconds, sum.MachineCPUs = now-busy, runtime.NumCPU()
	}
	sum.CorpusLines, sum.CorpusSeconds = corpus.len(), corpusTime.Seconds()
	sum.GenCPUSeconds = cpuSeconds() - cpuRun
	sum.GenCPUPerMillion = perMillion(sum.GenCPUSeconds, sum.Lines)
	if watch != nil {
		sum.Server = watch.report(sum.Lines)
	}
	return sum, nil
}
