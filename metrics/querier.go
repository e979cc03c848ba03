package metrics

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// partitionsQuerier reads a tenant's partitions as one storage.
//
// Prometheus' merge querier asks every partition for its series sorted by
// labels and merges them in a heap: for a selector of 100,000 series that
// sorts each head's postings by labels and compares labels all along the
// merge, although a series is normally in one partition only (its key picks
// the partition). PromQL does not need its series sorted, so unsorted
// selects here concatenate the partitions' series instead, and only series
// found in more than one partition (after the topic's partition count
// changed, or records produced with another partitioner) are merged.
// Sorted selects, label names and values go through the merge querier.
type partitionsQuerier struct {
	storage.Querier // the merge querier over qs
	qs              []storage.Querier
}

func newPartitionsQuerier(qs []storage.Querier) storage.Querier {
	if len(qs) == 1 {
		return qs[0]
	}
	return &partitionsQuerier{Querier: storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge), qs: qs}
}

func (q *partitionsQuerier) Select(ctx context.Context, sorted bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	if sorted {
		return q.Querier.Select(ctx, true, hints, ms...)
	}
	var (
		out    []storage.Series
		byHash = map[uint64][]int{} // into out
		merged map[int][]storage.Series
		warns  annotations.Annotations
	)
	for _, pq := range q.qs {
		set := pq.Select(ctx, false, hints, append([]*labels.Matcher(nil), ms...)...)
		for set.Next() {
			s := set.At()
			h := s.Labels().Hash()
			i := sameLabels(out, byHash[h], s.Labels())
			if i < 0 {
				byHash[h] = append(byHash[h], len(out))
				out = append(out, s)
				continue
			}
			if merged == nil {
				merged = map[int][]storage.Series{}
			}
			if merged[i] == nil {
				merged[i] = []storage.Series{out[i]}
			}
			merged[i] = append(merged[i], s)
		}
		if err := set.Err(); err != nil {
			return storage.ErrSeriesSet(err)
		}
		warns.Merge(set.Warnings())
	}
	for i, ss := range merged {
		out[i] = storage.ChainedSeriesMerge(ss...)
	}
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return &seriesSlice{series: out, warns: warns}
}

// sameLabels returns the index among candidates of the series with labels
// ls, or -1.
func sameLabels(out []storage.Series, candidates []int, ls labels.Labels) int {
	for _, i := range candidates {
		if labels.Equal(out[i].Labels(), ls) {
			return i
		}
	}
	return -1
}

// seriesSlice is a storage.SeriesSet over a slice.
type seriesSlice struct {
	series []storage.Series
	cur    int
	warns  annotations.Annotations
}

func (s *seriesSlice) Next() bool {
	if s.cur >= len(s.series) {
		return false
	}
	s.cur++
	return true
}

func (s *seriesSlice) At() storage.Series                { return s.series[s.cur-1] }
func (s *seriesSlice) Err() error                        { return nil }
func (s *seriesSlice) Warnings() annotations.Annotations { return s.warns }
