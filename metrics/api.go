package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/siltlog/silt/ingest"
)

// Prefix is where the Prometheus API is mounted: Grafana's Prometheus data
// source URL is http://<silt>:3100/prometheus (as for Mimir and
// VictoriaMetrics), so that silt's own /api/v1/* routes do not clash.
const Prefix = "/prometheus"

// Strong reads: either asks the query to wait until every partition has
// applied its log's end offset instead of refusing when a replica lags.
const (
	ReadConsistencyHeader = "X-Read-Consistency"
	ReadConsistencyParam  = "read_consistency"
	ReadConsistencyStrong = "strong"
)

// BuildInfo is the data of /api/v1/status/buildinfo. It has no features
// field: with one, Grafana takes the data source for Mimir.
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// API serves the Prometheus HTTP API over a tenant's materialised metrics.
type API struct {
	cfg    Config
	m      *Materialiser
	engine *promql.Engine
	tenant func(*http.Request) (string, error)
	build  BuildInfo
	rules  *Rules
}

// NewAPI returns the API. build.Version should be the Prometheus version
// whose PromQL silt embeds (PrometheusVersion), so Grafana enables what
// that version supports. reg may be nil.
func NewAPI(cfg Config, m *Materialiser, tenant func(*http.Request) (string, error), build BuildInfo, logger *slog.Logger, reg prometheus.Registerer) *API {
	return &API{cfg: cfg, m: m, engine: newEngine(cfg, logger, reg), tenant: tenant, build: build}
}

func newEngine(cfg Config, logger *slog.Logger, reg prometheus.Registerer) *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		Logger:               logger.With("component", "promql"),
		Reg:                  reg,
		MaxSamples:           cfg.MaxSamples,
		Timeout:              cfg.QueryTimeout,
		LookbackDelta:        cfg.LookbackDelta,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
}

// WithRules makes /api/v1/rules list rules' groups.
func (a *API) WithRules(r *Rules) *API { a.rules = r; return a }

// Engine is the PromQL engine, shared with recording rules.
func (a *API) Engine() *promql.Engine { return a.engine }

// PrometheusVersion is the Prometheus release whose packages silt embeds
// (module v0.310.0 is Prometheus 3.10.0), "3.0.0" when unknown.
func PrometheusVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != "github.com/prometheus/prometheus" {
				continue
			}
			// Prometheus 3.M.P is module v0.3MM.P (v0.310.0 is 3.10.0).
			v := strings.TrimPrefix(d.Version, "v0.")
			parts := strings.SplitN(v, ".", 2)
			if len(parts) == 2 && len(parts[0]) == 3 && parts[0][0] == '3' {
				minor := strings.TrimLeft(parts[0][1:], "0")
				if minor == "" {
					minor = "0"
				}
				return "3." + minor + "." + strings.SplitN(parts[1], "-", 2)[0]
			}
		}
	}
	return "3.0.0"
}

// Routes lists the endpoints, GET and form POST each, under Prefix.
func (a *API) Routes() []ingest.Route {
	var rs []ingest.Route
	add := func(path string, h func(http.ResponseWriter, *http.Request, string), methods ...string) {
		for _, m := range methods {
			rs = append(rs, ingest.Route{Method: m, Path: Prefix + "/api/v1" + path, Handler: a.wrap(h)})
		}
	}
	both := []string{http.MethodGet, http.MethodPost}
	add("/query", a.query, both...)
	add("/query_range", a.queryRange, both...)
	add("/format_query", a.formatQuery, both...)
	add("/labels", a.labelNames, both...)
	add("/label/{name}/values", a.labelValues, http.MethodGet)
	add("/series", a.series, both...)
	add("/metadata", a.metadata, http.MethodGet)
	add("/query_exemplars", a.exemplars, both...)
	add("/rules", a.listRules, http.MethodGet)
	add("/status/buildinfo", a.buildInfo, http.MethodGet)
	return rs
}

// wrap parses the form and resolves the tenant.
func (a *API) wrap(h func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, err := a.tenant(r)
		if err != nil {
			ingest.WriteError(w, err)
			return
		}
		if err := r.ParseForm(); err != nil {
			respondError(w, badData(errors.New("error parsing form values: "+err.Error())))
			return
		}
		h(w, r, tenant)
	})
}

// queryable is the tenant's storage for this request, honouring strong reads.
func (a *API) queryable(ctx context.Context, r *http.Request, tenant string) (storage.Queryable, error) {
	strong := strings.EqualFold(r.Header.Get(ReadConsistencyHeader), ReadConsistencyStrong) ||
		strings.EqualFold(r.FormValue(ReadConsistencyParam), ReadConsistencyStrong)
	return a.m.Queryable(ctx, tenant, strong)
}

