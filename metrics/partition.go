package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments"
)

// runRecords is the most records of one offset run (FORMAT.md): it bounds
// how far before the first record that matters a replay may start. A
// variable so that tests can use short runs.
var runRecords = 65536

const (
	// chunkRecords is how many records one appender commits at most.
	chunkRecords = 65536
	// maxRuns bounds the offset runs kept; past it neighbours are merged.
	maxRuns = 4096
	// maxLagSamples bounds the (end offset, time) samples kept for the lag.
	maxLagSamples = 1024
	// applyBatchWait is how long a consumer woken by an append waits for
	// more before applying: under load a step then reads, appends and
	// commits thousands of records rather than one request's.
	applyBatchWait = 10 * time.Millisecond
)

// partKey names one partition of a tenant's metrics topic.
type partKey struct {
	tenant    string
	partition int
}

// partition materialises one partition into its TSDB. The consumer
// goroutine (run) owns the fields under "consumer state"; queries use only
// the atomics, db and log.
type partition struct {
	k      partKey
	log    *segments.Log
	dir    string
	db     *tsdb.DB
	cfg    Config
	logger *slog.Logger
	m      *materialiserMetrics
	meta   *metadataStore

	lagRecords, lagSeconds, headSeries prometheus.Gauge

	applied  atomic.Int64 // offsets below it are in the TSDB
	lagSince atomic.Int64 // unix ns when the oldest unapplied offset was first seen; 0: none
	caughtUp atomic.Bool  // applied reached the end seen at open
	// holdReplay keeps caughtUp false (tests: a replay that does not end).
	holdReplay atomic.Bool
	closed     atomic.Bool // the log was closed under the consumer

	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	appliedCh chan struct{} // guarded by mu: closed when applied grows

	// consumer state
	openEnd int64
	maxT    int64 // the newest sample appended (MinInt64: none since open)
	series  *seriesCache
	gen     uint32
	runs    []offsetRun
	lags    []lagSample
	buf     []ingest.MetricSample
	stats   applyStats
}

// offsetRun is consecutive records starting at first whose samples are all
// at or before maxT (ms).
type offsetRun struct {
	first int64
	maxT  int64
	n     int
}

// lagSample says the partition ended at offset end at time t.
type lagSample struct {
	end int64
	t   time.Time
}

// applyStats counts one chunk's outcome; it is added to the metrics once.
type applyStats struct {
	samples, invalid int
	skipped          map[string]int
}

func tsdbOptions(cfg Config) *tsdb.Options {
	opts := tsdb.DefaultOptions()
	opts.WALSegmentSize = -1 // the partition is the WAL
	opts.MinBlockDuration = cfg.BlockDuration.Milliseconds()
	opts.MaxBlockDuration = max(opts.MinBlockDuration, min(cfg.Retention/10, 31*24*time.Hour).Milliseconds())
	opts.RetentionDuration = cfg.Retention.Milliseconds()
	opts.EnableExemplarStorage = false
	// The defaults are sized for one TSDB per server: 16,384 stripes of
	// series maps and a 4 MiB chunk write buffer cost 10 MB per partition
	// before the first series. One goroutine appends to a partition's TSDB,
	// so a few stripes are enough, and head chunks are written slowly.
	opts.StripeSize = 1024
	opts.HeadChunksWriteBufferSize = 256 << 10
	return opts
}

// openPartition opens the TSDB of k and decides where replay starts.
func openPartition(k partKey, log *segments.Log, cfg Config, logger *slog.Logger, m *materialiserMetrics, meta *metadataStore) (*partition, error) {
	dir := filepath.Join(log.Dir(), MaterialiserDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("materialiser dir: %w", err)
	}
	db, err := tsdb.Open(filepath.Join(dir, tsdbDir), logger.With("component", "tsdb"), nil, tsdbOptions(cfg), nil)
	if err != nil {
		return nil, fmt.Errorf("open tsdb of %s/%d: %w", k.tenant, k.partition, err)
	}
	db.DisableCompactions() // compaction is driven by the consumer, see checkpoint
	p := &partition{
		k: k, log: log, dir: dir, db: db, cfg: cfg, logger: logger, m: m, meta: meta,
		series:    newSeriesCache(),
		maxT:      math.MinInt64,
		appliedCh: make(chan struct{}),
		done:      make(chan struct{}),
	}
	pl := strconv.Itoa(k.partition)
	p.lagRecords = m.lagRecords.WithLabelValues(k.tenant, pl)
	p.lagSeconds = m.lagSeconds.WithLabelValues(k.tenant, pl)
	p.headSeries = m.headSeries.WithLabelValues(k.tenant, pl)
	start := p.resumeOffset()
	p.applied.Store(start)
	p.openEnd = log.NextOffset()
	p.caughtUp.Store(start >= p.openEnd)
	logger.Info("materialiser partition opened", "replay_from", start, "end", p.openEnd, "blocks", len(db.Blocks()))
	return p, nil
}

