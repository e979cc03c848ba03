package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/metrics"
	"github.com/siltlog/silt/search"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/groups"
	"github.com/siltlog/silt/segments/topics"
	"github.com/siltlog/silt/ui"
)

const tenantKey = "tenant"

// api holds the HTTP handlers of silt's native API.
type api struct {
	cfg      Config
	store    *topics.Store
	picker   *topics.Picker
	logger   *slog.Logger
	ready    func() bool
	draining <-chan struct{} // closed at shutdown; ends long polls
	ingest   *ingest.Distributor
	search   *search.API
	promAPI  *metrics.API // nil when -metrics.enabled=false
	groups   *groups.Store
	httpAddr func() string // the address HTTP listens on, once started
	cluster  *clusterNode  // nil in single-node mode
}

// newRouter builds the echo router with every route.
func newRouter(a *api, reg *prometheus.Registry, m *httpMetrics) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.handleError
	e.Use(m.middleware, a.recoverMiddleware)

	e.GET("/ready", a.handleReady)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	// Go's profiler, as Loki and Prometheus serve it.
	e.GET("/debug/pprof/*", echo.WrapHandler(http.HandlerFunc(pprof.Index)))
	e.GET("/debug/pprof/cmdline", echo.WrapHandler(http.HandlerFunc(pprof.Cmdline)))
	e.GET("/debug/pprof/profile", echo.WrapHandler(http.HandlerFunc(pprof.Profile)))
	e.GET("/debug/pprof/symbol", echo.WrapHandler(http.HandlerFunc(pprof.Symbol)))
	e.GET("/debug/pprof/trace", echo.WrapHandler(http.HandlerFunc(pprof.Trace)))
	e.GET("/api/v1/status/buildinfo", a.handleBuildInfo)
	routes := append(a.ingest.Routes(), a.search.Routes()...)
	if a.promAPI != nil {
		routes = append(routes, a.promAPI.Routes()...)
	}
	for _, r := range routes {
		h := r.Handler
		switch {
		case r.Method == http.MethodGet && r.Path == "/":
			h = ui.Root(h) // browsers get the UI, Elasticsearch clients their probe answer
		case r.Method == http.MethodGet && r.Path == "/loki/api/v1/tail":
			h = ui.TenantFromQuery(h) // a browser's WebSocket cannot send headers
		}
		e.Add(r.Method, echoPath(r.Path), echo.WrapHandler(h))
	}
	uiFiles := echo.WrapHandler(ui.Handler())
	e.GET(strings.TrimSuffix(ui.Prefix, "/"), uiFiles)
	e.GET(ui.Prefix+"*", uiFiles)
	e.HEAD(ui.Prefix+"*", uiFiles)
	e.GET("/loki/api/v1/status/buildinfo", a.handleBuildInfo)

	// Per-route middleware rather than a Group: an echo Group with middleware
	// answers 404 instead of 405 for a wrong method.
	const topics = "/api/v1/topics"
	e.GET(topics, a.handleListTopics, a.tenantMiddleware)
	e.POST(topics, a.handleCreateTopic, a.tenantMiddleware)
	e.GET(topics+"/:topic", a.handleGetTopic, a.tenantMiddleware)
	e.DELETE(topics+"/:topic", a.handleDeleteTopic, a.tenantMiddleware)
	e.GET(topics+"/:topic/config", a.handleGetTopicConfig, a.tenantMiddleware)
	e.PATCH(topics+"/:topic/config", a.handleSetTopicConfig, a.tenantMiddleware)
	e.PUT(topics+"/:topic/config", a.handleSetTopicConfig, a.tenantMiddleware)
	e.POST(topics+"/:topic/records", a.handleProduce, a.tenantMiddleware)
	e.GET(topics+"/:topic/partitions/:partition/records", a.handleConsume, a.tenantMiddleware)
	e.GET("/api/v1/cluster", a.handleCluster, a.tenantMiddleware)
	e.GET("/api/v1/cluster/partitions", a.handleClusterPartitions, a.tenantMiddleware)
	// dskit's status pages, at the paths Loki and Mimir use.
	e.GET("/ring", a.handleRingPage)
	e.POST("/ring", a.handleRingPage) // the page's "forget" button
	e.GET("/memberlist", a.handleMemberlistPage)
	e.GET("/api/v1/locate", a.handleLocate, a.tenantMiddleware)
	const groupsPath = "/api/v1/groups"
	e.GET(groupsPath, a.handleListGroups, a.tenantMiddleware)
	e.GET(groupsPath+"/:group", a.handleGetGroup, a.tenantMiddleware)
	e.POST(groupsPath+"/:group/commit", a.handleCommitGroup, a.tenantMiddleware)
	e.DELETE(groupsPath+"/:group", a.handleDeleteGroup, a.tenantMiddleware)
	return e
}

