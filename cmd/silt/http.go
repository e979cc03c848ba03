package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// httpService serves silt's HTTP interface as a dskit service. The listener
// opens in starting (so a taken port fails startup), requests are served
// while running, and stopping ends long polls then shuts down gracefully.
type httpService struct {
	services.Service

	cfg     ServerConfig
	handler http.Handler
	logger  *slog.Logger

	srv      *http.Server
	draining chan struct{} // closed when shutdown begins; long polls return early
	serveErr chan error    // Serve's result

	mu sync.Mutex
	ln net.Listener // guarded by mu; set in starting
}

func newHTTPService(cfg ServerConfig, handler http.Handler, draining chan struct{}, logger *slog.Logger) *httpService {
	h := &httpService{
		cfg:      cfg,
		handler:  handler,
		logger:   logger,
		draining: draining,
		serveErr: make(chan error, 1),
	}
	h.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	h.Service = services.NewBasicService(h.starting, h.running, h.stopping).WithName("server")
	return h
}

func (h *httpService) starting(context.Context) error {
	ln, err := net.Listen("tcp", h.cfg.HTTPListenAddress)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", h.cfg.HTTPListenAddress, err)
	}
	h.mu.Lock()
	h.ln = ln
	h.mu.Unlock()
	h.logger.Info("HTTP server listening", "addr", ln.Addr().String())
	// Serve from here on, so stopping always has a Serve to wait for; /ready
	// answers 503 until every service is running.
	go func() { h.serveErr <- h.srv.Serve(ln) }()
	return nil
}

func (h *httpService) running(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-h.serveErr:
		h.serveErr <- err // let stopping see it too
		return fmt.Errorf("HTTP server: %w", err)
	}
}

func (h *httpService) stopping(failure error) error {
	close(h.draining)
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.GracefulShutdownTimeout)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("graceful shutdown timed out after %s: %w", h.cfg.GracefulShutdownTimeout, h.srv.Close())
	}
	if failure == nil {
		// Serve has not failed, so it is still to report.
		if serr := <-h.serveErr; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	h.logger.Info("HTTP server stopped")
	return err
}

// Addr is the address the server listens on, or "" before starting.
func (h *httpService) Addr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln == nil {
		return ""
	}
	return h.ln.Addr().String()
}

// httpMetrics are the request metrics of every route.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_http_requests_total",
			Help: "HTTP requests by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "silt_http_request_duration_seconds",
			Help:    "HTTP request latency by method, route template and status code.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route", "code"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// middleware records every request. It renders a handler's error itself so
// that the recorded status code is the one sent.
func (m *httpMetrics) middleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" || c.Response().Status == http.StatusNotFound && route == "/*" {
			route = "unmatched"
		}
		lv := []string{c.Request().Method, route, strconv.Itoa(c.Response().Status)}
		m.requests.WithLabelValues(lv...).Inc()
		m.duration.WithLabelValues(lv...).Observe(time.Since(start).Seconds())
		return nil
	}
}
