package topics

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/grafana/dskit/services"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/tier"
)

// TenantsDir is the directory under the data directory that holds every
// partition log: <data>/tenants/<tenant>/<topic>/<partition>/.
const TenantsDir = "tenants"

// DeletedDir is the directory under the data directory where a deleted
// topic's partition logs wait to be removed. It is emptied at start, which
// completes a removal a crash interrupted.
const DeletedDir = "deleted"

var (
	ErrPartitionNotFound = errors.New("partition not found")
	ErrNotRunning        = errors.New("topic store is not running")
)

// PartitionStats describes one partition's log.
type PartitionStats struct {
	Partition   int
	StartOffset int64
	EndOffset   int64 // the next offset to be assigned (high watermark)
	Bytes       int64 // local bytes
	Tiers       segments.TierStats
}

type partitionKey struct {
	tenant, topic string
	partition     int
}

// Store owns the topic registry and every open partition log. Logs are opened
// on first use and kept open until the store stops. It is a dskit service: the
// registry loads in starting, retention runs periodically while running, and
// all logs close in stopping.
type Store struct {
	services.Service

	dataDir string
	cfg     Config
	segCfg  segments.Config
	logger  *slog.Logger
	metrics *segments.Metrics

	// compactions bounds background compression to one partition at a time,
	// so it takes at most one core away from ingest.
	compactions chan struct{}
	// syncer gathers the partitions' fsyncs into shared rounds.
	syncer *segments.Syncer
	// cache holds decompressed warm blocks for every partition (nil: none).
	cache *segments.BlockCache

	// cold is the shared cold tier; nil without one.
	cold *tier.Tier
	// gated opens every log with a commit gate: a cluster node's partitions
	// are replicated, readable only up to their high watermark.
	gated bool
	// replicator writes through the partitions' raft groups; nil on a single
	// node. Set once, before the store serves writes.
	replicator Replicator

	mu      sync.Mutex
	reg     *Registry                      // guarded by mu; nil until started
	logs    map[partitionKey]*segments.Log // guarded by mu
	stopped bool                           // guarded by mu
}

// NewStore returns a Store over dataDir. segCfg is the server-wide segments
// configuration; each topic's retention overrides apply on top of it.
// metrics may be nil.
func NewStore(dataDir string, cfg Config, segCfg segments.Config, logger *slog.Logger, metrics *segments.Metrics, opts ...StoreOption) *Store {
	s := &Store{
		dataDir: dataDir,
		cfg:     cfg,
		segCfg:  segCfg,
		logger:  logger,
		metrics: metrics,
		logs:    map[partitionKey]*segments.Log{},

		compactions: make(chan struct{}, 1),
		syncer:      segments.NewSyncer(),
	}
	for _, o := range opts {
		o(s)
	}
	s.Service = services.NewBasicService(s.starting, s.running, s.stopping).WithName("store")
	return s
}

// StoreOption configures NewStore.
type StoreOption func(*Store)

// WithColdTier gives every partition a cold tier in t.
func WithColdTier(t *tier.Tier) StoreOption { return func(s *Store) { s.cold = t } }

// WithBlockCache makes every partition log read warm blocks through c.
func WithBlockCache(c *segments.BlockCache) StoreOption { return func(s *Store) { s.cache = c } }

// WithCommitGate opens every partition log with segments.WithCommitGate.
func WithCommitGate() StoreOption { return func(s *Store) { s.gated = true } }

func (s *Store) starting(context.Context) error {
	if err := os.MkdirAll(filepath.Join(s.dataDir, TenantsDir), 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(s.dataDir, DeletedDir)); err != nil {
		return fmt.Errorf("remove deleted topics: %w", err)
	}
	reg, err := OpenRegistry(s.dataDir, s.cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.reg = reg
	s.mu.Unlock()
	s.logger.Info("topic store started", "data_dir", s.dataDir, "tenants", len(reg.Tenants()))
	return nil
}

func (s *Store) running(ctx context.Context) error {
	t := time.NewTicker(s.cfg.RetentionCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			s.RunTiers(ctx, now)
		}
	}
}

func (s *Store) stopping(error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	var errs []error
	for k, l := range s.logs {
		if err := l.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", s.partitionDir(k), err))
		}
	}
	s.logs = map[partitionKey]*segments.Log{}
	s.logger.Info("topic store stopped")
	return errors.Join(errs...)
}

// Registry returns the topic registry, or ErrNotRunning before the store has
// started.
func (s *Store) Registry() (*Registry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg == nil || s.stopped {
		return nil, ErrNotRunning
	}
	return s.reg, nil
}

// Partition returns the open log of tenant's topic partition p, opening it on
// first use. Built-in topics are created on first use.
func (s *Store) Partition(tenant, topic string, p int) (*segments.Log, error) {
	reg, err := s.Registry()
	if err != nil {
		return nil, err
	}
	t, err := reg.Get(tenant, topic)
	if err != nil {
		return nil, err
	}
	return s.partition(t, tenant, p)
}

