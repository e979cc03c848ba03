package segments

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the partition-log metrics, aggregated over every log that shares them.
type Metrics struct {
	appendedBatches prometheus.Counter
	appendedRecords prometheus.Counter
	appendedBytes   prometheus.Counter
	appendDuration  prometheus.Histogram
	fsyncDuration   prometheus.Histogram
	rolls           prometheus.Counter
	compactions     prometheus.Counter
	compactedIn     prometheus.Counter
	compactedOut    prometheus.Counter
	deletedSegments prometheus.Counter
	quarantined     prometheus.Counter
	writeFailures   prometheus.Counter
	readBytes       prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "silt", Subsystem: "segments", Name: name, Help: help})
	}
	m := &Metrics{
		appendedBatches: counter("appended_batches_total", "Record batches appended."),
		appendedRecords: counter("appended_records_total", "Records appended."),
		appendedBytes:   counter("appended_bytes_total", "Bytes of record batches appended."),
		appendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "silt", Subsystem: "segments", Name: "append_duration_seconds",
			Help:    "Time from append call to durable acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		fsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "silt", Subsystem: "segments", Name: "fsync_duration_seconds",
			Help:    "Duration of segment fsyncs.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		rolls:           counter("rolls_total", "Active segments sealed and replaced."),
		compactions:     counter("compactions_total", "Sealed raw segments compressed into warm segments."),
		compactedIn:     counter("compaction_input_bytes_total", "Raw bytes read by compaction."),
		compactedOut:    counter("compaction_output_bytes_total", "Compressed bytes written by compaction."),
		deletedSegments: counter("retention_deleted_segments_total", "Segments deleted by retention."),
		quarantined:     counter("quarantined_segments_total", "Segments moved to quarantine because they are damaged."),
		writeFailures:   counter("write_failures_total", "Failed writes or fsyncs; each leaves its log read-only until reopened."),
		readBytes:       counter("read_bytes_total", "Bytes of record batches read."),
	}
	if reg != nil {
		reg.MustRegister(m.appendedBatches, m.appendedRecords, m.appendedBytes, m.appendDuration,
			m.fsyncDuration, m.rolls, m.compactions, m.compactedIn, m.compactedOut,
			m.deletedSegments, m.quarantined, m.writeFailures, m.readBytes)
	}
	return m
}
