package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// querier opens the tenant's querier over the request's start and end.
func (a *API) querier(r *http.Request, tenant string) (storage.Querier, context.Context, context.CancelFunc, error) {
	start, end, err := parseRange(r)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel, err := a.queryContext(r)
	if err != nil {
		return nil, nil, nil, err
	}
	qa, err := a.queryable(ctx, r, tenant)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	q, err := qa.Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		cancel()
		return nil, nil, nil, &apiError{errExec, err}
	}
	return q, ctx, cancel, nil
}

// labelQuery runs get once per match[] set (once without) and answers the
// sorted union, cut at limit.
func (a *API) labelQuery(w http.ResponseWriter, r *http.Request, tenant string,
	get func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error)) {
	limit, err := parseLimit(r)
	if err != nil {
		respondError(w, err)
		return
	}
	sets, err := parseMatchers(r.Form["match[]"])
	if err != nil {
		respondError(w, err)
		return
	}
	q, ctx, cancel, err := a.querier(r, tenant)
	if err != nil {
		respondError(w, err)
		return
	}
	defer cancel()
	defer q.Close()
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	hints := &storage.LabelHints{Limit: limit}
	seen := map[string]struct{}{}
	var warnings annotations.Annotations
	for _, ms := range sets {
		vals, ws, err := get(ctx, q, hints, ms)
		if err != nil {
			respondError(w, &apiError{errExec, err})
			return
		}
		warnings.Merge(ws)
		for _, v := range vals {
			seen[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errors.New("results truncated due to limit"))
	}
	respond(w, out, warningStrings(warnings), nil)
}

func (a *API) labelNames(w http.ResponseWriter, r *http.Request, tenant string) {
	a.labelQuery(w, r, tenant, func(ctx context.Context, q storage.Querier, h *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, h, ms...)
	})
}

func (a *API) labelValues(w http.ResponseWriter, r *http.Request, tenant string) {
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, Prefix+"/api/v1/label/"), "/values")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		respondError(w, badData(fmt.Errorf("invalid label name: %q", name)))
		return
	}
	a.labelQuery(w, r, tenant, func(ctx context.Context, q storage.Querier, h *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, h, ms...)
	})
}

func (a *API) series(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, err := parseLimit(r)
	if err != nil {
		respondError(w, err)
		return
	}
	if len(r.Form["match[]"]) == 0 {
		respondError(w, badData(errors.New("no match[] parameter provided")))
		return
	}
	sets, err := parseMatchers(r.Form["match[]"])
	if err != nil {
		respondError(w, err)
		return
	}
	q, ctx, cancel, err := a.querier(r, tenant)
	if err != nil {
		respondError(w, err)
		return
	}
	defer cancel()
	defer q.Close()
	start, end, _ := parseRange(r)
	hints := &storage.SelectHints{Start: timestamp.FromTime(start), End: timestamp.FromTime(end), Func: "series", Limit: limit}
	var ss []storage.SeriesSet
	for _, ms := range sets {
		ss = append(ss, q.Select(ctx, len(sets) > 1, hints, ms...))
	}
	set := ss[0]
	if len(ss) > 1 {
		set = storage.NewMergeSeriesSet(ss, 0, storage.ChainedSeriesMerge)
	}
	out := []labels.Labels{}
	var warnings annotations.Annotations
	for set.Next() {
		if limit > 0 && len(out) >= limit {
			warnings.Add(errors.New("results truncated due to limit"))
			break
		}
		out = append(out, set.At().Labels())
	}
	warnings.Merge(set.Warnings())
	if err := set.Err(); err != nil {
		respondError(w, &apiError{errExec, err})
		return
	}
	respond(w, out, warningStrings(warnings), nil)
}

// metadataEntry is one family's entry in /api/v1/metadata.
type metadataEntry struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

func (a *API) metadata(w http.ResponseWriter, r *http.Request, tenant string) {
	limit, err := parseLimit(r)
	if err != nil {
		respondError(w, err)
		return
	}
	// silt keeps one entry per family, so any limit_per_metric is met.
	if s := r.FormValue("limit_per_metric"); s != "" {
		if _, err := strconv.Atoi(s); err != nil {
			respondError(w, badData(errors.New("limit_per_metric must be a number")))
			return
		}
	}
	md := a.m.Metadata(tenant)
	names := make([]string, 0, len(md))
	for name := range md {
		if metric := r.FormValue("metric"); metric == "" || metric == name {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if limit > 0 && len(names) > limit {
		names = names[:limit]
	}
	out := make(map[string][]metadataEntry, len(names))
	for _, name := range names {
		m := md[name]
		out[name] = []metadataEntry{{Type: m.Type, Help: m.Help, Unit: m.Unit}}
	}
	respond(w, out, nil, nil)
}

func (a *API) listRules(w http.ResponseWriter, r *http.Request, tenant string) {
	if t := r.FormValue("type"); t != "" && t != "record" && t != "alert" {
		respondError(w, badData(fmt.Errorf("not supported value %q", t)))
		return
	}
	groups := []ruleGroupStatus{}
	if a.rules != nil && r.FormValue("type") != "alert" {
		groups = a.rules.status(tenant)
	}
	respond(w, map[string]any{"groups": groups}, nil, nil)
}
