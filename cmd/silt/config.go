package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/siltlog/silt/cluster"
	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/kafka"
	"github.com/siltlog/silt/metrics"
	"github.com/siltlog/silt/search"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/tier"
	"github.com/siltlog/silt/segments/topics"
)

// Config is the whole server configuration: one block per component. Flags
// are named after the YAML path (server.http_listen_address is
// -server.http-listen-address).
type Config struct {
	Server      ServerConfig        `yaml:"server"`
	AuthEnabled bool                `yaml:"auth_enabled"`
	Storage     StorageConfig       `yaml:"storage"`
	Topics      topics.Config       `yaml:"topics"`
	Ingest      ingest.Config       `yaml:"ingest"`
	Syslog      ingest.SyslogConfig `yaml:"syslog"`
	Search      search.Config       `yaml:"search"`
	Kafka       kafka.Config        `yaml:"kafka"`
	// Cluster and Memberlist are off unless -cluster.enabled or
	// -memberlist.join is given: a node alone needs neither.
	Cluster    cluster.Config           `yaml:"cluster"`
	Memberlist cluster.MemberlistConfig `yaml:"memberlist"`
	Metrics    metrics.Config           `yaml:"metrics"`
}

// RegisterFlags registers every component's flags with their defaults.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	c.Server.RegisterFlags(f)
	f.BoolVar(&c.AuthEnabled, "auth.enabled", false,
		"Require the X-Scope-OrgID header on API requests. When false every request belongs to the tenant \"fake\".")
	c.Storage.RegisterFlags(f)
	c.Topics.RegisterFlags(f)
	c.Ingest.RegisterFlags(f)
	c.Syslog.RegisterFlags(f)
	c.Search.RegisterFlags(f)
	c.Kafka.RegisterFlags(f)
	c.Metrics.RegisterFlags(f)
	c.Cluster.RegisterFlags(f)
	c.Memberlist.RegisterFlags(f)
}

// applyImplied sets what other settings imply: members to join mean cluster
// mode.
func (c *Config) applyImplied() {
	if len(c.Memberlist.JoinMembers) > 0 {
		c.Cluster.Enabled = true
	}
	// An empty list from YAML and none at all are the same setting.
	if len(c.Memberlist.JoinMembers) == 0 {
		c.Memberlist.JoinMembers = nil
	}
	if len(c.Memberlist.BindAddrs) == 0 {
		c.Memberlist.BindAddrs = nil
	}
}

// Validate reports the first invalid setting of any component.
func (c *Config) Validate() error {
	if err := c.Server.Validate(); err != nil {
		return fmt.Errorf("server config: %w", err)
	}
	if err := c.Storage.Validate(); err != nil {
		return fmt.Errorf("storage config: %w", err)
	}
	if err := c.Topics.Validate(); err != nil {
		return fmt.Errorf("topics config: %w", err)
	}
	if err := c.Ingest.Validate(); err != nil {
		return fmt.Errorf("ingest config: %w", err)
	}
	if c.Storage.Segments.SegmentBytes < 2*c.Ingest.MaxRequestBytes {
		return fmt.Errorf("storage.segments.segment-bytes (%d) must be at least twice ingest.max-request-bytes (%d): a push is one record batch",
			c.Storage.Segments.SegmentBytes, c.Ingest.MaxRequestBytes)
	}
	if err := c.Syslog.Validate(); err != nil {
		return fmt.Errorf("syslog config: %w", err)
	}
	if err := c.Search.Validate(); err != nil {
		return fmt.Errorf("search config: %w", err)
	}
	if err := c.Kafka.Validate(); err != nil {
		return fmt.Errorf("kafka config: %w", err)
	}
	if err := c.Cluster.Validate(); err != nil {
		return fmt.Errorf("cluster config: %w", err)
	}
	if err := c.Memberlist.Validate(); err != nil {
		return fmt.Errorf("memberlist config: %w", err)
	}
	if err := c.Metrics.Validate(); err != nil {
		return fmt.Errorf("metrics config: %w", err)
	}
	return nil
}

// ServerConfig configures the HTTP server and logging.
type ServerConfig struct {
	HTTPListenAddress       string        `yaml:"http_listen_address"`
	GracefulShutdownTimeout time.Duration `yaml:"graceful_shutdown_timeout"`
	MaxRequestBodyBytes     int64         `yaml:"max_request_body_bytes"`
	MaxLongPollWait         time.Duration `yaml:"max_long_poll_wait"`
	FollowKeepalive         time.Duration `yaml:"follow_keepalive"`
	LogLevel                string        `yaml:"log_level"`
	LogFormat               string        `yaml:"log_format"`
}

