package index

import (
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// expandCorpus repeats the loghub lines to about n lines, re-randomising every
// digit (numbers, IPs and hex IDs change from copy to copy, as real IDs do) and
// cuts them into blocks of b lines: one stream per loghub file.
func expandCorpus(files map[string][]string, n, b int) (blocks []Block, lines int) {
	rng := rand.New(rand.NewPCG(1, 2))
	total := 0
	for _, ls := range files {
		total += len(ls)
	}
	copies := (n + total - 1) / total
	expanded := make(map[string][]string, len(files))
	for name, ls := range files {
		out := make([]string, 0, len(ls)*copies)
		for c := 0; c < copies; c++ {
			for _, l := range ls {
				buf := []byte(l)
				for i, ch := range buf {
					if ch >= '0' && ch <= '9' {
						buf[i] = byte('0' + rng.IntN(10))
					}
				}
				out = append(out, string(buf))
			}
		}
		expanded[name] = out
		lines += len(out)
	}
	return cutBlocks(expanded, b), lines
}

func cpuSeconds(tb testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func dirBytes(tb testing.TB, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// BenchmarkIndexLoghub1M indexes the loghub corpus expanded to ~1M lines in
// blocks of B lines and reports CPU-seconds (all goroutines, bleve's merger and
// persister included, up to Close) per million lines and index bytes per line.
// Targets (issue 4): <= 6 CPU-s per million lines, <= ~10 B/line at B=1024.
//
//	go test -tags slicelabels -run '^$' -bench IndexLoghub1M -benchtime 1x ./search/index/
func BenchmarkIndexLoghub1M(b *testing.B) {
	files := loghubFiles(b)
	for _, bl := range []int{256, 1024} {
		b.Run("B="+strconv.Itoa(bl), func(b *testing.B) {
			blocks, lines := expandCorpus(files, 1_000_000, bl)
			var cpu, wall float64
			var bytes int64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				c0, w0 := cpuSeconds(b), time.Now()
				ix, err := Open(dir, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := ix.Add(blocks...); err != nil {
					b.Fatal(err)
				}
				if err := ix.Close(); err != nil {
					b.Fatal(err)
				}
				cpu += cpuSeconds(b) - c0
				wall += time.Since(w0).Seconds()
				bytes = dirBytes(b, dir)
			}
			mlines := float64(lines) / 1e6 * float64(b.N)
			b.ReportMetric(cpu/mlines, "cpu-s/Mline")
			b.ReportMetric(float64(lines)*float64(b.N)/wall, "lines/s")
			b.ReportMetric(float64(bytes)/float64(lines), "B/line")
		})
	}
}

// BenchmarkCandidates times Candidates on the ~1M-line index (B=1024) and reports
// the fraction of blocks returned.
//
//	go test -tags slicelabels -run '^$' -bench Candidates ./search/index/
func BenchmarkCandidates(b *testing.B) {
	blocks, _ := expandCorpus(loghubFiles(b), 1_000_000, DefaultBlockLines)
	ix, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ix.Close() }()
	if err := ix.Add(blocks...); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, s string }{
		{"whole word", " INFO "},
		{"phrase", "Receiving block"},
		{"infix word (dictionary scan)", "error"},
		{"prefix fragment", "user=roo"},
		{"ip (blooms)", " 10.251.73.220:"},
		{"hex fragment (all blocks)", "a0f"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var n int
			for i := 0; i < b.N; i++ {
				refs, err := ix.Candidates(Query{Contains: []string{tc.s}})
				if err != nil {
					b.Fatal(err)
				}
				n = len(refs)
			}
			b.ReportMetric(float64(n)/float64(len(blocks)), "cand-ratio")
		})
	}
}
