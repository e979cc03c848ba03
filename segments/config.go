package segments

import (
	"errors"
	"flag"
	"time"
)

// Config is what an operator tunes about partition logs. The zero value is not
// valid; start from DefaultConfig or RegisterFlags.
type Config struct {
	// SegmentBytes rolls the active segment once it would grow past this size.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// SegmentAge rolls the active segment once its first batch is this old.
	SegmentAge time.Duration `yaml:"segment_age"`
	// IndexIntervalBytes is the log distance between sparse index entries.
	IndexIntervalBytes int `yaml:"index_interval_bytes"`
	// FsyncInterval 0 fsyncs every batch before acknowledging it; otherwise the log
	// acknowledges once written and fsyncs at this interval.
	FsyncInterval time.Duration `yaml:"fsync_interval"`
	// HotBytes is how many bytes of sealed raw segments a partition keeps before the
	// oldest are compressed into warm segments.
	HotBytes int64 `yaml:"hot_bytes"`
	// BlockBytes is the raw batch bytes per compressed block.
	BlockBytes int `yaml:"block_bytes"`
	// RetentionAge deletes sealed segments whose newest record is older (0 = keep).
	RetentionAge time.Duration `yaml:"retention_age"`
	// RetentionBytes deletes the oldest sealed segments while the partition is larger
	// (0 = no limit).
	RetentionBytes int64 `yaml:"retention_bytes"`
}

// DefaultConfig returns the defaults RegisterFlags installs.
func DefaultConfig() Config {
	var c Config
	c.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	return c
}

// RegisterFlags registers the config's flags, each name prefixed with prefix.
func (c *Config) RegisterFlags(prefix string, f *flag.FlagSet) {
	f.Int64Var(&c.SegmentBytes, prefix+"segment-bytes", 64<<20, "Roll the active segment at this size.")
	f.DurationVar(&c.SegmentAge, prefix+"segment-age", time.Hour, "Roll the active segment when its first batch is this old.")
	f.IntVar(&c.IndexIntervalBytes, prefix+"index-interval-bytes", 4096, "Bytes of log between sparse index entries.")
	f.DurationVar(&c.FsyncInterval, prefix+"fsync-interval", 0, "0 fsyncs every batch before acknowledging it; otherwise fsync at this interval.")
	f.Int64Var(&c.HotBytes, prefix+"hot-bytes", 128<<20, "Bytes of sealed segments kept as raw record batches before compression.")
	f.IntVar(&c.BlockBytes, prefix+"block-bytes", 1<<20, "Raw bytes per compressed block of a warm segment.")
	f.DurationVar(&c.RetentionAge, prefix+"retention-age", 0, "Delete sealed segments older than this (0 keeps them).")
	f.Int64Var(&c.RetentionBytes, prefix+"retention-bytes", 0, "Delete the oldest sealed segments while a partition is larger (0 = no limit).")
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.SegmentBytes < 4096:
		return errors.New("segment-bytes must be at least 4096")
	case c.SegmentBytes > 1<<31:
		return errors.New("segment-bytes must be at most 2 GiB (index positions are 32-bit)")
	case c.SegmentAge <= 0:
		return errors.New("segment-age must be positive")
	case c.IndexIntervalBytes <= 0:
		return errors.New("index-interval-bytes must be positive")
	case c.FsyncInterval < 0:
		return errors.New("fsync-interval must not be negative")
	case c.HotBytes < 0:
		return errors.New("hot-bytes must not be negative")
	case c.BlockBytes < 4096 || c.BlockBytes > 64<<20:
		return errors.New("block-bytes must be between 4096 and 64 MiB")
	case c.RetentionAge < 0 || c.RetentionBytes < 0:
		return errors.New("retention-age and retention-bytes must not be negative")
	}
	return nil
}
