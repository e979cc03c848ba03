package ingest

import (
	"errors"
	"flag"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limits are the per-tenant ingestion limits, named after Loki's.
type Limits struct {
	IngestionRateMB        float64 `yaml:"ingestion_rate_mb"`
	IngestionBurstSizeMB   float64 `yaml:"ingestion_burst_size_mb"`
	MaxLineSize            int     `yaml:"max_line_size"`
	MaxLabelNamesPerSeries int     `yaml:"max_label_names_per_series"`
	// MaxLabelNamesPerMetricSeries is the same for remote_write series, which
	// carry more labels than log streams (Mimir allows 30).
	MaxLabelNamesPerMetricSeries int           `yaml:"max_label_names_per_metric_series"`
	MaxLabelNameLength           int           `yaml:"max_label_name_length"`
	MaxLabelValueLength          int           `yaml:"max_label_value_length"`
	RejectOldSamplesMaxAge       time.Duration `yaml:"reject_old_samples_max_age"`
	CreationGracePeriod          time.Duration `yaml:"creation_grace_period"`
}

// RegisterFlags registers the limits under -limits.*.
func (l *Limits) RegisterFlags(f *flag.FlagSet) {
	f.Float64Var(&l.IngestionRateMB, "limits.ingestion-rate-mb", 64, "Per-tenant ingestion rate in MB/s of log lines (0 = unlimited).")
	f.Float64Var(&l.IngestionBurstSizeMB, "limits.ingestion-burst-size-mb", 128, "Per-tenant ingestion burst in MB.")
	f.IntVar(&l.MaxLineSize, "limits.max-line-size", 256<<10, "Largest accepted log line in bytes.")
	f.IntVar(&l.MaxLabelNamesPerSeries, "limits.max-label-names-per-series", 15, "Most labels a stream may have.")
	f.IntVar(&l.MaxLabelNamesPerMetricSeries, "limits.max-label-names-per-metric-series", 30, "Most labels a metric series may have.")
	f.IntVar(&l.MaxLabelNameLength, "limits.max-label-name-length", 1024, "Longest label name.")
	f.IntVar(&l.MaxLabelValueLength, "limits.max-label-value-length", 2048, "Longest label value.")
	f.DurationVar(&l.RejectOldSamplesMaxAge, "limits.reject-old-samples-max-age", 7*24*time.Hour, "Reject entries older than this (0 = accept any age).")
	f.DurationVar(&l.CreationGracePeriod, "limits.creation-grace-period", 10*time.Minute, "Reject entries newer than now plus this.")
}

// Validate reports the first limit that cannot work.
func (l *Limits) Validate() error {
	switch {
	case l.IngestionRateMB < 0 || l.IngestionBurstSizeMB < 0:
		return errors.New("limits: ingestion rate and burst must not be negative")
	case l.IngestionRateMB > 0 && l.IngestionBurstSizeMB < l.IngestionRateMB:
		return errors.New("limits: ingestion-burst-size-mb must be at least ingestion-rate-mb")
	case l.MaxLineSize <= 0 || l.MaxLabelNamesPerSeries <= 0 || l.MaxLabelNamesPerMetricSeries <= 0 || l.MaxLabelNameLength <= 0 || l.MaxLabelValueLength <= 0:
		return errors.New("limits: max line size and label limits must be positive")
	case l.RejectOldSamplesMaxAge < 0 || l.CreationGracePeriod < 0:
		return errors.New("limits: ages must not be negative")
	}
	return nil
}

// rateLimiters holds one token bucket (bytes) per tenant.
type rateLimiters struct {
	limits Limits
	mu     sync.Mutex
	byID   map[string]*rate.Limiter // guarded by mu
}

// allow takes n bytes from tenant's bucket. When it cannot, it returns how long
// until it could.
func (r *rateLimiters) allow(tenant string, n int, now time.Time) (bool, time.Duration) {
	if r.limits.IngestionRateMB == 0 {
		return true, 0
	}
	r.mu.Lock()
	lim, ok := r.byID[tenant]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(r.limits.IngestionRateMB*1e6), int(r.limits.IngestionBurstSizeMB*1e6))
		r.byID[tenant] = lim
	}
	r.mu.Unlock()
	if n > lim.Burst() {
		return false, 0
	}
	res := lim.ReserveN(now, n)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}
