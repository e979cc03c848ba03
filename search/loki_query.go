package search

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/logql"
)

const categorizeLabels = "categorize-labels"

// queryRange answers /loki/api/v1/query_range: a log query's streams or a
// metric query's matrix.
func (a *API) queryRange(r *http.Request, tenant string) (any, error) {
	start, end, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	p := logql.QueryParams{Query: r.Form.Get("query"), Start: start, End: end}
	if p.Step, err = parseStep(r.Form.Get("step"), start, end); err != nil {
		return nil, err
	}
	if v := r.Form.Get("interval"); v != "" {
		if p.Interval, err = parseDurationOrSeconds(v); err != nil {
			return nil, badRequest("interval: %v", err)
		}
	}
	if err := queryOptions(r, &p); err != nil {
		return nil, err
	}
	return a.run(r, tenant, p)
}

// query answers /loki/api/v1/query: an instant query at time (default now).
func (a *API) query(r *http.Request, tenant string) (any, error) {
	at, err := parseTime(r.Form.Get("time"), a.now().UnixNano())
	if err != nil {
		return nil, badRequest("time: %v", err)
	}
	p := logql.QueryParams{Query: r.Form.Get("query"), Start: at, End: at, Instant: true}
	if err := queryOptions(r, &p); err != nil {
		return nil, err
	}
	return a.run(r, tenant, p)
}

func queryOptions(r *http.Request, p *logql.QueryParams) error {
	if p.Query == "" {
		return badRequest("query is empty: pass a LogQL expression in query=")
	}
	p.Direction = logql.Backward
	switch strings.ToLower(r.Form.Get("direction")) {
	case "", "backward":
	case "forward":
		p.Direction = logql.Forward
	default:
		return badRequest("direction must be forward or backward, got %q", r.Form.Get("direction"))
	}
	if v := r.Form.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("limit must be a non-negative integer, got %q", v)
		}
		p.Limit = n
	}
	return nil
}

func (a *API) run(r *http.Request, tenant string, p logql.QueryParams) (any, error) {
	res, err := a.engine(tenant).Query(r.Context(), p)
	if err != nil {
		var pe *logql.ParseError
		if errors.As(err, &pe) {
			return nil, badRequest("parse error at line %d, col %d: %s", pe.Line, pe.Col, pe.Msg)
		}
		return nil, &apiError{status: http.StatusBadRequest, msg: err.Error()}
	}
	categorize := strings.Contains(r.Header.Get("X-Loki-Response-Encoding-Flags"), categorizeLabels)
	return encodeResult(res, categorize), nil
}

func (a *API) engine(tenant string) *logql.Engine {
	return logql.NewEngine(a.s.Querier(tenant), logql.EngineOpts{MaxEntriesLimit: 5000})
}

// encodeResult lays a result out as Loki's API does.
func encodeResult(res logql.Result, categorize bool) map[string]any {
	data := map[string]any{"resultType": res.Type, "stats": map[string]any{}}
	switch res.Type {
	case logql.ResultStreams:
		data["result"] = encodeStreams(res.Streams, categorize)
		if categorize {
			data["encodingFlags"] = []string{categorizeLabels}
		}
	case logql.ResultMatrix:
		out := make([]map[string]any, 0, len(res.Matrix))
		for _, s := range res.Matrix {
			values := make([][2]any, 0, len(s.Points))
			for _, p := range s.Points {
				values = append(values, point(p.T, p.V))
			}
			out = append(out, map[string]any{"metric": labelMap(s.Labels), "values": values})
		}
		data["result"] = out
	case logql.ResultVector:
		out := make([]map[string]any, 0, len(res.Vector))
		for _, s := range res.Vector {
			out = append(out, map[string]any{"metric": labelMap(s.Labels), "value": point(s.T, s.V)})
		}
		data["result"] = out
	case logql.ResultScalar:
		if res.Scalar != nil {
			data["result"] = point(res.Scalar.T, res.Scalar.V)
		}
	}
	return data
}

func encodeStreams(streams []logql.Stream, categorize bool) []map[string]any {
	out := make([]map[string]any, 0, len(streams))
	for _, s := range streams {
		ls := s.Labels
		if categorize {
			ls = s.StreamLabels
		}
		values := make([][]any, 0, len(s.Entries))
		for _, e := range s.Entries {
			v := []any{strconv.FormatInt(e.Timestamp, 10), e.Line}
			if categorize && (!e.Metadata.IsEmpty() || !e.Parsed.IsEmpty()) {
				cat := map[string]any{}
				if !e.Metadata.IsEmpty() {
					cat["structuredMetadata"] = labelMap(e.Metadata)
				}
				if !e.Parsed.IsEmpty() {
					cat["parsed"] = labelMap(e.Parsed)
				}
				v = append(v, cat)
			}
			values = append(values, v)
		}
		out = append(out, map[string]any{"stream": labelMap(ls), "values": values})
	}
	return out
}

func labelMap(ls labels.Labels) map[string]string {
	m := ls.Map()
	if m == nil {
		m = map[string]string{}
	}
	return m
}

// point is Prometheus' [seconds, "value"] pair.
func point(ms int64, v float64) [2]any {
	return [2]any{float64(ms) / 1e3, strconv.FormatFloat(v, 'f', -1, 64)}
}

// parseStep reads step as a duration or float seconds; by default Loki picks
// about 250 points over the range, at least one second apart.
func parseStep(v string, start, end int64) (time.Duration, error) {
	if v == "" {
		secs := math.Max(math.Floor(float64(end-start)/1e9/250), 1)
		return time.Duration(secs) * time.Second, nil
	}
	d, err := parseDurationOrSeconds(v)
	if err != nil {
		return 0, badRequest("step: %v", err)
	}
	if d <= 0 {
		return 0, badRequest("zero or negative query resolution step widths are not accepted. Try a positive integer")
	}
	return d, nil
}

func parseDurationOrSeconds(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(f * float64(time.Second)), nil
	}
	return time.ParseDuration(v)
}
