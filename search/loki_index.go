package search

import (
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/logql"
)

// indexStats answers /index/stats. Loki returns the object itself, without
// the status/data envelope.
func (a *API) indexStats(w http.ResponseWriter, r *http.Request) {
	a.raw(w, r, func(r *http.Request, tenant string) (any, error) {
		start, end, ms, err := a.rangeAndSelector(r)
		if err != nil {
			return nil, err
		}
		return a.s.IndexStats(r.Context(), tenant, ms, start, end)
	})
}

// volume answers /index/volume (one vector) and /index/volume_range (a matrix):
// line bytes per series, aggregated by targetLabels or else by the labels the
// selector names, largest first, at most limit series.
func (a *API) volume(rangeQuery bool) func(r *http.Request, tenant string) (any, error) {
	return func(r *http.Request, tenant string) (any, error) {
		start, end, ms, err := a.rangeAndSelector(r)
		if err != nil {
			return nil, err
		}
		var by []string
		if t := r.Form.Get("targetLabels"); t != "" {
			by = strings.Split(t, ",")
		} else {
			for _, m := range ms {
				by = append(by, m.Name)
			}
		}
		var step int64
		if rangeQuery {
			d, err := parseStep(r.Form.Get("step"), start, end)
			if err != nil {
				return nil, err
			}
			step = d.Nanoseconds()
		}
		buckets, err := a.s.Volume(r.Context(), tenant, ms, start, end, step, by)
		if err != nil {
			return nil, err
		}
		limit := 100
		if v := r.Form.Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
				return nil, badRequest("limit must be a positive integer, got %q", v)
			}
		}
		return encodeVolume(buckets, rangeQuery, end, limit), nil
	}
}

func encodeVolume(buckets []VolumeBucket, rangeQuery bool, end int64, limit int) map[string]any {
	totals := map[string]int64{}
	for _, b := range buckets {
		totals[b.Labels.String()] += b.Bytes
	}
	series := make([]string, 0, len(totals))
	for k := range totals {
		series = append(series, k)
	}
	sort.Slice(series, func(i, j int) bool {
		if totals[series[i]] != totals[series[j]] {
			return totals[series[i]] > totals[series[j]]
		}
		return series[i] < series[j]
	})
	if len(series) > limit {
		series = series[:limit]
	}
	keep := map[string]int{}
	for i, k := range series {
		keep[k] = i
	}
	if !rangeQuery {
		out := make([]map[string]any, len(series))
		for _, b := range buckets {
			if i, ok := keep[b.Labels.String()]; ok {
				out[i] = map[string]any{"metric": labelMap(b.Labels), "value": point(end/1e6, float64(totals[b.Labels.String()]))}
			}
		}
		return map[string]any{"resultType": logql.ResultVector, "result": out}
	}
	out := make([]map[string]any, len(series))
	for _, b := range buckets {
		i, ok := keep[b.Labels.String()]
		if !ok {
			continue
		}
		if out[i] == nil {
			out[i] = map[string]any{"metric": labelMap(b.Labels), "values": [][2]any{}}
		}
		out[i]["values"] = append(out[i]["values"].([][2]any), point(b.Bucket/1e6, float64(b.Bytes)))
	}
	return map[string]any{"resultType": logql.ResultMatrix, "result": out}
}

// selector parses a stream selector given as a LogQL query (its pipeline, if
// any, is ignored); an empty one matches every stream.
func selector(q string) ([]*labels.Matcher, error) {
	if strings.TrimSpace(q) == "" {
		return nil, nil
	}
	expr, err := logql.ParseLogSelector(q)
	if err != nil {
		return nil, badRequest("query: %v", err)
	}
	return expr.Matchers, nil
}

// formatQuery answers /format_query with the canonical form of a query.
func (a *API) formatQuery(r *http.Request, _ string) (any, error) {
	expr, err := logql.ParseExpr(r.Form.Get("query"))
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return expr.String(), nil
}

// rangeAndSelector reads a request's time range and its query as a stream
// selector.
func (a *API) rangeAndSelector(r *http.Request) (int64, int64, []*labels.Matcher, error) {
	start, end, err := a.timeRange(r)
	if err != nil {
		return 0, 0, nil, err
	}
	ms, err := selector(r.Form.Get("query"))
	return start, end, ms, err
}
