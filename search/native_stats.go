package search

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// hitsSeries is the counts of one value of the by label, per bucket.
type hitsSeries struct {
	Labels     map[string]string `json:"labels"`
	Timestamps []string          `json:"timestamps"` // RFC 3339, start of each bucket
	Values     []int64           `json:"values"`
}

// hits answers /api/v1/hits: matching entries per step-wide bucket from
// start, split by the by label when given. Buckets start on whole seconds
// (start is rounded down, end up, step must be whole seconds). A bare stream
// selector is counted from the index's per-block counts; a query with a
// pipeline runs it. Buckets without hits are left out.
func (a *API) hits(r *http.Request, tenant string) (any, error) {
	nq, err := parseNativeQuery(r)
	if err != nil {
		return nil, err
	}
	start, end, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	start, end = floorDiv(start, 1e9)*1e9, -floorDiv(-end, 1e9)*1e9
	step := 5 * time.Minute
	if v := r.Form.Get("step"); v != "" {
		if step, err = parseDurationOrSeconds(v); err != nil || step <= 0 || step%time.Second != 0 {
			return nil, badRequest("step must be a positive whole number of seconds such as 5m, got %q", v)
		}
	}
	by := r.Form.Get("by")
	var c BucketCounts
	if nq.le != nil && len(nq.le.Stages) == 0 {
		c, err = a.s.CountBuckets(r.Context(), tenant, nq.le.Matchers, start, end, int64(step), by)
	} else {
		c, err = a.countMatches(r, tenant, nq, start, end, int64(step), by)
	}
	if err != nil {
		return nil, err
	}
	return map[string]any{"hits": hitsSeriesOf(c, by), "total": c.Total}, nil
}

// countMatches runs a log query and counts its entries per bucket.
func (a *API) countMatches(r *http.Request, tenant string, nq *nativeQuery, start, end, step int64, by string) (BucketCounts, error) {
	c := BucketCounts{Counts: map[string]map[int64]int64{}}
	streams, err := a.matchAll(r.Context(), tenant, nq, start, end)
	if err != nil {
		return c, err
	}
	for _, s := range streams {
		v := ""
		if by != "" {
			v = s.Labels.Get(by)
		}
		for _, e := range s.Entries {
			c.add(v, start+(e.Timestamp-start)/step*step, 1)
		}
	}
	return c, nil
}

func hitsSeriesOf(c BucketCounts, by string) []hitsSeries {
	out := []hitsSeries{}
	for _, v := range sortedKeys(boolSet(c.Counts)) {
		hs := hitsSeries{Labels: map[string]string{}}
		if by != "" {
			hs.Labels[by] = v
		}
		buckets := make([]int64, 0, len(c.Counts[v]))
		for b := range c.Counts[v] {
			buckets = append(buckets, b)
		}
		sort.Slice(buckets, func(i, j int) bool { return buckets[i] < buckets[j] })
		for _, b := range buckets {
			hs.Timestamps = append(hs.Timestamps, time.Unix(0, b).UTC().Format(time.RFC3339Nano))
			hs.Values = append(hs.Values, c.Counts[v][b])
		}
		out = append(out, hs)
	}
	return out
}

func boolSet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// facet is the top values of one stream label or metadata key.
type facet struct {
	Field  string       `json:"field"`
	Kind   string       `json:"kind"` // "label" or "metadata"
	Values []facetValue `json:"values"`
}

type facetValue struct {
	Value string `json:"value"`
	Hits  int64  `json:"hits"`
}

