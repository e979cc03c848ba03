package tier

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/testtool"
)

// Benchmarks against a local versitygw. The data size is SILT_BENCH_COLD_MB
// megabytes of raw record batches (default 64); run with e.g.
//
//	SILT_BENCH_COLD_MB=1024 go test -tags slicelabels -run '^$' -bench . -benchtime 1x ./segments/tier/
func benchMB() int {
	if v, err := strconv.Atoi(os.Getenv("SILT_BENCH_COLD_MB")); err == nil && v > 0 {
		return v
	}
	return 64
}

// benchSegConfig uses the default segment size (64 MiB) unless
// SILT_BENCH_SEGMENT_MB says otherwise.
func benchSegConfig() segments.Config {
	c := segments.DefaultConfig()
	if v, err := strconv.Atoi(os.Getenv("SILT_BENCH_SEGMENT_MB")); err == nil && v > 0 {
		c.SegmentBytes = int64(v) << 20
	}
	c.HotBytes = 0
	return c
}

// benchLine writes a log line like an access log into dst.
func benchLine(dst []byte, r *rand.Rand, i int) []byte {
	return fmt.Appendf(dst, "ts=%d level=%s host=web-%02d req=%016x method=GET path=/api/v1/items/%d status=%d dur=%dms user=u%05d msg=%q",
		1_700_000_000_000+i, []string{"info", "info", "info", "warn", "error"}[r.IntN(5)], r.IntN(40), r.Uint64(),
		r.IntN(100000), []int{200, 200, 200, 404, 500}[r.IntN(5)], r.IntN(900), r.IntN(50000), "request served")
}

// benchLog fills a log in dir with about mb MB of record batches, all warm, and
// returns the raw batch bytes.
func benchLog(b *testing.B, dir string, mb int) int64 {
	b.Helper()
	l, err := segments.Open(dir, benchSegConfig(), segments.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r := rand.New(rand.NewPCG(1, 2))
	recs := make([]segments.Record, 500)
	var raw int64
	for i := 0; raw < int64(mb)<<20; {
		var buf []byte
		for j := range recs {
			start := len(buf)
			buf = benchLine(buf, r, i)
			recs[j] = segments.Record{Timestamp: (1_700_000_000_000 + int64(i)) * 1e6, Value: buf[start:len(buf):len(buf)]}
			raw += int64(len(buf) - start)
			i++
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	if err := l.Compact(); err != nil {
		b.Fatal(err)
	}
	return raw
}

func copyTree(b *testing.B, from, to string) {
	b.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(to, e.Name()), data, 0o644)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func zstBytes(b *testing.B, dir string) (int64, []string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.zst"))
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			b.Fatal(err)
		}
		n += st.Size()
	}
	return n, files
}

// benchTier returns a tier over srv with the default settings, but no upload
// limit and a cache that holds the whole benchmark.
func benchTier(b *testing.B, srv *testtool.S3Server) *Tier {
	b.Helper()
	var cfg Config
	cfg.RegisterFlags("", newFlagSet())
	cfg.Type, cfg.Config = TypeS3, srv.Config()
	cfg.Prefix = fmt.Sprintf("bench-%d", time.Now().UnixNano())
	cfg.UploadBytesPerSecond = 0
	cfg.Cache.MaxBytes = 4 << 30
	bkt, err := NewBucket(cfg, quiet)
	if err != nil {
		b.Fatal(err)
	}
	tr, err := New(cfg, bkt, b.TempDir(), quiet, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tr.Close() })
	return tr
}

