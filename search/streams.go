package search

import (
	"context"
	"sort"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Labels silt gives records that carry no label set of their own.
const (
	topicLabel    = "topic"     // the stream of a Kafka topic's records
	kafkaKeyLabel = "kafka_key" // a Kafka record's key, as structured metadata
)

// searchableTopics lists the tenant's topics a selector can match: always
// logs; another topic (never metrics, whose values are samples) only when the
// selector has matchers on "topic" and every one of them matches its name.
func (s *Searcher) searchableTopics(tenant string, ms []*labels.Matcher) ([]topics.Topic, error) {
	reg, err := s.store.Registry()
	if err != nil {
		return nil, err
	}
	all, err := reg.List(tenant)
	if err != nil {
		return nil, err
	}
	var out []topics.Topic
	for _, t := range all {
		switch t.Name {
		case topics.TopicMetrics:
			continue
		case topics.TopicLogs:
			out = append(out, t)
			continue
		}
		named := false
		ok := true
		for _, m := range ms {
			if m.Name == topicLabel {
				named = true
				ok = ok && m.Matches(t.Name)
			}
		}
		if named && ok {
			out = append(out, t)
		}
	}
	return out, nil
}

// scanTopics calls fn for every record in [start, end) of the searchable
// topics whose stream matches sel's matchers, reading only what planSources
// says may match; sel.topic and sel.partition say where the record is.
func (s *Searcher) scanTopics(ctx context.Context, tenant string, sel *selection, start, end int64,
	fn func(st *stream, r *segments.Record) error) error {
	srcs, err := s.planSources(tenant, sel, start, end)
	if err != nil {
		return err
	}
	for i := range srcs {
		if err := readSource(ctx, sel, &srcs[i], start, end, fn); err != nil {
			return err
		}
	}
	return nil
}

// scanMatching is scanTopics for callers that only look at streams and sizes.
func (s *Searcher) scanMatching(ctx context.Context, tenant string, ms []*labels.Matcher, start, end int64,
	fn func(st *stream, r *segments.Record)) error {
	return s.scanTopics(ctx, tenant, newSelection(ms), start, end, func(st *stream, r *segments.Record) error {
		fn(st, r)
		return nil
	})
}

// Streams returns the label sets of the tenant's streams matching ms that have
// entries in [start, end), sorted. With no matchers every stream matches.
func (s *Searcher) Streams(ctx context.Context, tenant string, ms []*labels.Matcher, start, end int64) ([]labels.Labels, error) {
	seen := map[*stream]bool{}
	var out []labels.Labels
	err := s.scanMatching(ctx, tenant, ms, start, end, func(st *stream, _ *segments.Record) {
		if !seen[st] {
			seen[st] = true
			out = append(out, st.labels)
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i], out[j]) < 0 })
	return out, nil
}

// Stats is what /index/stats reports.
type Stats struct {
	Streams int   `json:"streams"`
	Chunks  int   `json:"chunks"`
	Entries int64 `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// IndexStats counts the matching streams, entries and line bytes in [start, end).
// silt has no chunks; it reports one per stream so Grafana's ratios stay sane.
func (s *Searcher) IndexStats(ctx context.Context, tenant string, ms []*labels.Matcher, start, end int64) (Stats, error) {
	seen := map[*stream]bool{}
	var st Stats
	err := s.scanMatching(ctx, tenant, ms, start, end, func(str *stream, r *segments.Record) {
		if !seen[str] {
			seen[str] = true
			st.Streams++
		}
		st.Entries++
		st.Bytes += int64(len(r.Value))
	})
	st.Chunks = st.Streams
	return st, err
}

// VolumeBucket is the line bytes of one series (stream labels reduced to the
// aggregation labels) in one time bucket.
type VolumeBucket struct {
	Labels labels.Labels
	Bucket int64 // ns, start of the bucket (0 for a single bucket)
	Bytes  int64
}

// Volume sums line bytes by the given label names (all stream labels when by is
// empty), per step-wide bucket (one bucket when step is 0).
func (s *Searcher) Volume(ctx context.Context, tenant string, ms []*labels.Matcher, start, end, step int64, by []string) ([]VolumeBucket, error) {
	type key struct {
		series string
		bucket int64
	}
	sums := map[key]*VolumeBucket{}
	reduced := map[*stream]labels.Labels{}
	err := s.scanMatching(ctx, tenant, ms, start, end, func(st *stream, r *segments.Record) {
		ls, ok := reduced[st]
		if !ok {
			ls = st.labels
			if len(by) > 0 {
				ls = st.labels.MatchLabels(true, by...)
			}
			reduced[st] = ls
		}
		var b int64
		if step > 0 {
			b = start + (r.Timestamp-start)/step*step
		}
		k := key{ls.String(), b}
		v := sums[k]
		if v == nil {
			v = &VolumeBucket{Labels: ls, Bucket: b}
			sums[k] = v
		}
		v.Bytes += int64(len(r.Value))
	})
	if err != nil {
		return nil, err
	}
	out := make([]VolumeBucket, 0, len(sums))
	for _, v := range sums {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if c := labels.Compare(out[i].Labels, out[j].Labels); c != 0 {
			return c < 0
		}
		return out[i].Bucket < out[j].Bucket
	})
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
