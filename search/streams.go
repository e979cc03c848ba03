package search

import (
	"context"
	"fmt"
	"sort"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Streams returns the label sets of the tenant's streams matching ms that have
// entries in [start, end), sorted. With no matchers every stream matches.
func (s *Searcher) Streams(ctx context.Context, tenant string, ms []*labels.Matcher, start, end int64) ([]labels.Labels, error) {
	reg, err := s.store.Registry()
	if err != nil {
		return nil, err
	}
	t, err := reg.Get(tenant, topics.TopicLogs)
	if err != nil {
		return nil, err
	}
	sel := &selection{streams: map[string]*stream{}}
	sel.p.Matchers = ms
	seen := map[string]bool{}
	var out []labels.Labels
	for part := 0; part < t.Partitions; part++ {
		log, err := s.store.Partition(tenant, topics.TopicLogs, part)
		if err != nil {
			return nil, err
		}
		from, err := log.OffsetForTime(start)
		if err != nil {
			return nil, err
		}
		_, err = log.Scan(ctx, max(from, log.StartOffset()), func(r *segments.Record) error {
			if r.Timestamp < start || r.Timestamp >= end || seen[string(r.Key)] {
				return nil
			}
			st, err := sel.stream(r.Key)
			if err != nil {
				return err
			}
			seen[string(r.Key)] = true
			if st.match {
				out = append(out, st.labels)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("streams of partition %d: %w", part, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i], out[j]) < 0 })
	return out, nil
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