// facets answers /api/v1/facets: the limit most frequent values of every
// stream label and structured-metadata key among the matching entries.
func (a *API) facets(r *http.Request, tenant string) (any, error) {
	nq, err := parseNativeQuery(r)
	if err != nil {
		return nil, err
	}
	start, end, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	limit, err := formInt(r, "limit", 10, 1, 1000)
	if err != nil {
		return nil, err
	}
	streams, err := a.matchAll(r.Context(), tenant, nq, start, end)
	if err != nil {
		return nil, err
	}
	type key struct{ kind, field string }
	counts := map[key]map[string]int64{}
	add := func(kind string, ls labels.Labels, n int64) {
		ls.Range(func(l labels.Label) {
			k := key{kind, l.Name}
			if counts[k] == nil {
				counts[k] = map[string]int64{}
			}
			counts[k][l.Value] += n
		})
	}
	for _, s := range streams {
		add("label", s.StreamLabels, int64(len(s.Entries)))
		for _, e := range s.Entries {
			add("metadata", e.Metadata, 1)
		}
	}
	out := make([]facet, 0, len(counts))
	for k, vs := range counts {
		f := facet{Field: k.field, Kind: k.kind}
		for v, n := range vs {
			f.Values = append(f.Values, facetValue{v, n})
		}
		sort.Slice(f.Values, func(i, j int) bool {
			if f.Values[i].Hits != f.Values[j].Hits {
				return f.Values[i].Hits > f.Values[j].Hits
			}
			return f.Values[i].Value < f.Values[j].Value
		})
		f.Values = f.Values[:min(len(f.Values), limit)]
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Field < out[j].Field
	})
	return map[string]any{"facets": out}, nil
}

// contextRecord is one record of /api/v1/context.
type contextRecord struct {
	Topic     string            `json:"topic"`
	Partition int               `json:"partition"`
	Offset    int64             `json:"offset"`
	Time      string            `json:"time"`
	Timestamp string            `json:"timestamp"`
	Labels    map[string]string `json:"labels"`
	Line      string            `json:"line"`
	Metadata  map[string]string `json:"metadata"`
}

// context answers /api/v1/context: the records of one partition from before
// records ahead of offset to after records behind it, in offset order.
func (a *API) context(r *http.Request, tenant string) (any, error) {
	topic := r.Form.Get("topic")
	if topic == "" {
		topic = topics.TopicLogs
	}
	part, err := formInt(r, "partition", 0, 0, 1<<30)
	if err != nil {
		return nil, err
	}
	v := r.Form.Get("offset")
	offset, err := strconv.ParseInt(v, 10, 64)
	if err != nil || offset < 0 {
		return nil, badRequest("offset must be a non-negative integer, got %q", v)
	}
	before, err := formInt(r, "before", 10, 0, maxContextRecords)
	if err != nil {
		return nil, err
	}
	after, err := formInt(r, "after", 10, 0, maxContextRecords)
	if err != nil {
		return nil, err
	}
	recs, err := a.contextRecords(r.Context(), tenant, topic, part, offset, before, after)
	if err != nil {
		return nil, err
	}
	return map[string]any{"records": recs}, nil
}

func (a *API) contextRecords(ctx context.Context, tenant, topic string, part int, offset int64, before, after int) ([]contextRecord, error) {
	log, err := a.s.store.Partition(tenant, topic, part)
	if errors.Is(err, topics.ErrTopicNotFound) || errors.Is(err, topics.ErrPartitionNotFound) {
		return nil, &apiError{status: http.StatusNotFound, msg: err.Error()}
	}
	if err != nil {
		return nil, err
	}
	sel := newSelection(nil)
	out := []contextRecord{}
	from := max(offset-int64(before), log.StartOffset())
	_, err = log.Scan(ctx, from, func(rec *segments.Record) error {
		if rec.Offset > offset+int64(after) {
			return segments.ErrStopScan
		}
		st := sel.stream(topic, rec.Key)
		out = append(out, contextRecord{
			Topic: topic, Partition: part, Offset: rec.Offset,
			Time:      time.Unix(0, rec.Timestamp).UTC().Format(time.RFC3339Nano),
			Timestamp: strconv.FormatInt(rec.Timestamp, 10),
			Labels:    labelMap(st.labels), Line: string(rec.Value), Metadata: labelMap(recordMetadata(st, rec)),
		})
		return nil
	})
	return out, err
}