func (s *Store) partition(t Topic, tenant string, p int) (*segments.Log, error) {
	if p < 0 || p >= t.Partitions {
		return nil, fmt.Errorf("%w: topic %q has partitions 0..%d, got %d", ErrPartitionNotFound, t.Name, t.Partitions-1, p)
	}
	k := partitionKey{tenant: tenant, topic: t.Name, partition: p}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, ErrNotRunning
	}
	if l, ok := s.logs[k]; ok {
		return l, nil
	}
	// t may predate a DeleteTopic: never recreate a deleted topic's log.
	if _, err := s.reg.Get(tenant, t.Name); err != nil {
		return nil, err
	}
	dir := s.partitionDir(k)
	opts := []segments.Option{
		segments.WithLogger(s.logger.With("tenant", tenant, "topic", t.Name, "partition", p)),
		segments.WithCompactionSlots(s.compactions),
		segments.WithSyncer(s.syncer),
		segments.WithBlockCache(s.cache),
	}
	if s.gated {
		opts = append(opts, segments.WithCommitGate())
	}
	if s.metrics != nil {
		opts = append(opts, segments.WithMetrics(s.metrics))
	}
	if s.cold != nil {
		opts = append(opts, segments.WithColdStore(s.cold.Partition(tenant, t.Name, p)))
	}
	l, err := segments.Open(dir, s.topicSegmentsConfig(t), opts...)
	if err != nil {
		return nil, fmt.Errorf("open partition %s/%s/%d: %w", tenant, t.Name, p, err)
	}
	if rec := l.Recovery(); rec.TruncatedBytes > 0 || len(rec.Lost) > 0 || len(rec.Quarantined) > 0 {
		s.logger.Warn("partition repaired at open", "tenant", tenant, "topic", t.Name, "partition", p,
			"truncated_bytes", rec.TruncatedBytes, "lost_offset_ranges", rec.Lost, "quarantined", rec.Quarantined)
	}
	s.logs[k] = l
	return l, nil
}

// Stats describes every partition of tenant's topic. Partitions never
// written have no directory and report zeros without being created.
func (s *Store) Stats(tenant string, t Topic) ([]PartitionStats, error) {
	out := make([]PartitionStats, t.Partitions)
	for p := range out {
		out[p].Partition = p
		if !s.exists(partitionKey{tenant: tenant, topic: t.Name, partition: p}) {
			continue
		}
		l, err := s.partition(t, tenant, p)
		if err != nil {
			return nil, err
		}
		out[p].StartOffset, out[p].EndOffset, out[p].Bytes = l.StartOffset(), l.NextOffset(), l.Size()
		out[p].Tiers = l.TierStats()
	}
	return out, nil
}

// Exists reports whether tenant's topic partition p has been written (has a
// directory), without opening or creating it.
func (s *Store) Exists(tenant, topic string, p int) bool {
	return s.exists(partitionKey{tenant: tenant, topic: topic, partition: p})
}

func (s *Store) exists(k partitionKey) bool {
	s.mu.Lock()
	_, open := s.logs[k]
	s.mu.Unlock()
	if open {
		return true
	}
	_, err := os.Stat(s.partitionDir(k))
	return !errors.Is(err, fs.ErrNotExist)
}

// EnforceRetention runs every partition's tier cycle once (RunTiers).
func (s *Store) EnforceRetention(now time.Time) { s.RunTiers(context.Background(), now) }

// RunTiers runs the tier cycle of every existing partition under the current
// registry policy, so a changed retention applies without reopening the log:
// retention limits, and with a cold tier, uploads and local deletion. Failures
// are logged and do not stop the other partitions.
func (s *Store) RunTiers(ctx context.Context, now time.Time) {
	reg, err := s.Registry()
	if err != nil {
		return
	}
	for _, tenant := range reg.Tenants() {
		list, err := reg.List(tenant)
		if err != nil {
			s.logger.Error("retention: list topics", "tenant", tenant, "err", err)
			continue
		}
		for _, t := range list {
			r := s.EffectivePolicy(tenant, t).Retention()
			for p := 0; p < t.Partitions && ctx.Err() == nil; p++ {
				if !s.exists(partitionKey{tenant: tenant, topic: t.Name, partition: p}) {
					continue
				}
				l, err := s.partition(t, tenant, p)
				if err == nil {
					err = l.Tier(ctx, now, r)
				}
				if err != nil && !errors.Is(err, ErrNotRunning) && !errors.Is(err, segments.ErrClosed) && ctx.Err() == nil {
					s.logger.Error("tier cycle failed", "tenant", tenant, "topic", t.Name, "partition", p, "err", err)
				}
			}
		}
	}
}

// PartitionDir returns the directory of tenant's topic partition p, whether
// or not it exists.
func (s *Store) PartitionDir(tenant, topic string, p int) string {
	return s.partitionDir(partitionKey{tenant: tenant, topic: topic, partition: p})
}

func (s *Store) partitionDir(k partitionKey) string {
	return filepath.Join(s.dataDir, TenantsDir, k.tenant, k.topic, strconv.Itoa(k.partition))
}

// topicSegmentsConfig applies t's retention overrides to the server-wide
// segments config. In segments.Config a zero limit means unlimited.
func (s *Store) topicSegmentsConfig(t Topic) segments.Config {
	c := s.segCfg
	switch {
	case t.RetentionMs > 0:
		c.RetentionAge = time.Duration(t.RetentionMs) * time.Millisecond
	case t.RetentionMs == -1:
		c.RetentionAge = 0
	}
	switch {
	case t.RetentionBytes > 0:
		c.RetentionBytes = t.RetentionBytes
	case t.RetentionBytes == -1:
		c.RetentionBytes = 0
	}
	return c
}
