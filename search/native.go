package search

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/search/logql"
)

// The native API serves the web UI and the CLI. The query of /search, /hits
// and /facets is a LogQL log query, or with syntax=querystring a bleve query
// string (querystring.go).
const (
	defaultSearchLimit = 100
	maxSearchLimit     = 5000
	maxContextRecords  = 1000
)

// nativeRoutes lists /api/v1/search, /hits, /facets and /context.
func (a *API) nativeRoutes() []ingest.Route {
	const p = "/api/v1"
	return []ingest.Route{
		{Method: http.MethodGet, Path: p + "/search", Handler: a.native(a.search)},
		{Method: http.MethodGet, Path: p + "/hits", Handler: a.native(a.hits)},
		{Method: http.MethodGet, Path: p + "/facets", Handler: a.native(a.facets)},
		{Method: http.MethodGet, Path: p + "/context", Handler: a.native(a.context)},
	}
}

// native resolves the tenant, parses the form, runs h and writes its result
// as JSON, or an error as {"error": "..."} like the rest of /api/v1.
func (a *API) native(h func(r *http.Request, tenant string) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, err := a.tenant(r)
		if err == nil {
			err = r.ParseForm()
		}
		var out any
		if err == nil {
			out, err = h(r, tenant)
		}
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			status := http.StatusInternalServerError
			var ae *apiError
			var ie *ingest.Error
			switch {
			case errors.As(err, &ae):
				status = ae.status
			case errors.As(err, &ie):
				status = ie.Status
			case errors.Is(err, ErrTooManyEntries):
				status = http.StatusBadRequest
			}
			w.WriteHeader(status)
			out = map[string]string{"error": err.Error()}
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

// position is where an entry sits in a search's order: newest first, ties
// broken by topic, partition and offset, so the order is total and stable
// while records are appended.
type position struct {
	Timestamp int64  `json:"t"`
	Topic     string `json:"topic"`
	Partition int    `json:"p"`
	Offset    int64  `json:"o"`
}

// before reports whether p comes before q in a search's order.
func (p position) before(q position) bool {
	switch {
	case p.Timestamp != q.Timestamp:
		return p.Timestamp > q.Timestamp
	case p.Topic != q.Topic:
		return p.Topic < q.Topic
	case p.Partition != q.Partition:
		return p.Partition < q.Partition
	}
	return p.Offset < q.Offset
}

// encodeCursor and decodeCursor turn the position of the last entry a page
// returned into the opaque next_cursor and back.
func encodeCursor(p position) string {
	b, _ := json.Marshal(p)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*position, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var p position
	if err == nil {
		err = json.Unmarshal(b, &p)
	}
	if err != nil {
		return nil, badRequest("cursor %q is not one this server returned: pass next_cursor unchanged", s)
	}
	return &p, nil
}

// cursorQuerier selects the entries after a cursor in search order and
// remembers the position of the last entry the engine consumed: the engine
// stops reading as soon as it has its limit, so that entry is the last one
// returned, and the next page starts after it.
type cursorQuerier struct {
	s      *Searcher
	tenant string
	after  *position
	last   position
}

type positioned struct {
	entry logql.Entry
	pos   position
}

func (q *cursorQuerier) SelectLogs(ctx context.Context, p logql.SelectParams) (logql.EntryIterator, error) {
	filters, err := compileFilters(p.LineFilters)
	if err != nil {
		return nil, err
	}
	if q.after != nil {
		p.End = min(p.End, q.after.Timestamp+1)
	}
	sel := newSelection(p.Matchers)
	sel.p, sel.filters, sel.max = p, filters, q.s.cfg.MaxSelectEntries
	srcs, err := q.s.planSources(q.tenant, sel, p.Start, p.End)
	if err != nil {
		return nil, err
	}
	less := func(a, b *position) bool { return a.before(*b) }
	backward := p.Direction != logql.Forward
	if !backward {
		less = func(a, b *position) bool { return b.before(*a) }
	}
	it := newMergeIterator(ctx, sel, srcs, p.Start, p.End, backward, less)
	if q.after != nil {
		it.skip = func(pos position) bool { return !q.after.before(pos) }
	}
	it.onNext = func(pos position) { q.last = pos }
	return it, nil
}

// Query syntaxes of the native API.
const (
	syntaxLogQL       = "logql"
	syntaxQueryString = "querystring"
)

// nativeQuery is the query of /search, /hits or /facets: a LogQL log query
// or a query string.
type nativeQuery struct {
	text string
	le   *logql.LogExpr // syntax=logql
	qs   *qsQuery       // syntax=querystring
}

// parseNativeQuery parses the query form value in the syntax= (or mode=) the
// request names, LogQL by default.
func parseNativeQuery(r *http.Request) (*nativeQuery, error) {
	syntax, mode := r.Form.Get("syntax"), r.Form.Get("mode")
	if syntax != "" && mode != "" && syntax != mode {
		return nil, badRequest("syntax=%q and mode=%q disagree: pass one of them", syntax, mode)
	}
	if syntax == "" {
		syntax = mode
	}
	nq := &nativeQuery{text: r.Form.Get("query")}
	var err error
	switch syntax {
	case "", syntaxLogQL:
		nq.le, err = logQuery(r)
	case syntaxQueryString:
		if strings.TrimSpace(nq.text) == "" {
			return nil, badRequest(`query is empty: pass a query string such as level:error AND "connection refused"`)
		}
		if nq.qs, err = parseQueryString(nq.text); err != nil {
			err = badRequest("query: parse error at %v", err)
		}
	default:
		err = badRequest("syntax must be %s or %s, got %q", syntaxLogQL, syntaxQueryString, syntax)
	}
	return nq, err
}

// logQuery parses the query form value as a LogQL log query.
func logQuery(r *http.Request) (*logql.LogExpr, error) {
	q := r.Form.Get("query")
	if q == "" {
		return nil, badRequest("query is empty: pass a LogQL log query such as {app=\"api\"} |= \"error\"")
	}
	le, err := logql.ParseLogSelector(q)
	if err != nil {
		var pe *logql.ParseError
		if errors.As(err, &pe) {
			return nil, badRequest("query: parse error at line %d, col %d: %s", pe.Line, pe.Col, pe.Msg)
		}
		return nil, badRequest("query: %v", err)
	}
	return le, nil
}

func formInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.Form.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s must be an integer from %d to %d, got %q", name, lo, hi, v)
	}
	return n, nil
}