// RegisterFlags registers the server flags.
func (c *ServerConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.HTTPListenAddress, "server.http-listen-address", "127.0.0.1:3100",
		"HTTP listen address (host:port; port 0 picks a free port).")
	f.DurationVar(&c.GracefulShutdownTimeout, "server.graceful-shutdown-timeout", 30*time.Second,
		"How long in-flight HTTP requests may take to finish at shutdown.")
	f.Int64Var(&c.MaxRequestBodyBytes, "server.max-request-body-bytes", 10<<20,
		"Largest accepted request body; larger requests get 413 and write nothing.")
	f.DurationVar(&c.MaxLongPollWait, "server.max-long-poll-wait", 30*time.Second,
		"Longest wait= a consume request may ask for.")
	f.DurationVar(&c.FollowKeepalive, "server.follow-keepalive", 15*time.Second,
		"How long a follow stream (SSE or WebSocket) stays silent before a keepalive; keep it under your proxies' idle timeout.")
	f.StringVar(&c.LogLevel, "log.level", "info", "Log level: debug, info, warn or error.")
	f.StringVar(&c.LogFormat, "log.format", "logfmt", "Log format: logfmt or json.")
}

// Validate reports the first invalid server setting.
func (c *ServerConfig) Validate() error {
	switch {
	case c.HTTPListenAddress == "":
		return errors.New("server.http-listen-address must not be empty")
	case c.GracefulShutdownTimeout < 0:
		return errors.New("server.graceful-shutdown-timeout must not be negative")
	case c.MaxRequestBodyBytes < 1:
		return errors.New("server.max-request-body-bytes must be positive")
	case c.MaxLongPollWait < 0:
		return errors.New("server.max-long-poll-wait must not be negative")
	case c.FollowKeepalive <= 0:
		return errors.New("server.follow-keepalive must be positive")
	case c.LogFormat != "logfmt" && c.LogFormat != "json":
		return fmt.Errorf("log.format must be logfmt or json, got %q", c.LogFormat)
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("log.level must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return nil
}

// StorageConfig configures where and how partition logs are stored.
type StorageConfig struct {
	DataDir  string          `yaml:"data_dir"`
	Segments segments.Config `yaml:"segments"`
	// BlockCacheBytes bounds the decompressed warm blocks kept in memory for
	// searches and replays.
	BlockCacheBytes int64 `yaml:"block_cache_bytes"`
	// Cold is the object storage of the cold tier (off unless type is set).
	Cold tier.Config `yaml:"cold"`
}

// RegisterFlags registers the storage flags; segment flags get the
// "storage.segments." prefix.
func (c *StorageConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DataDir, "storage.data-dir", "./data", "Directory holding the topic registry and every partition log.")
	c.Segments.RegisterFlags("storage.segments.", f)
	f.Int64Var(&c.BlockCacheBytes, "storage.block-cache-bytes", 1<<30,
		"Memory for decompressed blocks of warm segments, so repeated searches decompress them once (0 disables).")
	c.Cold.RegisterFlags("storage.cold.", f)
}

// Validate reports the first invalid storage setting.
func (c *StorageConfig) Validate() error {
	if c.DataDir == "" {
		return errors.New("storage.data-dir must not be empty")
	}
	if c.BlockCacheBytes < 0 {
		return errors.New("storage.block-cache-bytes must not be negative")
	}
	if err := c.Segments.Validate(); err != nil {
		return fmt.Errorf("storage.segments: %w", err)
	}
	if err := c.Cold.Validate(); err != nil {
		return fmt.Errorf("storage.cold: %w", err)
	}
	return nil
}

// serverArgs is the parsed command line of `silt server`.
type serverArgs struct {
	cfg         Config
	printConfig bool
	showVersion bool
}

// parseServerArgs builds the configuration with precedence defaults < YAML
// file < flags given on the command line, as Loki does: parse the flags,
// load the file over them, then re-apply the explicitly set flags.
func parseServerArgs(args []string, output io.Writer) (*serverArgs, error) {
	var a serverArgs
	f := flag.NewFlagSet("silt server", flag.ContinueOnError)
	f.SetOutput(output)
	a.cfg.RegisterFlags(f)
	configFile := f.String("config.file", "", "YAML configuration file; flags given on the command line override it.")
	f.BoolVar(&a.printConfig, "config.print", false, "Print the effective configuration as YAML and exit.")
	f.BoolVar(&a.showVersion, "version", false, "Print version information and exit.")
	f.Usage = func() {
		fmt.Fprintf(output, "Usage: silt [server] [flags]\n\nRuns the all-in-one silt server.\n\nFlags:\n")
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		return nil, err
	}
	if f.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags start with -)", f.Arg(0))
	}
	if *configFile != "" {
		explicit := map[string]string{}
		f.Visit(func(fl *flag.Flag) { explicit[fl.Name] = fl.Value.String() })
		if err := loadYAML(*configFile, &a.cfg); err != nil {
			return nil, err
		}
		for name, v := range explicit {
			if err := f.Set(name, v); err != nil {
				return nil, fmt.Errorf("re-apply flag -%s: %w", name, err)
			}
		}
	}
	if a.showVersion {
		return &a, nil
	}
	a.cfg.applyImplied()
	if err := a.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	return &a, nil
}

// loadYAML decodes path over cfg; unknown keys are errors so that a typo
// never silently falls back to a default.
func loadYAML(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("parse config file %s: %w", path, err)
	}
	return nil
}

// dumpYAML renders cfg as YAML, e.g. for -config.print.
func dumpYAML(cfg *Config) (string, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("encode config: %w", err)
	}
	return b.String(), nil
}
