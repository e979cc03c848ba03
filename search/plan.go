package search

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/index"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// source is a range of offsets [from, to) of one partition that a query reads,
// and bounds on the times of the matching lines it can hold. A range the index
// knows nothing about (the head, or a partition without an index) has unknown
// bounds: math.MinInt64 and math.MaxInt64.
type source struct {
	topic     string
	partition int
	log       *segments.Log
	from, to  int64
	minT      int64
	maxT      int64
}

func (s *source) bounded() bool { return s.minT != math.MinInt64 || s.maxT != math.MaxInt64 }

// mergeGap joins candidate ranges this close together into one read: reading a
// few records of other streams costs less than locating (and, in a warm
// segment, decompressing) again.
const mergeGap = 4096

// planSources returns the ranges a query must read: for each partition of the
// searchable topics, the candidate blocks of its index (time range, selector
// and |= strings) and its head, which is not yet indexed and read in full; or,
// without an index, everything from the first offset that may hold start.
func (s *Searcher) planSources(tenant string, sel *selection, start, end int64) ([]source, error) {
	ts, err := s.searchableTopics(tenant, sel.p.Matchers)
	if err != nil {
		return nil, err
	}
	var out []source
	for _, t := range ts {
		for part := 0; part < t.Partitions; part++ {
			if !s.store.Exists(tenant, t.Name, part) {
				continue
			}
			log, err := s.store.Partition(tenant, t.Name, part)
			if err != nil {
				return nil, err
			}
			srcs, err := s.partitionSources(tenant, t, part, log, sel, start, end)
			if err != nil {
				return nil, fmt.Errorf("plan %s partition %d: %w", t.Name, part, err)
			}
			out = append(out, srcs...)
		}
	}
	return out, nil
}

func (s *Searcher) partitionSources(tenant string, t topics.Topic, part int, log *segments.Log,
	sel *selection, start, end int64) ([]source, error) {
	from, err := log.OffsetForTime(start)
	if err != nil {
		return nil, err
	}
	from, to := max(from, log.StartOffset()), log.NextOffset()
	if from >= to {
		return nil, nil
	}
	whole := source{topic: t.Name, partition: part, log: log, from: from, to: to, minT: math.MinInt64, maxT: math.MaxInt64}
	idx, cp := s.indexer.lookup(partKey{tenant, t.Name, part}, log)
	if idx == nil || cp.Next <= from {
		return []source{whole}, nil
	}
	infos, err := idx.Find(sel.indexQuery(start, end))
	if err != nil {
		return nil, err
	}
	head := min(cp.Next, to)
	var out []source
	for i := range infos {
		b := &infos[i]
		lo, hi := max(b.Ref.FirstOffset, from), min(b.Ref.LastOffset+1, head)
		if lo >= hi {
			continue
		}
		out = append(out, source{topic: t.Name, partition: part, log: log, from: lo, to: hi, minT: b.Start, maxT: b.End})
	}
	out = mergeSources(out)
	if head < to {
		whole.from = max(head, from)
		out = append(out, whole)
	}
	return out, nil
}

// mergeSources sorts ranges of one partition and joins those that overlap or
// lie within mergeGap, widening their time bounds.
func mergeSources(srcs []source) []source {
	slices.SortFunc(srcs, func(a, b source) int { return compareInt64(a.from, b.from) })
	out := srcs[:0]
	for _, s := range srcs {
		if n := len(out); n > 0 && s.from <= out[n-1].to+mergeGap {
			last := &out[n-1]
			last.to = max(last.to, s.to)
			last.minT, last.maxT = min(last.minT, s.minT), max(last.maxT, s.maxT)
			continue
		}
		out = append(out, s)
	}
	return out
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// indexQuery is what the selection asks of a block index: its |= strings and
// its stream selector, within [start, end).
func (sel *selection) indexQuery(start, end int64) index.Query {
	q := index.Query{Start: start, End: end - 1}
	for _, f := range sel.p.LineFilters {
		if f.Op == "|=" {
			q.Contains = append(q.Contains, f.Value)
		}
	}
	for _, m := range sel.p.Matchers {
		q.Labels = append(q.Labels, index.LabelMatcher{Type: indexMatchType(m.Type), Name: m.Name, Value: m.Value})
	}
	return q
}

func indexMatchType(t labels.MatchType) index.MatchType {
	switch t {
	case labels.MatchNotEqual:
		return index.MatchNotEqual
	case labels.MatchRegexp:
		return index.MatchRegexp
	case labels.MatchNotRegexp:
		return index.MatchNotRegexp
	}
	return index.MatchEqual
}

// readSource calls fn for each record of src in [start, end) whose stream
// matches sel's matchers; sel.topic and sel.partition say where it is.
func readSource(ctx context.Context, sel *selection, src *source, start, end int64,
	fn func(st *stream, r *segments.Record) error) error {
	sel.topic, sel.partition = src.topic, src.partition
	var lastKey []byte
	var last *stream
	_, err := src.log.ScanRange(ctx, src.from, src.to, func(r *segments.Record) error {
		if r.Timestamp < start || r.Timestamp >= end {
			return nil
		}
		if last == nil || !bytes.Equal(r.Key, lastKey) {
			last = sel.stream(src.topic, r.Key)
			lastKey = append(lastKey[:0], r.Key...)
		}
		if last.match {
			return fn(last, r)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan %s partition %d: %w", src.topic, src.partition, err)
	}
	return nil
}
