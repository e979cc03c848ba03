package tier

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/thanos-io/objstore"
	"go.uber.org/goleak"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/testtool"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		killChild(dir)
		return
	}
	goleak.VerifyTestMain(m,
		// minio's and net/http's idle connections outlive a test's bucket.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

var quiet = slog.New(slog.DiscardHandler)

func testConfig(typ string, conf map[string]any) Config {
	var c Config
	c.RegisterFlags("", newFlagSet())
	c.Type, c.Config, c.Prefix = typ, conf, "silt-test"
	c.UploadBytesPerSecond = 0
	c.Cache.ChunkBytes = 64 << 10
	c.Cache.MaxBytes = 1 << 20
	c.Cache.ReadAheadBytes = 256 << 10
	return c
}

// s3Config is the config of a versitygw bucket with few retries, so that
// injected faults surface quickly.
func s3Config(srv *testtool.S3Server) Config {
	conf := srv.Config()
	conf["max_retries"] = 1
	return testConfig(TypeS3, conf)
}

func newTier(t *testing.T, cfg Config, opts ...BucketOption) (*Tier, *prometheus.Registry) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	bkt, err := NewBucket(cfg, quiet, append(opts, WithBucketMetrics(reg))...)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(cfg, bkt, t.TempDir(), quiet, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr, reg
}

// TestAcceptance runs objstore's own acceptance test against each provider,
// built through silt's configuration path (NewBucket with type, config, prefix).
func TestAcceptance(t *testing.T) {
	t.Run("filesystem", func(t *testing.T) {
		bkt, err := NewBucket(testConfig(TypeFilesystem, map[string]any{"directory": t.TempDir()}), quiet)
		if err != nil {
			t.Fatal(err)
		}
		objstore.AcceptanceTest(t, bkt)
	})
	t.Run("s3 (versitygw)", func(t *testing.T) {
		srv := testtool.StartS3(t)
		bkt, err := NewBucket(s3Config(srv), quiet)
		if err != nil {
			t.Fatal(err)
		}
		defer bkt.Close()
		objstore.AcceptanceTest(t, bkt)
	})
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"disabled", func(c *Config) { c.Type = "" }, ""},
		{"s3", func(c *Config) { c.Type = TypeS3 }, ""},
		{"unknown type", func(c *Config) { c.Type = "gcs" }, "type must be"},
		{"tiny chunks", func(c *Config) { c.Cache.ChunkBytes = 10 }, "chunk-bytes"},
		{"cache smaller than a chunk", func(c *Config) { c.Cache.MaxBytes = 1 }, "max-bytes"},
		{"read-ahead past half the cache", func(c *Config) { c.Cache.ReadAheadBytes = c.Cache.MaxBytes/2 + 1 }, "read-ahead-bytes"},
		{"no read-ahead", func(c *Config) { c.Cache.ReadAheadBytes = 0 }, ""},
		{"no fetches", func(c *Config) { c.Cache.FetchConcurrency = 0 }, "fetch-concurrency"},
		{"negative rate", func(c *Config) { c.UploadBytesPerSecond = -1 }, "upload-bytes-per-second"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(TypeFilesystem, nil)
			tc.edit(&c)
			err := c.Validate()
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// record is the deterministic record at offset off.
func record(off int64) segments.Record {
	v := fmt.Sprintf("line %d %s", off, strings.Repeat(string(rune('a'+off%26)), int(20+off%200)))
	return segments.Record{Timestamp: 1_700_000_000_000_000_000 + off*1_000_000, Value: []byte(v)}
}

func segConfig() segments.Config {
	c := segments.DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.BlockBytes = 16 << 10
	c.HotBytes = 0
	return c
}

// fill appends n records in batches of 50 and makes every sealed segment warm.
func fill(t testing.TB, l *segments.Log, n int) {
	t.Helper()
	for off := l.NextOffset(); off < int64(n); {
		k := min(50, int64(n)-off)
		recs := make([]segments.Record, k)
		for i := range recs {
			recs[i] = record(off + int64(i))
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		off += k
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
}

// check reads [from, to) and compares every record.
func check(t testing.TB, l *segments.Log, from, to int64) {
	t.Helper()
	off := from
	_, err := l.Scan(context.Background(), from, func(r *segments.Record) error {
		want := record(off)
		if r.Offset != off || r.Timestamp != want.Timestamp || !bytes.Equal(r.Value, want.Value) {
			return fmt.Errorf("offset %d: got %d %q, want %q", off, r.Offset, r.Value, want.Value)
		}
		off++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if off != to {
		t.Fatalf("read up to %d, want %d", off, to)
	}
}

var allCold = segments.Retention{LocalAge: time.Nanosecond}

func openLog(t testing.TB, dir string, tr *Tier) *segments.Log {
	t.Helper()
	l, err := segments.Open(dir, segConfig(), segments.WithColdStore(tr.Partition("t1", "logs", 0)), segments.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// listAttempts lists the attempt directories in the bucket (for checking only:
// silt itself never lists).
func listAttempts(t *testing.T, bkt objstore.Bucket) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := bkt.Iter(context.Background(), "t1/logs/0/", func(name string) error {
		dir := strings.TrimSuffix(strings.TrimPrefix(name, "t1/logs/0/"), "/")
		return bkt.Iter(context.Background(), name, func(obj string) error {
			out[dir] = append(out[dir], filepath.Base(obj))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestColdTierOverS3(t *testing.T) {
	srv := testtool.StartS3(t)
	tr, reg := newTier(t, s3Config(srv))
	dir := t.TempDir()
	l := openLog(t, dir, tr)
	fill(t, l, 5000)
	if err := l.Tier(context.Background(), time.Now(), allCold); err != nil {
		t.Fatal(err)
	}
	st := l.TierStats()
	if st.Cold.Segments == 0 || st.LocalStartOffset != 5000 || l.StartOffset() != 0 {
		t.Fatalf("tiers: %+v start %d", st, l.StartOffset())
	}
	attempts := listAttempts(t, tr.Bucket())
	if len(attempts) != st.Cold.Segments {
		t.Fatalf("%d attempts in the bucket, %d cold segments", len(attempts), st.Cold.Segments)
	}
	for k, objs := range attempts {
		if len(objs) != 3 {
			t.Fatalf("attempt %s has objects %v, want segment.zst, index, meta.json", k, objs)
		}
	}
	check(t, l, 0, 5000)
	misses := testutil.ToFloat64(tr.metrics.cacheMisses)
	check(t, l, 0, 5000)
	if testutil.ToFloat64(tr.metrics.cacheMisses) != misses || testutil.ToFloat64(tr.metrics.cacheHits) == 0 {
		t.Fatalf("second read missed the cache: misses %v -> %v", misses, testutil.ToFloat64(tr.metrics.cacheMisses))
	}
	if n, err := testutil.GatherAndCount(reg, "silt_tier_upload_bytes_total", "silt_tier_objstore_bucket_operations_total"); err != nil || n == 0 {
		t.Fatalf("metrics: %d %v", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, tr)
	defer l.Close()
	check(t, l, 0, 5000)
}

// faultTransport fails requests that match with a 503, or delays them.
type faultTransport struct {
	next   http.RoundTripper
	match  atomic.Value // string: a substring of "METHOD path"
	delay  atomic.Int64 // ns
	failed atomic.Int32
}

func (f *faultTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	m, _ := f.match.Load().(string)
	if m != "" && strings.Contains(req.Method+" "+req.URL.Path, m) {
		f.failed.Add(1)
		if d := time.Duration(f.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		} else {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
				Body: io.NopCloser(strings.NewReader("injected")), Header: http.Header{}, Request: req}, nil
		}
	}
	return f.next.RoundTrip(req)
}

// TestFaults injects 5xx answers, timeouts and a server that dies mid-upload.
// After each, the failed attempt's objects are deleted, the segment is uploaded
// again, and every record reads back.
func TestFaults(t *testing.T) {
	srv := testtool.StartS3(t)
	ft := &faultTransport{}
	tr, _ := newTier(t, s3Config(srv), WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
		ft.next = rt
		return ft
	}))
	cases := []struct {
		name  string
		match string
		delay time.Duration
	}{
		{"503 on meta.json", "meta.json", 0},
		{"timeout on index", "/index", 3 * time.Second},
	}
	dir := t.TempDir()
	l := openLog(t, dir, tr)
	defer l.Close()
	n := 0
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n += 1500
			fill(t, l, n)
			ft.match.Store(tc.match)
			ft.delay.Store(int64(tc.delay))
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			err := l.Tier(ctx, time.Now(), allCold)
			cancel()
			if err == nil || ft.failed.Load() == 0 {
				t.Fatalf("Tier under faults: %v (faults hit %d)", err, ft.failed.Load())
			}
			ft.match.Store("")
			check(t, l, 0, int64(n))
			if err := l.Tier(context.Background(), time.Now(), allCold); err != nil {
				t.Fatal(err)
			}
			assertClean(t, l, tr, int64(n))
		})
	}
	t.Run("server stopped mid-upload", func(t *testing.T) {
		n += 1500
		fill(t, l, n)
		ft.match.Store("PUT")
		ft.delay.Store(int64(300 * time.Millisecond))
		stopped := make(chan struct{})
		go func() { time.Sleep(100 * time.Millisecond); srv.Stop(); close(stopped) }()
		err := l.Tier(context.Background(), time.Now(), allCold)
		<-stopped
		if err == nil {
			t.Fatal("Tier with the server gone: no error")
		}
		ft.match.Store("")
		srv.Start(t)
		check(t, l, 0, int64(n))
		if err := l.Tier(context.Background(), time.Now(), allCold); err != nil {
			t.Fatal(err)
		}
		assertClean(t, l, tr, int64(n))
	})
}

// assertClean checks that the bucket holds exactly the uploaded attempts, each
// whole, and that every local sealed segment went cold.
func assertClean(t *testing.T, l *segments.Log, tr *Tier, next int64) {
	t.Helper()
	st := l.TierStats()
	attempts := listAttempts(t, tr.Bucket())
	if len(attempts) != st.Cold.Segments || st.LocalStartOffset != next {
		t.Fatalf("bucket holds %d attempts, tiers %+v (want local start %d)", len(attempts), st, next)
	}
	for k, objs := range attempts {
		if len(objs) != 3 {
			t.Fatalf("attempt %s left %v", k, objs)
		}
	}
	check(t, l, 0, next)
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }
