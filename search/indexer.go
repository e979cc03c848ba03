package search

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltlog/silt/search/index"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// IndexerConfig tunes the background indexer.
type IndexerConfig struct {
	Enabled    bool `yaml:"enabled"`
	BlockLines int  `yaml:"block_lines"`
	// FlushAge commits a stream's partial block once its first line has waited
	// this long, so quiet streams do not hold the checkpoint back.
	FlushAge time.Duration `yaml:"flush_age"`
	// PollInterval is how often the indexer looks for new records.
	PollInterval time.Duration `yaml:"poll_interval"`
	// MaxBufferedLines commits every partial block of a partition once it holds
	// this many lines waiting, bounding memory with many streams.
	MaxBufferedLines int `yaml:"max_buffered_lines"`
}

// RegisterFlags registers the indexer flags.
func (c *IndexerConfig) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&c.Enabled, "search.index.enabled", true, "Index partitions in the background so searches read only candidate blocks.")
	f.IntVar(&c.BlockLines, "search.index.block-lines", index.DefaultBlockLines, "Lines of one stream per index block.")
	f.DurationVar(&c.FlushAge, "search.index.flush-age", 10*time.Second, "Index a stream's partial block once its first line waited this long.")
	f.DurationVar(&c.PollInterval, "search.index.poll-interval", time.Second, "How often the indexer looks for new records.")
	f.IntVar(&c.MaxBufferedLines, "search.index.max-buffered-lines", 1<<18, "Index all partial blocks of a partition once this many lines wait.")
}

// Validate reports a setting that cannot work.
func (c *IndexerConfig) Validate() error {
	switch {
	case c.BlockLines < 1:
		return errors.New("search.index.block-lines must be positive")
	case c.FlushAge <= 0 || c.PollInterval <= 0:
		return errors.New("search.index.flush-age and search.index.poll-interval must be positive")
	case c.MaxBufferedLines < c.BlockLines:
		return errors.New("search.index.max-buffered-lines must be at least search.index.block-lines")
	}
	return nil
}

// indexDirName is the index's directory inside a partition's directory.
const indexDirName = "index"

// Indexer is the internal consumer that tails every searchable partition and
// indexes its lines in blocks (search/index), off the write path. It is a dskit
// service; Searcher asks it for a partition's index.
type Indexer struct {
	services.Service

	cfg     IndexerConfig
	store   *topics.Store
	logger  *slog.Logger
	metrics *indexerMetrics

	mu    sync.Mutex
	parts map[partKey]*partIndexer // guarded by mu
}

type partKey struct {
	tenant, topic string
	partition     int
}

// NewIndexer returns an Indexer over store's partitions. reg may be nil.
func NewIndexer(cfg IndexerConfig, store *topics.Store, logger *slog.Logger, reg prometheus.Registerer) *Indexer {
	ix := &Indexer{cfg: cfg, store: store, logger: logger, metrics: newIndexerMetrics(reg), parts: map[partKey]*partIndexer{}}
	ix.Service = services.NewTimerService(cfg.PollInterval, nil, ix.iteration, ix.stopping).WithName("indexer")
	return ix
}

func (ix *Indexer) iteration(ctx context.Context) error {
	ix.IndexAll(ctx)
	return nil
}

// IndexAll indexes what every searchable partition has gained since the last
// call. Failures are logged and counted; they stop only their partition.
func (ix *Indexer) IndexAll(ctx context.Context) {
	reg, err := ix.store.Registry()
	if err != nil {
		return
	}
	seen := map[partKey]bool{}
	// Partitions are indexed in parallel, up to one per core.
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	defer wg.Wait()
	for _, tenant := range reg.Tenants() {
		list, err := reg.List(tenant)
		if err != nil {
			return
		}
		for _, t := range list {
			if t.Name == topics.TopicMetrics {
				continue
			}
			for p := 0; p < t.Partitions && ctx.Err() == nil; p++ {
				if !ix.store.Exists(tenant, t.Name, p) {
					continue
				}
				k := partKey{tenant, t.Name, p}
				seen[k] = true
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					if err := ix.indexPartition(ctx, k); err != nil && ctx.Err() == nil {
						ix.metrics.errors.Inc()
						ix.logger.Error("indexing failed", "tenant", k.tenant, "topic", k.topic, "partition", k.partition, "err", err)
					}
				}()
			}
		}
	}
	wg.Wait()
	if ctx.Err() == nil {
		ix.sweep(seen)
	}
}

