package search

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/siltlog/silt/ingest"
)

// API serves the Loki HTTP query API that Grafana calls.
type API struct {
	s      *Searcher
	tenant func(*http.Request) (string, error)
	now    func() time.Time
}

// NewAPI returns the Loki query API over s; tenant resolves a request's tenant.
func NewAPI(s *Searcher, tenant func(*http.Request) (string, error)) *API {
	return &API{s: s, tenant: tenant, now: time.Now}
}

// Routes lists the API's endpoints for the server to mount: Loki's and the
// native search endpoints (native.go).
func (a *API) Routes() []ingest.Route {
	const p = "/loki/api/v1"
	rs := []ingest.Route{}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		rs = append(rs,
			ingest.Route{Method: m, Path: p + "/labels", Handler: a.handle(a.labels)},
			ingest.Route{Method: m, Path: p + "/label/{name}/values", Handler: a.handle(a.labelValues)},
			ingest.Route{Method: m, Path: p + "/series", Handler: a.handle(a.series)},
			ingest.Route{Method: m, Path: p + "/query", Handler: a.handle(a.query)},
			ingest.Route{Method: m, Path: p + "/query_range", Handler: a.handle(a.queryRange)},
			ingest.Route{Method: m, Path: p + "/index/stats", Handler: http.HandlerFunc(a.indexStats)},
			ingest.Route{Method: m, Path: p + "/index/volume", Handler: a.handle(a.volume(false))},
			ingest.Route{Method: m, Path: p + "/index/volume_range", Handler: a.handle(a.volume(true))},
			ingest.Route{Method: m, Path: p + "/format_query", Handler: a.handle(a.formatQuery)},
			ingest.Route{Method: m, Path: p + "/detected_labels", Handler: http.HandlerFunc(a.detectedLabels)},
			ingest.Route{Method: m, Path: p + "/detected_fields", Handler: http.HandlerFunc(a.detectedFields)},
			ingest.Route{Method: m, Path: p + "/detected_field/{name}/values", Handler: http.HandlerFunc(a.detectedFields)},
			ingest.Route{Method: m, Path: p + "/patterns", Handler: a.handle(a.patterns)},
		)
	}
	rs = append(rs, ingest.Route{Method: http.MethodGet, Path: p + "/tail", Handler: http.HandlerFunc(a.tail)})
	return append(rs, a.nativeRoutes()...)
}

// apiError is an error with the HTTP status to answer.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// handle resolves the tenant, parses the form, runs h and writes Loki's
// {"status":"success","data":...} envelope, or an error as Loki does.
func (a *API) handle(h func(r *http.Request, tenant string) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.raw(w, r, func(r *http.Request, tenant string) (any, error) {
			data, err := h(r, tenant)
			if err != nil {
				return nil, err
			}
			return map[string]any{"status": "success", "data": data}, nil
		})
	})
}

func writeAPIError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if e, ok := err.(*apiError); ok {
		status = e.status
	} else if e, ok := err.(*ingest.Error); ok {
		status = e.Status
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(err.Error() + "\n"))
}

// timeRange reads start and end as Loki does: ns integers, float seconds or
// RFC 3339; end defaults to now and start to end minus since (default 6h).
func (a *API) timeRange(r *http.Request) (int64, int64, error) {
	end, err := parseTime(r.Form.Get("end"), a.now().UnixNano())
	if err != nil {
		return 0, 0, badRequest("end: %v", err)
	}
	since := 6 * time.Hour
	if v := r.Form.Get("since"); v != "" {
		if since, err = time.ParseDuration(v); err != nil {
			return 0, 0, badRequest("since: %v", err)
		}
	}
	start, err := parseTime(r.Form.Get("start"), end-since.Nanoseconds())
	if err != nil {
		return 0, 0, badRequest("start: %v", err)
	}
	if end < start {
		return 0, 0, badRequest("end timestamp must not be before start time")
	}
	return start, end, nil
}

// parseTime parses a Loki API timestamp.
func parseTime(v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if len(v) <= 10 { // seconds, as Grafana sometimes sends
			return n * 1e9, nil
		}
		return n, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return int64(f * 1e9), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q: want ns, seconds or RFC 3339", v)
	}
	return t.UnixNano(), nil
}

// matchers parses the query (or match[]) stream selectors; several selectors
// of match[] are OR-ed, so each is returned on its own.
func matchers(r *http.Request) ([][]*labels.Matcher, error) {
	sels := r.Form["match[]"]
	if q := r.Form.Get("query"); q != "" {
		sels = append(sels, q)
	}
	var out [][]*labels.Matcher
	for _, s := range sels {
		ms, err := parser.ParseMetricSelector(strings.TrimSpace(s))
		if err != nil {
			return nil, badRequest("selector %q: %v", s, err)
		}
		out = append(out, ms)
	}
	return out, nil
}

func (a *API) streams(r *http.Request, tenant string) ([]labels.Labels, error) {
	start, end, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	sels, err := matchers(r)
	if err != nil {
		return nil, err
	}
	if len(sels) == 0 {
		return a.s.Streams(r.Context(), tenant, nil, start, end)
	}
	seen := map[string]bool{}
	var out []labels.Labels
	for _, ms := range sels {
		streams, err := a.s.Streams(r.Context(), tenant, ms, start, end)
		if err != nil {
			return nil, err
		}
		for _, ls := range streams {
			if k := ls.String(); !seen[k] {
				seen[k] = true
				out = append(out, ls)
			}
		}
	}
	return out, nil
}

func (a *API) labels(r *http.Request, tenant string) (any, error) {
	streams, err := a.streams(r, tenant)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, ls := range streams {
		ls.Range(func(l labels.Label) { set[l.Name] = true })
	}
	return sortedKeys(set), nil
}

func (a *API) labelValues(r *http.Request, tenant string) (any, error) {
	name := r.PathValue("name")
	if name == "" {
		name = pathParam(r.URL.Path, "/label/", "/values")
	}
	streams, err := a.streams(r, tenant)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, ls := range streams {
		if v := ls.Get(name); v != "" {
			set[v] = true
		}
	}
	return sortedKeys(set), nil
}

func (a *API) series(r *http.Request, tenant string) (any, error) {
	if len(r.Form["match[]"]) == 0 {
		return nil, badRequest("series needs at least one match[] selector")
	}
	streams, err := a.streams(r, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]string, 0, len(streams))
	for _, ls := range streams {
		out = append(out, ls.Map())
	}
	return out, nil
}

// pathParam returns the path segment between prefix and suffix.
func pathParam(path, prefix, suffix string) string {
	i := strings.Index(path, prefix)
	if i < 0 || !strings.HasSuffix(path, suffix) {
		return ""
	}
	return strings.TrimSuffix(path[i+len(prefix):], suffix)
}