// resumeOffset is where replay starts: the checkpoint's offset when the
// blocks it counted on are there, else the log's start (FORMAT.md).
func (p *partition) resumeOffset() int64 {
	start := p.log.StartOffset()
	ck, ok, err := readCheckpoint(p.dir)
	switch {
	case err != nil:
		p.logger.Warn("ignoring unreadable checkpoint: replaying the whole partition", "err", err)
		return start
	case !ok:
		return start
	case ck.BlocksMax > blocksMaxTime(p.db):
		p.logger.Warn("checkpoint counts on blocks that are gone: replaying the whole partition",
			"checkpoint_blocks_max", ck.BlocksMax, "blocks_max", blocksMaxTime(p.db))
		return start
	}
	return max(ck.Resume, start)
}

// blocksMaxTime is the largest maxTime of db's blocks (MinInt64: none).
func blocksMaxTime(db *tsdb.DB) int64 {
	t := int64(math.MinInt64)
	for _, b := range db.Blocks() {
		t = max(t, b.Meta().MaxTime)
	}
	return t
}

// run applies the partition until ctx ends or its log closes.
func (p *partition) run(ctx context.Context) {
	defer close(p.done)
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		changed := p.log.Changed()
		err := p.step(ctx, time.Now())
		switch {
		case errors.Is(err, segments.ErrClosed):
			p.closed.Store(true)
			return
		case err != nil && ctx.Err() == nil:
			p.m.applyErrors.Inc()
			p.logger.Error("materialising failed; retrying", "err", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
		default:
			backoff = 0
		}
		wait := p.cfg.PollInterval
		if backoff > 0 {
			wait, changed = backoff, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-changed:
			t.Reset(applyBatchWait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// step applies every record the partition gained, then compacts the head
// into a block (and writes a checkpoint) when it is due.
func (p *partition) step(ctx context.Context, now time.Time) error {
	end := p.log.NextOffset()
	p.sampleLag(end, now)
	pos := p.applied.Load()
	if start := p.log.StartOffset(); pos < start {
		p.logger.Warn("retention removed records before they were materialised", "from", pos, "to", start)
		pos = start
		p.publish(pos)
	}
	for pos < end {
		next, err := p.applyChunk(ctx, pos, end)
		if err != nil {
			return err
		}
		if next <= pos {
			break // nothing readable yet
		}
		pos = next
		p.publish(pos)
		p.reportLag(end, time.Now())
	}
	if pos >= p.openEnd && !p.holdReplay.Load() {
		p.caughtUp.Store(true)
	}
	p.reportLag(end, time.Now())
	p.headSeries.Set(float64(p.db.Head().NumSeries()))
	return p.maybeCompact(ctx)
}

// addRun records that n records from first hold samples up to maxT,
// extending the last run while it is short.
func (p *partition) addRun(first, maxT int64, n int) {
	if k := len(p.runs); k > 0 && p.runs[k-1].n+n <= runRecords {
		last := &p.runs[k-1]
		last.maxT, last.n = max(last.maxT, maxT), last.n+n
		return
	}
	p.runs = append(p.runs, offsetRun{first: first, maxT: maxT, n: n})
	if len(p.runs) > maxRuns {
		// Merge neighbours: runs get longer, the resume offset more conservative.
		merged := p.runs[:0]
		for i := 0; i < len(p.runs); i += 2 {
			r := p.runs[i]
			if i+1 < len(p.runs) {
				r.maxT, r.n = max(r.maxT, p.runs[i+1].maxT), r.n+p.runs[i+1].n
			}
			merged = append(merged, r)
		}
		p.runs = merged
	}
}

// maybeCompact writes head blocks once the head spans 1.5 block durations
// (as the TSDB itself would), then persists the new resume offset.
func (p *partition) maybeCompact(ctx context.Context) error {
	h := p.db.Head()
	if h.NumSeries() == 0 || h.MaxTime()-h.MinTime() <= p.cfg.BlockDuration.Milliseconds()/2*3 {
		return nil
	}
	before := blocksMaxTime(p.db)
	began := time.Now()
	if err := p.db.Compact(ctx); err != nil {
		return fmt.Errorf("compact tsdb: %w", err)
	}
	p.m.compactions.Observe(time.Since(began).Seconds())
	after := blocksMaxTime(p.db)
	if after <= before {
		return nil
	}
	return p.checkpoint(after)
}

// checkpoint persists the resume offset for blocks holding everything
// before blocksMax (FORMAT.md), and forgets what the blocks now hold.
func (p *partition) checkpoint(blocksMax int64) error {
	i := 0
	for i < len(p.runs) && p.runs[i].maxT < blocksMax {
		i++
	}
	p.runs = append(p.runs[:0], p.runs[i:]...)
	resume := p.applied.Load()
	if len(p.runs) > 0 {
		resume = p.runs[0].first
	}
	if err := writeCheckpoint(p.dir, checkpoint{Resume: resume, BlocksMax: blocksMax}); err != nil {
		return err
	}
	p.m.checkpoints.Inc()
	// Series not used since the previous compaction leave the cache.
	p.series.evict(p.gen, p.db.Head().MinTime())
	p.gen++
	return nil
}

// publish makes offsets below pos applied and wakes strong readers.
func (p *partition) publish(pos int64) {
	p.mu.Lock()
	p.applied.Store(pos)
	close(p.appliedCh)
	p.appliedCh = make(chan struct{})
	p.mu.Unlock()
}

// waitApplied waits until offsets below target are applied.
func (p *partition) waitApplied(ctx context.Context, target int64) error {
	for {
		p.mu.Lock()
		ch := p.appliedCh
		p.mu.Unlock()
		if p.applied.Load() >= target {
			return nil
		}
		select {
		case <-ch:
		case <-p.done:
			return fmt.Errorf("partition %d of tenant %s stopped materialising", p.k.partition, p.k.tenant)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sampleLag notes that the log ended at end at time now.
func (p *partition) sampleLag(end int64, now time.Time) {
	k := len(p.lags)
	switch {
	case k > 0 && end <= p.lags[k-1].end:
	case k >= maxLagSamples:
		p.lags[k-1].end = end // keeps the older time: the lag errs high
	default:
		p.lags = append(p.lags, lagSample{end: end, t: now})
	}
}

// reportLag updates the lag metrics and the time the oldest unapplied
// offset was first seen.
func (p *partition) reportLag(end int64, now time.Time) {
	applied := p.applied.Load()
	i := 0
	for i < len(p.lags) && p.lags[i].end <= applied {
		i++
	}
	p.lags = append(p.lags[:0], p.lags[i:]...)
	p.lagRecords.Set(float64(max(0, end-applied)))
	if len(p.lags) == 0 {
		p.lagSince.Store(0)
		p.lagSeconds.Set(0)
		return
	}
	p.lagSince.Store(p.lags[0].t.UnixNano())
	p.lagSeconds.Set(now.Sub(p.lags[0].t).Seconds())
}

// lag returns how far the partition is behind its log now.
func (p *partition) lag(now time.Time) (records int64, d time.Duration) {
	records = max(0, p.log.NextOffset()-p.applied.Load())
	if records == 0 {
		return 0, 0
	}
	if since := p.lagSince.Load(); since != 0 {
		d = now.Sub(time.Unix(0, since))
	}
	return records, d
}

// stop ends the consumer and closes the TSDB.
func (p *partition) stop() error {
	p.cancel()
	<-p.done
	return p.db.Close()
}