// searchEntry is one entry of /api/v1/search.
type searchEntry struct {
	Time      string            `json:"time"`
	Timestamp string            `json:"timestamp"` // ns, as a string like Loki's
	Labels    map[string]string `json:"labels"`
	Line      string            `json:"line"`
	Metadata  map[string]string `json:"metadata"`
	Parsed    map[string]string `json:"parsed,omitempty"`
}

// search answers /api/v1/search: up to limit entries, newest first, after
// cursor; next_cursor is empty once there is nothing more.
func (a *API) search(r *http.Request, tenant string) (any, error) {
	nq, err := parseNativeQuery(r)
	if err != nil {
		return nil, err
	}
	start, end, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	limit, err := formInt(r, "limit", defaultSearchLimit, 1, maxSearchLimit)
	if err != nil {
		return nil, err
	}
	after, err := decodeCursor(r.Form.Get("cursor"))
	if err != nil {
		return nil, err
	}
	q := &cursorQuerier{s: a.s, tenant: tenant, after: after}
	var entries []searchEntry
	if nq.qs != nil {
		entries, err = searchQueryString(r.Context(), q, nq.qs, start, end, limit)
	} else {
		entries, err = searchLogQL(r.Context(), q, nq, start, end, limit)
	}
	if err != nil {
		return nil, err
	}
	next := ""
	if len(entries) == limit {
		next = encodeCursor(q.last)
	}
	return map[string]any{"entries": entries, "next_cursor": next}, nil
}

func newSearchEntry(ts int64, stream labels.Labels, line string, metadata labels.Labels) searchEntry {
	return searchEntry{
		Time:      time.Unix(0, ts).UTC().Format(time.RFC3339Nano),
		Timestamp: strconv.FormatInt(ts, 10),
		Labels:    labelMap(stream), Line: line, Metadata: labelMap(metadata),
	}
}

