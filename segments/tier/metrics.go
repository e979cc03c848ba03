package tier

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cold tier's transfer and cache metrics. Bytes and segments per
// tier come from the partition logs (topics.Store collects them).
type metrics struct {
	uploadBytes      prometheus.Counter
	uploadDuration   prometheus.Histogram
	uploadFailures   prometheus.Counter
	uploads          prometheus.Counter
	deletes          prometheus.Counter
	deleteFailures   prometheus.Counter
	downloadBytes    prometheus.Counter
	downloadDuration prometheus.Histogram
	downloadFailures prometheus.Counter
	cacheHits        prometheus.Counter
	cacheMisses      prometheus.Counter
	cacheBytes       prometheus.Gauge
	cacheEvictions   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "silt", Subsystem: "tier", Name: name, Help: help})
	}
	m := &metrics{
		uploadBytes: counter("upload_bytes_total", "Bytes uploaded to the cold tier (segments, indexes and meta.json)."),
		uploadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "silt", Subsystem: "tier", Name: "upload_duration_seconds",
			Help:    "Time to upload one segment attempt, rate limiting included.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
		uploadFailures: counter("upload_failures_total", "Upload attempts that failed (they are deleted and retried)."),
		uploads:        counter("uploads_total", "Segments uploaded to the cold tier."),
		deletes:        counter("deletes_total", "Upload attempts whose objects were deleted (retention or cleanup)."),
		deleteFailures: counter("delete_failures_total", "Failed deletions of an attempt's objects (retried)."),
		downloadBytes:  counter("download_bytes_total", "Bytes read from the cold tier by ranged reads."),
		downloadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "silt", Subsystem: "tier", Name: "download_duration_seconds",
			Help:    "Time to fetch one chunk from the cold tier.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		downloadFailures: counter("download_failures_total", "Failed ranged reads from the cold tier."),
		cacheHits:        counter("cache_hits_total", "Chunk reads served by the on-disk cache."),
		cacheMisses:      counter("cache_misses_total", "Chunk reads that had to fetch from the bucket."),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "silt", Subsystem: "tier", Name: "cache_bytes", Help: "Bytes of chunks in the on-disk cache.",
		}),
		cacheEvictions: counter("cache_evictions_total", "Chunks evicted from the on-disk cache."),
	}
	if reg != nil {
		reg.MustRegister(m.uploadBytes, m.uploadDuration, m.uploadFailures, m.uploads, m.deletes, m.deleteFailures,
			m.downloadBytes, m.downloadDuration, m.downloadFailures, m.cacheHits, m.cacheMisses, m.cacheBytes, m.cacheEvictions)
	}
	return m
}
