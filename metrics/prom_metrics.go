package metrics

import "github.com/prometheus/client_golang/prometheus"

// materialiserMetrics are the materialiser's Prometheus metrics.
type materialiserMetrics struct {
	lagRecords  *prometheus.GaugeVec
	lagSeconds  *prometheus.GaugeVec
	headSeries  *prometheus.GaugeVec
	samples     prometheus.Counter
	skipped     *prometheus.CounterVec
	invalid     prometheus.Counter
	applyErrors prometheus.Counter
	compactions prometheus.Histogram
	checkpoints prometheus.Counter
}

func newMaterialiserMetrics(reg prometheus.Registerer) *materialiserMetrics {
	m := &materialiserMetrics{
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_metrics_lag_records", Help: "Records of a metrics partition not yet applied to its TSDB.",
		}, []string{"tenant", "partition"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_metrics_lag_seconds", Help: "How long the oldest record not yet applied to the TSDB has been visible in the partition.",
		}, []string{"tenant", "partition"}),
		headSeries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_metrics_head_series", Help: "Series in the head (in-memory part) of a partition's TSDB.",
		}, []string{"tenant", "partition"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_metrics_samples_applied_total", Help: "Samples applied to the TSDBs.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silt_metrics_samples_skipped_total", Help: "Samples the TSDB refused, by reason (out_of_order, too_old, duplicate, invalid); replays count what blocks already hold as too_old.",
		}, []string{"reason"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_metrics_records_invalid_total", Help: "Records of the metrics topic that are neither samples nor metadata (skipped).",
		}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_metrics_apply_errors_total", Help: "Rounds that failed to apply records (they are retried).",
		}),
		compactions: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silt_metrics_compaction_duration_seconds", Help: "Time to compact a TSDB head into blocks.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		checkpoints: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_metrics_checkpoints_total", Help: "Resume offsets persisted after a block was written.",
		}),
	}
	for _, reason := range []string{"out_of_order", "too_old", "duplicate", "invalid"} {
		m.skipped.WithLabelValues(reason) // exported at 0 before the first skip
	}
	if reg != nil {
		reg.MustRegister(m.lagRecords, m.lagSeconds, m.headSeries, m.samples, m.skipped, m.invalid, m.applyErrors, m.compactions, m.checkpoints)
	}
	return m
}
