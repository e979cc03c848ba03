package segments

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

// Each benchmark times silt and its floor in the same run and reports the ratio,
// because the machines are shared and noisy.

// BenchmarkAppend: 200-byte records in batches of 1,000, fsync per batch, against a
// raw write+fsync of the same bytes. x_floor is silt's throughput over the floor's.
func BenchmarkAppend(b *testing.B) {
	l := openTest(b, b.TempDir(), DefaultConfig())
	defer l.Close()
	recs := make([]Record, 1000)
	payload := make([]byte, 0, 200*len(recs))
	for i := range recs {
		v := bytes.Repeat([]byte{byte('a' + i%26)}, 200)
		recs[i] = Record{Timestamp: time.Now().UnixNano(), Value: v}
		payload = append(payload, v...)
	}
	floor, err := os.Create(filepath.Join(b.TempDir(), "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer floor.Close()
	var floorTime time.Duration
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		began := time.Now()
		if _, err := floor.Write(payload); err != nil {
			b.Fatal(err)
		}
		if err := floor.Sync(); err != nil {
			b.Fatal(err)
		}
		floorTime += time.Since(began)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(floorTime.Nanoseconds())/float64(b.Elapsed().Nanoseconds()), "x_floor")
	b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReplay reads a 256 MiB log of raw segments from offset 0 (page cache),
// every batch CRC-checked, against reading the same files raw in 1 MiB chunks.
func BenchmarkReplay(b *testing.B) {
	cfg := DefaultConfig()
	cfg.FsyncInterval = time.Hour // building the fixture, not the point here
	cfg.HotBytes = 1 << 40
	dir := b.TempDir()
	l := openTest(b, dir, cfg)
	defer l.Close()
	fillLog(b, l, 256<<20)
	total := l.Size()
	files, _ := filepath.Glob(filepath.Join(dir, "*"+logExt))
	buf := make([]byte, 1<<20)
	var floorTime time.Duration
	b.SetBytes(total)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := replay(b, l, buf); n != total {
			b.Fatalf("replayed %d bytes, log holds %d", n, total)
		}
		b.StopTimer()
		began := time.Now()
		if n := readRaw(b, files, buf); n != total {
			b.Fatalf("raw read %d bytes, want %d", n, total)
		}
		floorTime += time.Since(began)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(floorTime.Nanoseconds())/float64(b.Elapsed().Nanoseconds()), "x_floor")
}

// BenchmarkReplayWarm replays the same data after compression (decompressing every
// block), for comparison with BenchmarkReplay.
func BenchmarkReplayWarm(b *testing.B) {
	cfg := DefaultConfig()
	cfg.FsyncInterval = time.Hour
	l := openTest(b, b.TempDir(), cfg)
	defer l.Close()
	fillLog(b, l, 64<<20)
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	raw := l.Size()
	if err := l.Compact(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(raw)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := replay(b, l, buf); n != raw {
			b.Fatalf("replayed %d bytes, want %d", n, raw)
		}
	}
}

func fillLog(b *testing.B, l *Log, size int64) {
	recs := make([]Record, 1000)
	for l.Size() < size {
		for i := range recs {
			recs[i] = recordFor(l.NextOffset() + int64(i))
		}
		if _, err := l.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
}

func replay(b *testing.B, l *Log, buf []byte) int64 {
	var n int64
	for off := int64(0); off < l.NextOffset(); {
		var err error
		buf, err = l.ReadBatches(buf[:0], off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(buf))
		for p := buf; len(p) > 0; p = p[batchView(p).length():] {
			off = batchView(p).nextOffset()
		}
	}
	return n
}

func readRaw(b *testing.B, files []string, buf []byte) int64 {
	var n int64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		for {
			k, err := f.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		f.Close()
	}
	return n
}

// BenchmarkSealedBytesPerRecord stores the lines of ../shared/data/loghub as records
// (ms timestamps, as Kafka producers send), compresses the segments and compares
// the bytes per record with `zstd -3` of the same text.
func BenchmarkSealedBytesPerRecord(b *testing.B) {
	lines := loghubLines(b)
	text := []byte(strings.Join(lines, "\n") + "\n")
	zstdPath := testtool.Require(b, "zstd")
	cmd := exec.Command(zstdPath, "-3", "-c")
	cmd.Stdin = bytes.NewReader(text)
	zout, err := cmd.Output()
	if err != nil {
		b.Fatalf("zstd -3: %v", err)
	}
	var sealed int64
	b.SetBytes(int64(len(text)))
	for i := 0; i < b.N; i++ {
		sealed = sealLines(b, lines)
	}
	perRec := float64(sealed) / float64(len(lines))
	zstdPerRec := float64(len(zout)) / float64(len(lines))
	b.ReportMetric(perRec, "B/record")
	b.ReportMetric(zstdPerRec, "zstd3_B/record")
	b.ReportMetric(perRec/zstdPerRec, "x_zstd3")
}

// TestSealedBytesWithinTarget holds the warm layout to the bound: at most
// 1.1x the bytes of `zstd -3` on the same lines.
func TestSealedBytesWithinTarget(t *testing.T) {
	lines := loghubLines(t)
	cmd := exec.Command(testtool.Require(t, "zstd"), "-3", "-c")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	zout, err := cmd.Output()
	if err != nil {
		t.Fatalf("zstd -3: %v", err)
	}
	sealed := sealLines(t, lines)
	ratio := float64(sealed) / float64(len(zout))
	t.Logf("%d lines: sealed %d bytes (%.2f B/record), zstd -3 %d bytes: %.3fx", len(lines), sealed,
		float64(sealed)/float64(len(lines)), len(zout), ratio)
	if ratio > 1.1 {
		t.Fatalf("sealed segments are %.3fx zstd -3, want <= 1.1x", ratio)
	}
}

func sealLines(b testing.TB, lines []string) int64 {
	cfg := DefaultConfig()
	cfg.FsyncInterval = time.Hour
	dir := b.TempDir()
	l := openTest(b, dir, cfg)
	defer l.Close()
	ts := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC).UnixMilli()
	recs := make([]Record, 0, 1000)
	for i, line := range lines {
		ts += int64(i % 7) // a few ms apart, as lines arrive
		recs = append(recs, Record{Timestamp: ts * 1e6, Value: []byte(line)})
		if len(recs) == cap(recs) || i == len(lines)-1 {
			if _, err := l.Append(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if err := l.Roll(); err != nil {
		b.Fatal(err)
	}
	if err := l.Compact(); err != nil {
		b.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"+zstExt))
	var n int64
	for _, f := range files {
		st, _ := os.Stat(f)
		n += st.Size()
	}
	return n
}

// loghubLines returns every line of ../shared/data/loghub/*.log without its CR.
func loghubLines(tb testing.TB) []string {
	dir := os.Getenv("SILT_LOGHUB")
	if dir == "" {
		wd, _ := os.Getwd()
		for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "shared", "data", "loghub")); err == nil {
				dir = filepath.Join(d, "shared", "data", "loghub")
				break
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	if len(files) == 0 {
		missing(tb, "the loghub corpus (../shared/data/loghub or $SILT_LOGHUB)")
	}
	var lines []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, line := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
			if line != "" {
				lines = append(lines, line)
			}
		}
	}
	return lines
}

func missing(tb testing.TB, what string) {
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is missing", what)
	}
	tb.Skipf("%s is missing", what)
}
