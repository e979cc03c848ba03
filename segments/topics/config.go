package topics

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config holds the topic defaults an operator tunes.
type Config struct {
	BuiltinPartitions      int           `yaml:"builtin_partitions"`
	DefaultPartitions      int           `yaml:"default_partitions"`
	MaxPartitions          int           `yaml:"max_partitions"`
	RetentionCheckInterval time.Duration `yaml:"retention_check_interval"`
	// LocalRetentionMs and LocalRetentionBytes are the server-wide defaults of
	// local.retention.ms and local.retention.bytes (-2 = same as retention).
	LocalRetentionMs    int64 `yaml:"local_retention_ms"`
	LocalRetentionBytes int64 `yaml:"local_retention_bytes"`
	// TenantOverrides holds per-tenant retention defaults, under Kafka's names;
	// a topic's own settings override them.
	TenantOverrides map[string]Policy `yaml:"tenant_overrides,omitempty"`
}

// RegisterFlags registers the topics flags with the "topics." prefix.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.BuiltinPartitions, "topics.builtin-partitions", 4,
		"Partitions of the built-in topics (logs, metrics) when first created for a tenant.")
	f.IntVar(&c.DefaultPartitions, "topics.default-partitions", 1,
		"Partitions of a user topic created without a partition count.")
	f.IntVar(&c.MaxPartitions, "topics.max-partitions", 1024,
		"Largest partition count a topic may have.")
	f.DurationVar(&c.RetentionCheckInterval, "topics.retention-check-interval", time.Minute,
		"How often every partition's tier cycle runs: retention limits, cold-tier uploads and local deletion.")
	f.Int64Var(&c.LocalRetentionMs, "topics.local-retention-ms", SameAsRetention,
		"Default local.retention.ms: how long uploaded segments stay on local disk (-2 = same as retention.ms, -1 = forever). Needs a cold tier.")
	f.Int64Var(&c.LocalRetentionBytes, "topics.local-retention-bytes", SameAsRetention,
		"Default local.retention.bytes per partition (-2 = same as retention.bytes, -1 = unlimited). Needs a cold tier.")
}

// Validate reports the first invalid setting.
func (c *Config) Validate() error {
	if c.MaxPartitions < 1 {
		return fmt.Errorf("topics.max-partitions must be at least 1, got %d", c.MaxPartitions)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"topics.builtin-partitions", c.BuiltinPartitions}, {"topics.default-partitions", c.DefaultPartitions}} {
		if p.v < 1 || p.v > c.MaxPartitions {
			return fmt.Errorf("%s must be between 1 and topics.max-partitions (%d), got %d", p.name, c.MaxPartitions, p.v)
		}
	}
	if c.RetentionCheckInterval <= 0 {
		return errors.New("topics.retention-check-interval must be positive")
	}
	local := Policy{LocalRetentionMs: c.LocalRetentionMs, LocalRetentionBytes: c.LocalRetentionBytes}
	if err := local.Validate(); err != nil || c.LocalRetentionMs == 0 || c.LocalRetentionBytes == 0 {
		return fmt.Errorf("topics.local-retention-ms and -bytes must be positive, -1 or -2, got %d and %d", c.LocalRetentionMs, c.LocalRetentionBytes)
	}
	for tenant, p := range c.TenantOverrides {
		if err := ValidateTenantID(tenant); err != nil {
			return fmt.Errorf("topics.tenant_overrides: %w", err)
		}
		if err := p.Validate(); err != nil {
			return fmt.Errorf("topics.tenant_overrides[%s]: %w", tenant, err)
		}
	}
	return nil
}