// queryContext applies the timeout parameter (never past the engine's).
func (a *API) queryContext(r *http.Request) (context.Context, context.CancelFunc, error) {
	timeout := a.cfg.QueryTimeout
	if s := r.FormValue("timeout"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, nil, invalidParam(err, "timeout")
		}
		timeout = min(timeout, d)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, nil
}

// queryData is the data of a query answer.
type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     parser.Value     `json:"result"`
}

func (a *API) query(w http.ResponseWriter, r *http.Request, tenant string) {
	ts, err := parseTimeParam(r, "time", time.Now())
	if err != nil {
		respondError(w, err)
		return
	}
	a.exec(w, r, tenant, func(ctx context.Context, q storage.Queryable, opts promql.QueryOpts) (queryRunner, error) {
		return a.newQuery(r.FormValue("query"), q, func(q storage.Queryable) (promql.Query, error) {
			return a.engine.NewInstantQuery(ctx, q, opts, r.FormValue("query"), ts)
		})
	})
}

func (a *API) queryRange(w http.ResponseWriter, r *http.Request, tenant string) {
	start, end, step, err := parseRangeQuery(r)
	if err != nil {
		respondError(w, err)
		return
	}
	a.exec(w, r, tenant, func(ctx context.Context, q storage.Queryable, opts promql.QueryOpts) (queryRunner, error) {
		return a.newQuery(r.FormValue("query"), q, func(q storage.Queryable) (promql.Query, error) {
			return a.engine.NewRangeQuery(ctx, q, opts, r.FormValue("query"), start, end, step)
		})
	})
}

// newQuery creates a query, sharded when it can be (shard.go).
func (a *API) newQuery(qs string, q storage.Queryable, newQuery newQueryFunc) (queryRunner, error) {
	shards := a.cfg.QueryShards
	if shards == 0 {
		shards = runtime.GOMAXPROCS(0)
	}
	return newShardedQuery(qs, shards, q, newQuery)
}

func parseRangeQuery(r *http.Request) (start, end time.Time, step time.Duration, err error) {
	if start, err = parseTime(r.FormValue("start")); err != nil {
		return start, end, 0, invalidParam(err, "start")
	}
	if end, err = parseTime(r.FormValue("end")); err != nil {
		return start, end, 0, invalidParam(err, "end")
	}
	if end.Before(start) {
		return start, end, 0, invalidParam(errors.New("end timestamp must not be before start time"), "end")
	}
	if step, err = parseDuration(r.FormValue("step")); err != nil {
		return start, end, 0, invalidParam(err, "step")
	}
	if step <= 0 {
		return start, end, 0, invalidParam(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step")
	}
	if end.Sub(start)/step > 11000 {
		return start, end, 0, badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
	}
	return start, end, step, nil
}

// exec parses the query (a parse error is bad_data even while replicas
// lag), then runs it over the tenant's storage and answers.
func (a *API) exec(w http.ResponseWriter, r *http.Request, tenant string,
	newQuery func(context.Context, storage.Queryable, promql.QueryOpts) (queryRunner, error)) {
	qs := r.FormValue("query")
	if _, err := parser.ParseExpr(qs); err != nil {
		respondError(w, invalidParam(err, "query"))
		return
	}
	var lookback time.Duration
	if s := r.FormValue("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			respondError(w, badData(errors.New("error parsing lookback delta duration: "+err.Error())))
			return
		}
		lookback = d
	}
	ctx, cancel, err := a.queryContext(r)
	if err != nil {
		respondError(w, err)
		return
	}
	defer cancel()
	q, err := a.queryable(ctx, r, tenant)
	if err != nil {
		respondError(w, err)
		return
	}
	qry, err := newQuery(ctx, q, promql.NewPrometheusQueryOpts(false, lookback))
	if err != nil {
		respondError(w, invalidParam(err, "query"))
		return
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		respondError(w, res.Err)
		return
	}
	warnings, infos := res.Warnings.AsStrings(qs, 10, 10)
	respond(w, queryData{ResultType: res.Value.Type(), Result: res.Value}, warnings, infos)
}

func (a *API) formatQuery(w http.ResponseWriter, r *http.Request, _ string) {
	expr, err := parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		respondError(w, invalidParam(err, "query"))
		return
	}
	respond(w, expr.Pretty(0), nil, nil)
}

// exemplars answers an empty list: silt does not store exemplars.
func (a *API) exemplars(w http.ResponseWriter, r *http.Request, _ string) {
	if _, _, err := parseRange(r); err != nil {
		respondError(w, err)
		return
	}
	if _, err := parser.ParseExpr(r.FormValue("query")); err != nil {
		respondError(w, badData(err))
		return
	}
	respond(w, []struct{}{}, nil, nil)
}

func (a *API) buildInfo(w http.ResponseWriter, _ *http.Request, _ string) {
	respond(w, a.build, nil, nil)
}

func warningStrings(ws annotations.Annotations) []string {
	s, _ := ws.AsStrings("", 10, 0)
	return s
}
