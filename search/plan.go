package search

import (
	"bytes"
	"cmp"
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
// which of its records to read, and bounds on the times of the matching lines
// it can hold. A range the index knows nothing about (the head, or a partition
// without an index) has unknown bounds: math.MinInt64 and math.MaxInt64.
type source struct {
	topic     string
	partition int
	log       *segments.Log
	from, to  int64
	minT      int64
	maxT      int64
	// blocks, when set, limits the read to the records of candidate blocks:
	// stream key -> the blocks' offset ranges, ascending.
	blocks map[string][]offsetRange
	// ends, when set (the head), skips the records of committed blocks: a
	// record is in one iff its offset is at or below its stream's end.
	ends map[string]int64
}

// offsetRange is the inclusive offsets [first, last] of a block.
type offsetRange struct{ first, last int64 }

func (s *source) bounded() bool { return s.minT != math.MinInt64 || s.maxT != math.MaxInt64 }

// maxSourceRecords stops merging candidate blocks into one source beyond this
// span: merged sources read storage blocks once, small ones keep the time
// bounds tight for queries that stop early (newest 100 lines).
const maxSourceRecords = 16384

// planSources returns what a query must read: for each partition of the
// searchable topics, the candidate blocks of its index (time range, selector
// and |= strings) and its head, not yet indexed; or, without an index,
// everything from the first offset that may hold start.
func (s *Searcher) planSources(tenant string, sel *selection, start, end int64) ([]source, error) {
	var out []source
	err := s.eachPartition(tenant, sel.p.Matchers, func(t topics.Topic, part int, log *segments.Log) error {
		srcs, err := s.partitionSources(tenant, t, part, log, sel, start, end)
		if err != nil {
			return fmt.Errorf("plan %s partition %d: %w", t.Name, part, err)
		}
		out = append(out, srcs...)
		return nil
	})
	return out, err
}

// eachPartition calls fn with every written partition of the topics a
// selector can search (see searchableTopics).
func (s *Searcher) eachPartition(tenant string, ms []*labels.Matcher, fn func(t topics.Topic, part int, log *segments.Log) error) error {
	ts, err := s.searchableTopics(tenant, ms)
	if err != nil {
		return err
	}
	for _, t := range ts {
		for part := 0; part < t.Partitions; part++ {
			if !s.store.Exists(tenant, t.Name, part) {
				continue
			}
			log, err := s.store.Partition(tenant, t.Name, part)
			if err != nil {
				return err
			}
			if err := fn(t, part, log); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Searcher) partitionSources(tenant string, t topics.Topic, part int, log *segments.Log,
	sel *selection, start, end int64) ([]source, error) {
	from, to := log.StartOffset(), log.NextOffset()
	if from >= to {
		return nil, nil
	}
	whole := source{topic: t.Name, partition: part, log: log, from: from, to: to, minT: math.MinInt64, maxT: math.MaxInt64}
	idx, cp := s.indexer.lookup(partKey{tenant, t.Name, part}, log)
	if idx == nil || cp.Next <= from {
		// No index: read from the first record at or after start (records
		// before it are all older).
		first, err := log.OffsetForTime(start)
		if err != nil {
			return nil, err
		}
		if whole.from = max(first, from); whole.from >= to {
			return nil, nil
		}
		return []source{whole}, nil
	}
	snap, err := idx.FindAll(sel.indexQuery(start, end))
	if err != nil {
		return nil, err
	}
	out := mergeBlocks(whole, snap.Blocks, from)
	if snap.Checkpoint.Next < to {
		whole.from, whole.ends = max(snap.Checkpoint.Next, from), snap.Ends
		out = append(out, whole)
	}
	return out, nil
}

// mergeBlocks turns candidate blocks into sources of the partition base
// describes, merging blocks whose offset ranges overlap or nearly touch while
// the source spans at most maxSourceRecords.
func mergeBlocks(base source, blocks []index.BlockInfo, from int64) []source {
	slices.SortFunc(blocks, func(a, b index.BlockInfo) int { return cmp.Compare(a.Ref.FirstOffset, b.Ref.FirstOffset) })
	var out []source
	for i := range blocks {
		b := &blocks[i]
		lo, hi := max(b.Ref.FirstOffset, from), b.Ref.LastOffset+1
		if lo >= hi {
			continue
		}
		r := offsetRange{lo, b.Ref.LastOffset}
		if n := len(out); n > 0 && lo <= out[n-1].to+mergeGap && hi-out[n-1].from <= maxSourceRecords {
			last := &out[n-1]
			last.to = max(last.to, hi)
			last.minT, last.maxT = min(last.minT, b.Start), max(last.maxT, b.End)
			last.blocks[b.Key] = append(last.blocks[b.Key], r)
			continue
		}
		src := base
		src.from, src.to, src.minT, src.maxT = lo, hi, b.Start, b.End
		src.blocks = map[string][]offsetRange{b.Key: {r}}
		out = append(out, src)
	}
	return out
}

// mergeGap joins candidate blocks this close together into one source:
// reading a few records of other streams costs less than locating again.
const mergeGap = 1024

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
// matches sel's matchers and that src says to read; sel.topic and
// sel.partition say where it is. Only records whose line holds sel's needle
// (its longest |= string) are decoded.
func readSource(ctx context.Context, sel *selection, src *source, start, end int64,
	fn func(st *stream, r *segments.Record) error) error {
	sel.topic, sel.partition = src.topic, src.partition
	var lastKey []byte
	var last *stream
	var ranges []offsetRange // last's candidate blocks in src, those not passed yet
	_, err := src.log.ScanRangeContaining(ctx, src.from, src.to, sel.needle(), func(r *segments.Record) error {
		if r.Timestamp < start || r.Timestamp >= end {
			return nil
		}
		if last == nil || !bytes.Equal(r.Key, lastKey) {
			last = sel.stream(src.topic, r.Key)
			lastKey = append(lastKey[:0], r.Key...)
			ranges = src.blocks[last.key]
		}
		if !last.match {
			return nil
		}
		if src.blocks != nil {
			for len(ranges) > 0 && ranges[0].last < r.Offset {
				ranges = ranges[1:]
			}
			if len(ranges) == 0 || ranges[0].first > r.Offset {
				return nil
			}
		} else if indexed, ok := src.ends[last.key]; ok && r.Offset <= indexed {
			return nil
		}
		return fn(last, r)
	})
	if err != nil {
		return fmt.Errorf("scan %s partition %d: %w", src.topic, src.partition, err)
	}
	return nil
}
