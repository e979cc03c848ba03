package ingest

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the ingest metrics, per protocol and tenant.
type Metrics struct {
	requests  *prometheus.CounterVec
	lines     *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	discarded *prometheus.CounterVec
	refused   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "silt", Subsystem: "ingest", Name: "requests_total",
			Help: "Push requests by protocol, tenant and status code.",
		}, []string{"protocol", "tenant", "code"}),
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "silt", Subsystem: "ingest", Name: "lines_total",
			Help: "Log lines (or samples) accepted and durable.",
		}, []string{"protocol", "tenant"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "silt", Subsystem: "ingest", Name: "bytes_total",
			Help: "Bytes of log lines accepted and durable.",
		}, []string{"protocol", "tenant"}),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "silt", Subsystem: "ingest", Name: "discarded_lines_total",
			Help: "Log lines refused, by reason. A refused request refuses all its lines.",
		}, []string{"protocol", "tenant", "reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "silt", Subsystem: "ingest", Name: "discarded_requests_total",
			Help: "Push requests refused, by reason, including those refused before their lines were decoded.",
		}, []string{"protocol", "tenant", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "silt", Subsystem: "ingest", Name: "append_duration_seconds",
			Help:    "Time from a decoded push to its durable acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"protocol"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.lines, m.bytes, m.discarded, m.refused, m.duration)
	}
	return m
}

func (m *Metrics) observe(req *PushRequest, lines, size int, err error, took time.Duration) {
	if err != nil {
		reason := AsError(err).Reason
		m.discarded.WithLabelValues(req.Protocol, req.Tenant, reason).Add(float64(lines))
		m.refused.WithLabelValues(req.Protocol, req.Tenant, reason).Inc()
		return
	}
	m.lines.WithLabelValues(req.Protocol, req.Tenant).Add(float64(lines))
	m.bytes.WithLabelValues(req.Protocol, req.Tenant).Add(float64(size))
	m.duration.WithLabelValues(req.Protocol).Observe(took.Seconds())
}

// Reject counts a request refused before it was decoded into lines.
func (m *Metrics) Reject(protocol, tenant string, err error) {
	m.refused.WithLabelValues(protocol, tenant, AsError(err).Reason).Inc()
}

// Request counts one finished request.
func (m *Metrics) Request(protocol, tenant string, code int) {
	m.requests.WithLabelValues(protocol, tenant, strconv.Itoa(code)).Inc()
}
