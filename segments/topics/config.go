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
		"How often every partition's retention limits are enforced.")
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
	return nil
}
