package search

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/search/index"
	"github.com/siltlog/silt/search/logql"
)

// testIndexer is an Indexer under test with its metrics registry.
type testIndexer struct {
	*Indexer
	reg *prometheus.Registry
}

// indexFully indexes everything s's store holds, in blocks of blockLines, and
// makes s read the indexes.
func indexFully(t *testing.T, s *Searcher, blockLines int) testIndexer {
	t.Helper()
	var cfg IndexerConfig
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	cfg.BlockLines, cfg.FlushAge = blockLines, time.Nanosecond
	reg := prometheus.NewRegistry()
	ix := NewIndexer(cfg, s.store, slog.New(slog.DiscardHandler), reg)
	t.Cleanup(func() { _ = ix.Close() })
	ix.IndexAll(context.Background())
	s.WithIndexer(ix)
	return testIndexer{ix, reg}
}

// blocks counts the blocks committed in all partitions.
func (ix testIndexer) blocks(t *testing.T) int {
	n := 0
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for _, pi := range ix.parts {
		n += pi.idx.Blocks()
	}
	return n
}

// pushMore pushes n more lines to {app="late", host="h0"} after the indexer
// ran: they are only in the head.
func pushMore(t *testing.T, s *Searcher, tenant string, n int) []pushed {
	t.Helper()
	var icfg ingest.Config
	icfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	d := ingest.NewDistributor(icfg, s.store, ingest.NewMetrics(nil), nil)
	base := time.Now().Add(-30 * time.Minute).UnixNano()
	st := ingest.Stream{Labels: ingest.Labels{{Name: "app", Value: "late"}, {Name: "host", Value: "h0"}}}
	var out []pushed
	for i := 0; i < n; i++ {
		line := fmt.Sprintf("late ERROR PacketResponder %d Received block blk_-%d state change", i, i*7)
		ts := base + int64(i)*1e6
		st.Entries = append(st.Entries, ingest.Entry{Timestamp: ts, Line: line})
		out = append(out, pushed{ts, line, labels.FromStrings("app", "late", "host", "h0")})
	}
	if err := d.Push(context.Background(), &ingest.PushRequest{Tenant: tenant, Streams: []ingest.Stream{st}}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIndexerNarrowsReads: after indexing, a rare word's query reads a small
// part of the partitions, a selector reads only its stream's blocks, and every
// line is in exactly one block.
func TestIndexerNarrowsReads(t *testing.T) {
	s, all := fixture(t)
	ix := indexFully(t, s, 64)
	span := func(q, contains string) (read, total int64) {
		ms, err := selector(q)
		if err != nil {
			t.Fatal(err)
		}
		sel := newSelection(ms)
		if contains != "" {
			sel.p.LineFilters = []logql.LineFilter{{Op: "|=", Value: contains}}
		}
		srcs, err := s.planSources("t1", sel, 0, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		for _, src := range srcs {
			read += src.to - src.from
		}
		return read, int64(len(all))
	}
	for _, tc := range []struct {
		q, contains string
		maxPart     float64
	}{
		{`{app=~".+"}`, "PacketResponder", 0.25},
		{`{app="Apache"}`, "", 0.25},
		{`{app=~".+"}`, "no such token anywhere", 0},
	} {
		read, total := span(tc.q, tc.contains)
		if float64(read) > tc.maxPart*float64(total) {
			t.Errorf("%s |= %q reads %d of %d records, want at most %.0f%%", tc.q, tc.contains, read, total, tc.maxPart*100)
		}
	}
	lines := 0
	ix.mu.Lock()
	for _, pi := range ix.parts {
		if cp := pi.idx.Checkpoint(); cp.Next != pi.log.NextOffset() {
			t.Errorf("%v: checkpoint %d, log ends at %d", pi.k, cp.Next, pi.log.NextOffset())
		}
		lines += linesIndexed(pi)
	}
	ix.mu.Unlock()
	if lines != len(all) {
		t.Errorf("blocks hold %d lines, %d were pushed", lines, len(all))
	}
	if v := counterValue(t, ix.metrics.lines); int(v) != len(all) {
		t.Errorf("silt_index_lines_total = %v, want %d", v, len(all))
	}
}

func linesIndexed(pi *partIndexer) int {
	infos, err := pi.idx.Find(index.Query{})
	if err != nil {
		panic(err)
	}
	n := 0
	for _, b := range infos {
		n += b.Lines
	}
	return n
}

func counterValue(t *testing.T, c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// TestCountBucketsMatchesBruteForce: hits per bucket, split by a label, equal
// a brute-force count before indexing (scan), after it (block counts) and with
// an unindexed head (both).
func TestCountBucketsMatchesBruteForce(t *testing.T) {
	s, all := fixture(t)
	check := func(t *testing.T, all []pushed) {
		now := time.Now().Unix() * 1e9
		start, end, step := now-2*3600e9, now+60e9, int64(60e9)
		for _, q := range []string{`{app=~".+"}`, `{app="HDFS"}`, `{host="h1", app!="Spark"}`} {
			ms, err := selector(q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.CountBuckets(context.Background(), "t1", ms, start, end, step, "app")
			if err != nil {
				t.Fatal(err)
			}
			want := BucketCounts{Counts: map[string]map[int64]int64{}}
			for _, p := range bruteSelect(all, ms, start, end) {
				want.add(p.labels.Get("app"), start+(p.ts-start)/step*step, 1)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: total %d, brute force %d; counts differ", q, got.Total, want.Total)
			}
		}
	}
	t.Run("before-indexing", func(t *testing.T) { check(t, all) })
	indexFully(t, s, 100)
	t.Run("indexed", func(t *testing.T) { check(t, all) })
	all = append(all, pushMore(t, s, "t1", 500)...)
	t.Run("with-head", func(t *testing.T) { check(t, all) })
	if _, err := s.CountBuckets(context.Background(), "t1", nil, 1, 2e9, 1e9, ""); err != ErrUnaligned {
		t.Errorf("unaligned start: err = %v", err)
	}
}

func bruteSelect(all []pushed, ms []*labels.Matcher, start, end int64) []pushed {
	var out []pushed
next:
	for _, p := range all {
		if p.ts < start || p.ts >= end {
			continue
		}
		for _, m := range ms {
			if !m.Matches(p.labels.Get(m.Name)) {
				continue next
			}
		}
		out = append(out, p)
	}
	return out
}

// TestIndexerResumesWithoutDuplicates: an indexer stopped with partial blocks
// open resumes from the committed checkpoint; every line ends up in exactly
// one block, and queries answer the same.
func TestIndexerResumesWithoutDuplicates(t *testing.T) {
	s, all := fixture(t)
	var cfg IndexerConfig
	cfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	cfg.BlockLines = 64 // 1,000 lines a stream: 15 full blocks, 40 lines left open (flush-age 10 s)
	ix := NewIndexer(cfg, s.store, slog.New(slog.DiscardHandler), nil)
	ix.IndexAll(context.Background())
	behind := false
	for _, pi := range ix.parts {
		behind = behind || pi.idx.Checkpoint().Next < pi.log.NextOffset()
	}
	if !behind {
		t.Fatal("no partition was left with open blocks: the test would not resume anything")
	}
	if err := ix.Close(); err != nil { // the open blocks are dropped, not committed
		t.Fatal(err)
	}
	all = append(all, pushMore(t, s, "t1", 777)...)
	indexFully(t, s, 100) // a new indexer over the same directories
	lines := 0
	for _, pi := range s.indexer.parts {
		if cp := pi.idx.Checkpoint(); cp.Next != pi.log.NextOffset() {
			t.Errorf("%v: checkpoint %d, log ends at %d", pi.k, cp.Next, pi.log.NextOffset())
		}
		lines += linesIndexed(pi)
	}
	if lines != len(all) {
		t.Errorf("blocks hold %d lines, %d were pushed", lines, len(all))
	}
	srv := apiServerFor(t, s).URL
	if got := countVia(t, srv, `{app=~".+"} |= "PacketResponder"`); got != countLines(all, "PacketResponder") {
		t.Errorf("count %d, brute force %d", got, countLines(all, "PacketResponder"))
	}
}

func countLines(all []pushed, sub string) int {
	n := 0
	for _, p := range all {
		if strings.Contains(p.line, sub) {
			n++
		}
	}
	return n
}