// BenchmarkUpload compares silt's upload protocol (attempt records in the
// MANIFEST, segment + index + meta.json, local deletion) with a raw objstore
// upload of the same .zst files, timed (untimed by the benchmark) in the same
// iteration: x-raw is silt's throughput over the raw one, raw-MB/s the raw
// upload's. Bytes are the compressed segment bytes.
func BenchmarkUpload(b *testing.B) {
	srv := testtool.StartS3(b)
	src := b.TempDir()
	benchLog(b, src, benchMB())
	zst, files := zstBytes(b, src)
	b.SetBytes(zst)
	var rawTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		copyTree(b, src, dir)
		tr := benchTier(b, srv)
		l, err := segments.Open(dir, benchSegConfig(), segments.WithColdStore(tr.Partition("t1", "logs", 0)), segments.WithLogger(quiet))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := l.Tier(context.Background(), time.Now(), allCold); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if st := l.TierStats(); st.Warm.Segments != 0 {
			b.Fatalf("not all uploaded: %+v", st)
		}
		_ = l.Close()
		began := time.Now()
		rawUpload(b, tr, fmt.Sprintf("raw/%d", i), files)
		rawTime += time.Since(began)
		b.StartTimer()
	}
	b.ReportMetric(rawTime.Seconds()/b.Elapsed().Seconds(), "x-raw")
	b.ReportMetric(float64(zst)*float64(b.N)/1e6/rawTime.Seconds(), "raw-MB/s")
}

// rawUpload uploads files to the tier's bucket under dir with objstore alone.
func rawUpload(b *testing.B, tr *Tier, dir string, files []string) {
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			b.Fatal(err)
		}
		err = tr.Bucket().Upload(context.Background(), dir+"/"+filepath.Base(f), fh)
		_ = fh.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkColdRead replays a fully cold log from offset 0 (Scan, as a replay
// or the indexer does) with an empty chunk cache and again with it warm, and
// searches it for a needle (ScanRangeContaining without a block cache, as a
// LogQL line filter over the cold tier does) the same two ways. The floors are
// the same replay and search while the segments are still local: x-local is
// the ratio to the floor of the same run. Bytes are raw record bytes. Each
// case runs once untimed first (to warm the page cache, and the chunk cache
// for the warm cases). To profile one case: -cpuprofile, then pprof -tagfocus
// case=replay/empty-cache (read-ahead fetches carry the label too).
func BenchmarkColdRead(b *testing.B) {
	srv := testtool.StartS3(b)
	dir := b.TempDir()
	raw := benchLog(b, dir, benchMB())
	tr := benchTier(b, srv)
	l, err := segments.Open(dir, benchSegConfig(), segments.WithColdStore(tr.Partition("t1", "logs", 0)), segments.WithLogger(quiet))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	next := l.NextOffset()
	needle := []byte("req=00000000")
	replay := func(b *testing.B) {
		var n int64
		if _, err := l.Scan(context.Background(), 0, func(*segments.Record) error { n++; return nil }); err != nil || n != next {
			b.Fatalf("scan: %d of %d records, %v", n, next, err)
		}
	}
	search := func(b *testing.B) {
		if _, err := l.ScanRangeContaining(context.Background(), 0, next, needle, func(*segments.Record) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	local := map[string]float64{} // MB/s of the local replay and search
	run := func(b *testing.B, name string, read func(*testing.B), empty bool) {
		b.SetBytes(raw)
		read(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if empty {
				b.StopTimer()
				tr.cache.reset()
				b.StartTimer()
			}
			pprof.Do(context.Background(), pprof.Labels("case", name), func(context.Context) { read(b) })
		}
		kind, where, _ := strings.Cut(name, "/")
		mbs := float64(raw) * float64(b.N) / 1e6 / b.Elapsed().Seconds()
		if where == "local" {
			local[kind] = mbs
		}
		b.ReportMetric(mbs/local[kind], "x-local")
	}
	b.Run("replay/local", func(b *testing.B) { run(b, "replay/local", replay, false) })
	b.Run("needle/local", func(b *testing.B) { run(b, "needle/local", search, false) })
	if err := l.Tier(context.Background(), time.Now(), allCold); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		read  func(*testing.B)
		empty bool
	}{
		{"replay/empty-cache", replay, true}, {"replay/warm-cache", replay, false},
		{"needle/empty-cache", search, true}, {"needle/warm-cache", search, false},
	} {
		b.Run(tc.name, func(b *testing.B) { run(b, tc.name, tc.read, tc.empty) })
	}
}

// reset empties the cache once its fetches are done (benchmarks only).
func (c *cache) reset() {
	c.fetches.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for e := c.mu.lru.Front(); e != nil; e = e.Next() {
		_ = os.Remove(e.Value.(*chunk).path)
	}
	c.mu.lru.Init()
	clear(c.mu.entries)
	c.mu.bytes = 0
}