func (ix *Indexer) indexPartition(ctx context.Context, k partKey) error {
	pi, err := ix.partition(k)
	if err != nil || pi == nil {
		return err
	}
	pi.mu.Lock()
	defer pi.mu.Unlock()
	if pi.closed {
		return nil
	}
	return pi.step(ctx, time.Now())
}

// partition returns k's partIndexer, opening its index on first use; nil when
// the partition is gone.
func (ix *Indexer) partition(k partKey) (*partIndexer, error) {
	log, err := ix.store.Partition(k.tenant, k.topic, k.partition)
	if errors.Is(err, topics.ErrTopicNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if pi, ok := ix.parts[k]; ok {
		if pi.log == log {
			return pi, nil
		}
		_ = ix.dropLocked(k) // the topic was deleted and created again
	}
	dir := filepath.Join(log.Dir(), indexDirName)
	idx, err := openOrRebuild(dir, ix.logger)
	if err != nil {
		return nil, err
	}
	pi := newPartIndexer(k, log, idx, ix.cfg, ix.metrics)
	ix.parts[k] = pi
	return pi, nil
}

// openOrRebuild opens the index in dir; one of another format version is
// removed and rebuilt from the segments.
func openOrRebuild(dir string, logger *slog.Logger) (*index.Index, error) {
	idx, err := index.Open(dir, index.Options{})
	if !errors.Is(err, index.ErrVersion) {
		return idx, err
	}
	logger.Warn("rebuilding a block index of another format version", "dir", dir, "err", err)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("remove old index: %w", err)
	}
	return index.Open(dir, index.Options{})
}

// lookup returns k's index and its checkpoint, or nil when it has none yet.
// The checkpoint is only trusted while the log is the one indexed: a deleted and
// recreated topic gets a new log (and a new index once the indexer sees it).
func (ix *Indexer) lookup(k partKey, log *segments.Log) (*index.Index, index.Checkpoint) {
	if ix == nil {
		return nil, index.Checkpoint{}
	}
	ix.mu.Lock()
	pi := ix.parts[k]
	ix.mu.Unlock()
	if pi == nil || pi.log != log {
		return nil, index.Checkpoint{}
	}
	return pi.idx, pi.idx.Checkpoint()
}

func (ix *Indexer) stopping(error) error { return ix.Close() }

// Close closes every partition index. IndexAll reopens them.
func (ix *Indexer) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var errs []error
	for k := range ix.parts {
		errs = append(errs, ix.dropLocked(k))
	}
	return errors.Join(errs...)
}

func (ix *Indexer) dropLocked(k partKey) error {
	pi := ix.parts[k]
	delete(ix.parts, k)
	pi.mu.Lock()
	defer pi.mu.Unlock()
	pi.closed = true
	return pi.idx.Close()
}

// sweep closes the indexes of partitions not in seen: their topic was
// deleted, and its directory with them.
func (ix *Indexer) sweep(seen map[partKey]bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for k := range ix.parts {
		if !seen[k] {
			_ = ix.dropLocked(k)
		}
	}
}

// indexerMetrics are the indexer's Prometheus metrics.
type indexerMetrics struct {
	lagRecords *prometheus.GaugeVec
	lagSeconds *prometheus.GaugeVec
	lines      prometheus.Counter
	blocks     prometheus.Counter
	commits    prometheus.Histogram
	errors     prometheus.Counter
}

func newIndexerMetrics(reg prometheus.Registerer) *indexerMetrics {
	m := &indexerMetrics{
		lagRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_index_lag_records", Help: "Records of a partition not yet known to be indexed.",
		}, []string{"tenant", "topic", "partition"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "silt_index_lag_seconds", Help: "How long the oldest record not yet indexed has been in the partition (at most one poll interval more).",
		}, []string{"tenant", "topic", "partition"}),
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_index_lines_total", Help: "Lines indexed.",
		}),
		blocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_index_blocks_total", Help: "Blocks committed to partition indexes.",
		}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silt_index_commit_duration_seconds", Help: "Time to index and commit one round of blocks.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silt_index_errors_total", Help: "Indexing rounds that failed (they are retried).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.lagRecords, m.lagSeconds, m.lines, m.blocks, m.commits, m.errors)
	}
	return m
}