// errorBody is every error response: {"error": "..."}.
type errorBody struct {
	Error string `json:"error"`
}

func httpErrorf(code int, format string, args ...any) *echo.HTTPError {
	return echo.NewHTTPError(code, fmt.Sprintf(format, args...))
}

// statusOf maps domain errors to HTTP status codes.
func statusOf(err error) int {
	switch {
	case errors.Is(err, topics.ErrTopicNotFound), errors.Is(err, topics.ErrPartitionNotFound):
		return http.StatusNotFound
	case errors.Is(err, topics.ErrTopicExists):
		return http.StatusConflict
	case errors.Is(err, topics.ErrInvalidTopicName), errors.Is(err, topics.ErrInvalidTenantID),
		errors.Is(err, topics.ErrInvalidTopic), errors.Is(err, topics.ErrBuiltinTopic),
		errors.Is(err, segments.ErrInvalidBatch), errors.Is(err, groups.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, segments.ErrOffsetOutOfRange):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.Is(err, topics.ErrNotRunning), errors.Is(err, segments.ErrClosed), errors.Is(err, groups.ErrNotRunning):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (a *api) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := statusOf(err), err.Error()
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code, msg = he.Code, fmt.Sprint(he.Message)
	}
	if code >= 500 {
		a.logger.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "status", code, "err", err)
	}
	if code == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "1")
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	_ = c.JSON(code, errorBody{Error: msg})
}

// tenantMiddleware resolves the request's tenant: X-Scope-OrgID when auth is
// enabled (401 without it), else the single tenant "fake".
func (a *api) tenantMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tenant, err := ingest.TenantFromRequest(c.Request(), a.cfg.AuthEnabled)
		if err != nil {
			e := ingest.AsError(err)
			return httpErrorf(e.Status, "%s", e.Msg)
		}
		c.Set(tenantKey, tenant)
		return next(c)
	}
}

// recoverMiddleware turns a handler panic into a 500 so one bad request
// cannot take the process down.
func (a *api) recoverMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				a.logger.Error("handler panic", "path", c.Request().URL.Path, "panic", r, "stack", string(debug.Stack()))
				err = httpErrorf(http.StatusInternalServerError, "internal error: %v", r)
			}
		}()
		return next(c)
	}
}

func tenantOf(c echo.Context) string { return c.Get(tenantKey).(string) }

func (a *api) handleReady(c echo.Context) error {
	if !a.ready() {
		return c.String(http.StatusServiceUnavailable, "not ready: services are starting or stopping\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

func (a *api) handleBuildInfo(c echo.Context) error {
	return c.JSON(http.StatusOK, struct {
		Status string    `json:"status"`
		Data   BuildInfo `json:"data"`
	}{"success", currentBuildInfo()})
}

// decodeStrictJSON decodes exactly one JSON value with no unknown fields.
func decodeStrictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON body: unexpected data after the JSON object")
	}
	return nil
}

// readBody reads the request body up to the configured limit (413 beyond).
func (a *api) readBody(c echo.Context) ([]byte, error) {
	limit := a.cfg.Server.MaxRequestBodyBytes
	r := http.MaxBytesReader(c.Response(), c.Request().Body, limit)
	body, err := io.ReadAll(r)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, httpErrorf(http.StatusRequestEntityTooLarge,
			"request body exceeds the limit of %d bytes (-server.max-request-body-bytes); split it into smaller requests", limit)
	}
	if err != nil {
		return nil, httpErrorf(http.StatusBadRequest, "read request body: %v", err)
	}
	return body, nil
}

// echoPath turns a receiver's {name} path segments into echo's :name.
func echoPath(p string) string {
	return strings.NewReplacer("{", ":", "}", "").Replace(p)
}
