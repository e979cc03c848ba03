package logql

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// BenchmarkLineFilterCountOverTime: sum by (host) (count_over_time({app="bench"} |= "error" [1m]))
// over 1M in-memory entries in 10 streams, as a 1h range query with 1m steps.
func BenchmarkLineFilterCountOverTime(b *testing.B) {
	const n = 1_000_000
	streams := make([]labels.Labels, 10)
	for i := range streams {
		streams[i] = labels.FromStrings("app", "bench", "host", fmt.Sprintf("h%d", i))
	}
	levels := []string{"info", "debug", "warn", "error"}
	entries := make([]Entry, n)
	step := int64(time.Hour) / n
	for i := range entries {
		entries[i] = Entry{
			Timestamp: int64(i) * step,
			Line:      fmt.Sprintf("ts=%d level=%s msg=\"request handled\" duration=%dms", i, levels[i%4], i%500),
			Labels:    streams[i%10],
		}
	}
	q := &sliceQuerier{entries: entries}
	eng := NewEngine(q, EngineOpts{})
	p := QueryParams{
		Query: `sum by (host) (count_over_time({app="bench"} |= "level=error" [1m]))`,
		Start: 0, End: int64(time.Hour), Step: time.Minute,
	}
	var bytes int64
	for _, e := range entries {
		bytes += int64(len(e.Line))
	}
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := eng.Query(context.Background(), p)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Matrix) != 5 { // error lines fall on odd hosts only
			b.Fatalf("got %d series", len(r.Matrix))
		}
	}
}

// sliceQuerier returns its entries (already in time order) without copying.
type sliceQuerier struct{ entries []Entry }

func (s *sliceQuerier) SelectLogs(_ context.Context, p SelectParams) (EntryIterator, error) {
	lo, hi := 0, len(s.entries)
	for lo < hi && s.entries[lo].Timestamp < p.Start {
		lo++
	}
	for hi > lo && s.entries[hi-1].Timestamp >= p.End {
		hi--
	}
	return &sliceIter{entries: s.entries[lo:hi], i: -1}, nil
}