// searchLogQL runs a LogQL search page through q: up to limit entries,
// newest first.
func searchLogQL(ctx context.Context, q *cursorQuerier, nq *nativeQuery, start, end int64, limit int) ([]searchEntry, error) {
	res, err := logql.NewEngine(q, logql.EngineOpts{MaxEntriesLimit: maxSearchLimit}).Exec(ctx, nq.le,
		logql.QueryParams{Query: nq.text, Start: start, End: end, Direction: logql.Backward, Limit: limit})
	if err != nil {
		return nil, err
	}
	entries := []searchEntry{}
	var ts []int64
	for _, s := range res.Streams {
		for _, e := range s.Entries {
			entries = append(entries, newSearchEntry(e.Timestamp, s.StreamLabels, e.Line, e.Metadata))
			ts = append(ts, e.Timestamp)
			if !e.Parsed.IsEmpty() {
				entries[len(entries)-1].Parsed = labelMap(e.Parsed)
			}
		}
	}
	idx := make([]int, len(entries))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return ts[idx[i]] > ts[idx[j]] })
	sorted := make([]searchEntry, len(entries))
	for i, k := range idx {
		sorted[i] = entries[k]
	}
	return sorted, nil
}

// searchQueryString runs a query-string search page through q: up to limit
// of the entries the pushed-down selection yields, newest first, that match
// the whole query.
func searchQueryString(ctx context.Context, q *cursorQuerier, qs *qsQuery, start, end int64, limit int) ([]searchEntry, error) {
	it, err := q.SelectLogs(ctx, qs.selectParams(start, end, logql.Backward))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	entries := []searchEntry{}
	for len(entries) < limit && it.Next() {
		if e := it.At(); qs.match(&e) {
			entries = append(entries, newSearchEntry(e.Timestamp, e.Labels, e.Line, e.Metadata))
		}
	}
	return entries, it.Err()
}

// matchAll returns every entry of [start, end) that matches a query, within
// -search.max-select-entries.
func (a *API) matchAll(ctx context.Context, tenant string, nq *nativeQuery, start, end int64) ([]logql.Stream, error) {
	q := &cursorQuerier{s: a.s, tenant: tenant}
	if nq.qs != nil {
		return matchQueryString(ctx, q, nq.qs, start, end)
	}
	res, err := logql.NewEngine(q, logql.EngineOpts{}).Exec(ctx, nq.le,
		logql.QueryParams{Query: nq.text, Start: start, End: end, Direction: logql.Forward, Limit: a.s.cfg.MaxSelectEntries})
	return res.Streams, err
}

// matchQueryString is matchAll for a query string: the matching entries in
// time order, as streams of equal labels (stream labels and structured
// metadata), as the LogQL engine groups them.
func matchQueryString(ctx context.Context, q *cursorQuerier, qs *qsQuery, start, end int64) ([]logql.Stream, error) {
	it, err := q.SelectLogs(ctx, qs.selectParams(start, end, logql.Forward))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	groups := map[string]*logql.Stream{}
	for it.Next() {
		e := it.At()
		if !qs.match(&e) {
			continue
		}
		b := labels.NewBuilder(e.Labels)
		e.Metadata.Range(func(l labels.Label) {
			if !e.Labels.Has(l.Name) {
				b.Set(l.Name, l.Value)
			}
		})
		full := b.Labels()
		s := groups[full.String()]
		if s == nil {
			s = &logql.Stream{Labels: full, StreamLabels: e.Labels}
			groups[full.String()] = s
		}
		s.Entries = append(s.Entries, logql.StreamEntry{Timestamp: e.Timestamp, Line: e.Line, Metadata: e.Metadata})
	}
	out := make([]logql.Stream, 0, len(groups))
	for _, s := range groups {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	return out, it.Err()
}

// selectParams is what a query string asks of the Searcher: its pushed-down
// stream matchers and line filters.
func (q *qsQuery) selectParams(start, end int64, dir logql.Direction) logql.SelectParams {
	return logql.SelectParams{Matchers: q.matchers, Start: start, End: end, Direction: dir, LineFilters: q.filters}
}

// match reports whether an entry satisfies the whole query string.
func (q *qsQuery) match(e *logql.Entry) bool {
	return q.root.match(&qsEntry{line: e.Line, labels: e.Labels, metadata: e.Metadata})
}
