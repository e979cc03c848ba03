package tier

import (
	"errors"
	"flag"
	"fmt"
)

// Bucket types.
const (
	TypeNone       = ""
	TypeFilesystem = "filesystem"
	TypeS3         = "s3"
)

// Config is the cold tier's configuration, in the YAML shape of Thanos' and
// Loki's object storage blocks:
//
//	type: s3
//	prefix: silt
//	config: {bucket: logs, endpoint: 127.0.0.1:9000, access_key: K, secret_key: S, insecure: true}
type Config struct {
	// Type is "filesystem" or "s3"; empty disables the cold tier.
	Type string `yaml:"type"`
	// Config is the provider's own configuration, passed to it as YAML.
	Config map[string]any `yaml:"config,omitempty"`
	// Prefix is prepended to every object name.
	Prefix string `yaml:"prefix"`
	// UploadBytesPerSecond limits uploads across every partition (0 = no limit).
	UploadBytesPerSecond int64       `yaml:"upload_bytes_per_second"`
	Cache                CacheConfig `yaml:"cache"`
}

// CacheConfig configures the on-disk cache of cold chunks.
type CacheConfig struct {
	// Dir holds cached chunks; empty means <data dir>/cold-cache.
	Dir string `yaml:"dir"`
	// MaxBytes caps the bytes of cached chunks.
	MaxBytes int64 `yaml:"max_bytes"`
	// ChunkBytes is the size and alignment of ranged reads.
	ChunkBytes int64 `yaml:"chunk_bytes"`
	// ReadAheadBytes is how far past a sequential reader chunks are fetched.
	ReadAheadBytes int64 `yaml:"read_ahead_bytes"`
	// FetchConcurrency caps the ranged reads in flight; each holds a chunk in
	// memory, so fetches use at most FetchConcurrency*ChunkBytes.
	FetchConcurrency int `yaml:"fetch_concurrency"`
}

// Enabled reports whether a cold tier is configured.
func (c *Config) Enabled() bool { return c.Type != TypeNone }

// RegisterFlags registers the flags with the given prefix. The provider's own
// settings (Config) are set in the YAML file only.
func (c *Config) RegisterFlags(prefix string, f *flag.FlagSet) {
	f.StringVar(&c.Type, prefix+"type", "", "Cold tier object storage: filesystem or s3 (empty disables the cold tier). Provider settings go in the YAML file under config:.")
	f.StringVar(&c.Prefix, prefix+"prefix", "", "Prefix of every object name in the bucket.")
	f.Int64Var(&c.UploadBytesPerSecond, prefix+"upload-bytes-per-second", 64<<20, "Upload rate limit shared by every partition (0 = unlimited).")
	f.StringVar(&c.Cache.Dir, prefix+"cache.dir", "", "Directory of the cold read cache (default <data dir>/cold-cache).")
	f.Int64Var(&c.Cache.MaxBytes, prefix+"cache.max-bytes", 1<<30, "Largest size of the cold read cache.")
	f.Int64Var(&c.Cache.ChunkBytes, prefix+"cache.chunk-bytes", 1<<20, "Size and alignment of ranged reads from the bucket.")
	f.Int64Var(&c.Cache.ReadAheadBytes, prefix+"cache.read-ahead-bytes", 8<<20, "How far past a sequential reader (a replay, a scan) chunks are fetched in parallel (0 = only the next chunk).")
	f.IntVar(&c.Cache.FetchConcurrency, prefix+"cache.fetch-concurrency", 16, "Most ranged reads in flight across every partition; they hold at most this many chunks in memory.")
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch c.Type {
	case TypeNone:
		return nil
	case TypeFilesystem, TypeS3:
	default:
		return fmt.Errorf("type must be filesystem or s3 (or empty to disable the cold tier), got %q", c.Type)
	}
	switch {
	case c.UploadBytesPerSecond < 0:
		return errors.New("upload-bytes-per-second must not be negative")
	case c.Cache.ChunkBytes < 4096 || c.Cache.ChunkBytes > 64<<20:
		return errors.New("cache.chunk-bytes must be between 4096 and 64 MiB")
	case c.Cache.MaxBytes < c.Cache.ChunkBytes:
		return errors.New("cache.max-bytes must hold at least one chunk")
	case c.Cache.ReadAheadBytes < 0 || c.Cache.ReadAheadBytes > c.Cache.MaxBytes/2:
		return errors.New("cache.read-ahead-bytes must be between 0 and half of cache.max-bytes")
	case c.Cache.FetchConcurrency < 1:
		return errors.New("cache.fetch-concurrency must be at least 1")
	}
	return nil
}
