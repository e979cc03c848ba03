package metrics

import (
	"errors"
	"flag"
	"time"
)

// Config configures the materialiser, the PromQL API and recording rules.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// PollInterval is how often new partitions are looked for, and the
	// longest a partition consumer sleeps without a wake-up.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxLag is the lag past which a replica refuses (non-strong) queries.
	MaxLag        time.Duration `yaml:"max_lag"`
	BlockDuration time.Duration `yaml:"tsdb_block_duration"`
	Retention     time.Duration `yaml:"tsdb_retention"`

	QueryTimeout  time.Duration `yaml:"query_timeout"`
	MaxSamples    int           `yaml:"query_max_samples"`
	LookbackDelta time.Duration `yaml:"query_lookback_delta"`
	// QueryShards is how many concurrent parts an aggregation of a
	// per-series expression is evaluated in (shard.go); 0 is one per CPU.
	QueryShards int `yaml:"query_shards"`

	RulesDir             string        `yaml:"rules_dir"`
	RulesDefaultInterval time.Duration `yaml:"rules_default_interval"`
	RulesReloadInterval  time.Duration `yaml:"rules_reload_interval"`
}

// RegisterFlags registers the metrics flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&c.Enabled, "metrics.enabled", true, "Materialise the metrics topic into an embedded Prometheus TSDB per partition and serve PromQL under /prometheus.")
	f.DurationVar(&c.PollInterval, "metrics.poll-interval", time.Second, "How often new metrics partitions are looked for.")
	f.DurationVar(&c.MaxLag, "metrics.max-lag", 15*time.Second, "A partition whose materialiser lags more than this refuses queries with 503, unless they ask for a strong read.")
	f.DurationVar(&c.BlockDuration, "metrics.tsdb.block-duration", 2*time.Hour, "Time range of a TSDB block; the head holds up to 1.5 times this, which a restart replays from the partition.")
	f.DurationVar(&c.Retention, "metrics.tsdb.retention", 15*24*time.Hour, "How long the TSDB keeps blocks.")
	f.DurationVar(&c.QueryTimeout, "metrics.query-timeout", 2*time.Minute, "Longest a PromQL query may run.")
	f.IntVar(&c.MaxSamples, "metrics.query-max-samples", 50_000_000, "Most samples a PromQL query may hold in memory at once.")
	f.DurationVar(&c.LookbackDelta, "metrics.query-lookback-delta", 5*time.Minute, "How far back PromQL looks for a series' last sample.")
	f.IntVar(&c.QueryShards, "metrics.query-shards", 0, "Evaluate sum, min, max, count and group of a per-series expression (such as sum by (job) (rate(x[5m]))) as this many concurrent parts, each over a share of the series (0: one per CPU, 1: off).")
	f.StringVar(&c.RulesDir, "metrics.rules-dir", "", "Directory of recording rule files, one <tenant>.yaml per tenant (empty: no rules).")
	f.DurationVar(&c.RulesDefaultInterval, "metrics.rules-default-interval", time.Minute, "Evaluation interval of a rule group that sets none.")
	f.DurationVar(&c.RulesReloadInterval, "metrics.rules-reload-interval", time.Minute, "How often rule files are re-read.")
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.PollInterval <= 0 || c.MaxLag <= 0:
		return errors.New("metrics.poll-interval and metrics.max-lag must be positive")
	case c.BlockDuration < time.Minute || c.BlockDuration%time.Millisecond != 0:
		return errors.New("metrics.tsdb.block-duration must be at least 1m, in whole milliseconds")
	case c.Retention < c.BlockDuration:
		return errors.New("metrics.tsdb.retention must be at least metrics.tsdb.block-duration")
	case c.QueryTimeout <= 0 || c.MaxSamples <= 0 || c.LookbackDelta <= 0:
		return errors.New("metrics.query-timeout, metrics.query-max-samples and metrics.query-lookback-delta must be positive")
	case c.QueryShards < 0:
		return errors.New("metrics.query-shards must not be negative")
	case c.RulesDefaultInterval <= 0 || c.RulesReloadInterval <= 0:
		return errors.New("metrics.rules-default-interval and metrics.rules-reload-interval must be positive")
	}
	return nil
}
