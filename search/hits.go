package search

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/prometheus/prometheus/model/labels"
	"golang.org/x/sync/errgroup"

	"github.com/siltlog/silt/search/index"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// ErrUnaligned refuses a CountBuckets call whose start, end or step is not a
// whole number of seconds.
var ErrUnaligned = errors.New("start, end and step must be whole seconds")

// BucketCounts is what CountBuckets found: per value of the split label, the
// entries per bucket (keyed by the bucket's start, unix ns).
type BucketCounts struct {
	Counts map[string]map[int64]int64
	Total  int64
}

func (c *BucketCounts) add(v string, bucket, n int64) {
	m := c.Counts[v]
	if m == nil {
		m = map[int64]int64{}
		c.Counts[v] = m
	}
	m[bucket] += n
	c.Total += n
}

// CountBuckets counts the entries of the streams matching ms in [start, end)
// per step-wide bucket from start, split by the value of the label by (one
// series when by is ""). Where a partition's index covers it, the counts come
// from its blocks' per-second buckets without reading a line; the head, and
// partitions without an index, are scanned.
func (s *Searcher) CountBuckets(ctx context.Context, tenant string, ms []*labels.Matcher, start, end, step int64, by string) (BucketCounts, error) {
	out := BucketCounts{Counts: map[string]map[int64]int64{}}
	if start%1e9 != 0 || end%1e9 != 0 || step%1e9 != 0 || step <= 0 {
		return out, ErrUnaligned
	}
	// Partitions are counted in parallel, each into its own slots.
	var counters []*partitionCounter
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	err := s.eachPartition(tenant, ms, func(t topics.Topic, part int, log *segments.Log) error {
		c := &partitionCounter{s: s, sel: newSelection(ms), log: log, topic: t.Name, part: part, start: start, end: end, by: by,
			out: &denseCounts{start: start, step: step, n: int((end - start + step - 1) / step), byValue: map[string][]int64{}}}
		counters = append(counters, c)
		k := partKey{tenant, t.Name, part}
		g.Go(func() error {
			if err := c.count(gctx, k); err != nil {
				return fmt.Errorf("count %s partition %d: %w", c.topic, c.part, err)
			}
			return nil
		})
		return nil
	})
	if werr := g.Wait(); err == nil {
		err = werr
	}
	if err != nil {
		return out, err
	}
	for _, c := range counters {
		c.out.into(&out)
	}
	return out, nil
}

// denseCounts accumulates counts per split value in one slot per bucket.
type denseCounts struct {
	start, step int64
	n           int
	byValue     map[string][]int64
	last        string  // the value of the last add
	lastSlots   []int64 // byValue[last]
}

func (d *denseCounts) add(v string, t, n int64) {
	if d.lastSlots == nil || v != d.last {
		slots := d.byValue[v]
		if slots == nil {
			slots = make([]int64, d.n)
			d.byValue[v] = slots
		}
		d.last, d.lastSlots = v, slots
	}
	d.lastSlots[(t-d.start)/d.step] += n
}

func (d *denseCounts) into(out *BucketCounts) {
	for v, slots := range d.byValue {
		for i, n := range slots {
			if n != 0 {
				out.add(v, d.start+int64(i)*d.step, n)
			}
		}
	}
}

// partitionCounter counts one partition for CountBuckets.
type partitionCounter struct {
	s          *Searcher
	sel        *selection
	log        *segments.Log
	topic      string
	part       int
	start, end int64
	by         string
	out        *denseCounts
}

func (c *partitionCounter) count(ctx context.Context, k partKey) error {
	from, err := c.log.OffsetForTime(c.start)
	if err != nil {
		return err
	}
	from, to := max(from, c.log.StartOffset()), c.log.NextOffset()
	idx, _ := c.s.indexer.lookup(k, c.log)
	if idx == nil {
		return c.scan(ctx, from, to, func(*stream, *segments.Record) bool { return true })
	}
	snap, err := idx.FindAll(index.Query{Labels: c.sel.indexQuery(c.start, c.end).Labels, Start: c.start, End: c.end - 1})
	if err != nil {
		return err
	}
	logStart := c.log.StartOffset()
	for i := range snap.Blocks {
		b := &snap.Blocks[i]
		st := c.sel.streamOfKey(c.topic, b.Key)
		if !st.match || b.Ref.LastOffset < logStart {
			continue
		}
		if b.Ref.FirstOffset < logStart {
			// Retention removed part of the block: count what is left.
			err := c.scan(ctx, logStart, b.Ref.LastOffset+1, func(st *stream, _ *segments.Record) bool { return st.key == b.Key })
			if err != nil {
				return err
			}
			continue
		}
		v := st.labels.Get(c.by)
		b.EachSecond(func(sec int64, n int) {
			if t := sec * 1e9; t >= c.start && t < c.end {
				c.out.add(v, t, int64(n))
			}
		})
	}
	// The head: records past the checkpoint that no committed block holds.
	return c.scan(ctx, max(from, snap.Checkpoint.Next), to, func(st *stream, r *segments.Record) bool {
		last, ok := snap.Ends[st.key]
		return !ok || r.Offset > last
	})
}

// scan counts the matching records in [from, to) that keep accepts.
func (c *partitionCounter) scan(ctx context.Context, from, to int64, keep func(*stream, *segments.Record) bool) error {
	if from >= to {
		return nil
	}
	src := source{topic: c.topic, partition: c.part, log: c.log, from: from, to: to, minT: math.MinInt64, maxT: math.MaxInt64}
	return readSource(ctx, c.sel, &src, c.start, c.end, func(st *stream, r *segments.Record) error {
		if keep(st, r) {
			c.out.add(st.labels.Get(c.by), r.Timestamp, 1)
		}
		return nil
	})
}
