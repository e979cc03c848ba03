package search

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltlog/silt/search/index"
	"github.com/siltlog/silt/segments"
)

const (
	// indexChunkRecords is how many records one Scan call reads before the
	// indexer checks whether to commit.
	indexChunkRecords = 65536
	// commitBlocks commits once this many full blocks wait, bounding memory
	// while the indexer catches up.
	commitBlocks = 256
	// maxLagSamples bounds the (end offset, time) samples kept for the lag.
	maxLagSamples = 4096
)

// partIndexer indexes one partition. Its fields are guarded by mu, which the
// indexer holds for a whole step.
type partIndexer struct {
	mu  sync.Mutex
	k   partKey
	log *segments.Log
	idx *index.Index
	cfg IndexerConfig
	m   *indexerMetrics

	lagRecords, lagSeconds prometheus.Gauge
	closed                 bool // the index is closed: step does nothing

	pos      int64                 // next offset to read
	ends     map[string]int64      // stream key -> last offset of its newest committed block
	open     map[string]*openBlock // stream key -> its block being filled
	ready    []index.Block         // full blocks not yet committed
	buffered int                   // lines in open blocks
	streams  streamCache
	samples  []lagSample
	now      time.Time // the time of the current step
}

// openBlock is a block being filled; its lines live in one arena.
type openBlock struct {
	b      index.Block
	arena  []byte
	cuts   []int // end of each line in arena
	opened time.Time
}

// lagSample says the partition ended at offset end at time t.
type lagSample struct {
	end int64
	t   time.Time
}

func newPartIndexer(k partKey, log *segments.Log, idx *index.Index, cfg IndexerConfig, m *indexerMetrics) *partIndexer {
	p := strconv.Itoa(k.partition)
	return &partIndexer{
		k: k, log: log, idx: idx, cfg: cfg, m: m,
		lagRecords: m.lagRecords.WithLabelValues(k.tenant, k.topic, p),
		lagSeconds: m.lagSeconds.WithLabelValues(k.tenant, k.topic, p),
		pos:        idx.Checkpoint().Next,
		ends:       idx.StreamEnds(),
		open:       map[string]*openBlock{},
		streams:    newStreamCache(),
	}
}

// step reads the records the partition gained, fills blocks, and commits full
// blocks and partial ones that waited FlushAge.
func (pi *partIndexer) step(ctx context.Context, now time.Time) error {
	end := pi.log.NextOffset()
	pi.now = now
	pi.sample(end, now)
	if start := pi.log.StartOffset(); pi.pos < start {
		pi.pos = start // retention removed what was never indexed
	}
	for pi.pos < end {
		if err := pi.readChunk(ctx); errors.Is(err, errStalled) {
			break
		} else if err != nil {
			return err
		}
		if len(pi.ready) >= commitBlocks || pi.buffered > pi.cfg.MaxBufferedLines {
			pi.flushOpen(time.Now(), pi.buffered > pi.cfg.MaxBufferedLines)
			if err := pi.commit(now); err != nil {
				return err
			}
			pi.report(time.Now()) // a long catch-up keeps the gauges current
		}
	}
	pi.flushOpen(time.Now(), false)
	if len(pi.ready) > 0 || pi.checkpoint() > pi.idx.Checkpoint().Next {
		if err := pi.commit(now); err != nil {
			return err
		}
	}
	pi.report(time.Now())
	return nil
}

// readChunk reads up to indexChunkRecords records from pos into blocks.
func (pi *partIndexer) readChunk(ctx context.Context) error {
	n := 0
	next, err := pi.log.Scan(ctx, pi.pos, func(r *segments.Record) error {
		pi.add(r)
		if n++; n >= indexChunkRecords {
			return segments.ErrStopScan
		}
		return nil
	})
	if errors.Is(err, segments.ErrOffsetOutOfRange) {
		pi.pos = pi.log.StartOffset()
		return nil
	}
	if err != nil {
		return err
	}
	if next == pi.pos {
		// Nothing readable (the visible end lags NextOffset): wait for the next poll.
		pi.pos = max(pi.pos, next)
		return errStalled
	}
	pi.pos = next
	return nil
}

// errStalled ends a step whose log had nothing more to read yet.
var errStalled = errors.New("no readable records yet")

func (pi *partIndexer) add(r *segments.Record) {
	st := pi.streams.get(pi.k.topic, r.Key)
	if last, ok := pi.ends[st.key]; ok && r.Offset <= last {
		return // already in a committed block
	}
	ob := pi.open[st.key]
	if ob == nil {
		ob = &openBlock{opened: pi.now}
		ob.b.Ref = index.BlockRef{Topic: pi.k.topic, Partition: int32(pi.k.partition), FirstOffset: r.Offset}
		ob.b.Key = st.key
		ob.b.Labels = st.indexLabels
		ob.b.Start, ob.b.End = r.Timestamp, r.Timestamp
		pi.open[st.key] = ob
	}
	ob.arena = append(ob.arena, r.Value...)
	ob.cuts = append(ob.cuts, len(ob.arena))
	ob.b.Times = append(ob.b.Times, r.Timestamp)
	ob.b.Ref.LastOffset = r.Offset
	ob.b.Start, ob.b.End = min(ob.b.Start, r.Timestamp), max(ob.b.End, r.Timestamp)
	pi.buffered++
	if len(ob.cuts) >= pi.cfg.BlockLines {
		pi.finish(st.key, ob)
	}
}

// finish moves an open block to ready.
func (pi *partIndexer) finish(key string, ob *openBlock) {
	ob.b.Lines = make([][]byte, len(ob.cuts))
	from := 0
	for i, to := range ob.cuts {
		ob.b.Lines[i] = ob.arena[from:to:to]
		from = to
	}
	pi.ready = append(pi.ready, ob.b)
	pi.buffered -= len(ob.cuts)
	delete(pi.open, key)
}

// flushOpen finishes the open blocks that waited FlushAge, or all of them.
func (pi *partIndexer) flushOpen(now time.Time, all bool) {
	for key, ob := range pi.open {
		if all || now.Sub(ob.opened) >= pi.cfg.FlushAge {
			pi.finish(key, ob)
		}
	}
}

// checkpoint is the offset below which every record is in a ready or
// committed block.
func (pi *partIndexer) checkpoint() int64 {
	next := pi.pos
	for _, ob := range pi.open {
		next = min(next, ob.b.Ref.FirstOffset)
	}
	return next
}

func (pi *partIndexer) commit(now time.Time) error {
	t0 := time.Now()
	if err := pi.idx.Commit(pi.ready, pi.checkpoint(), now.UnixNano()); err != nil {
		return err
	}
	pi.m.commits.Observe(time.Since(t0).Seconds())
	pi.m.blocks.Add(float64(len(pi.ready)))
	for i := range pi.ready {
		b := &pi.ready[i]
		pi.m.lines.Add(float64(len(b.Lines)))
		pi.ends[b.Key] = max(pi.ends[b.Key], b.Ref.LastOffset)
	}
	clear(pi.ready)
	pi.ready = pi.ready[:0]
	return nil
}

// sample remembers that the partition ended at end at time now.
func (pi *partIndexer) sample(end int64, now time.Time) {
	if n := len(pi.samples); n > 0 && pi.samples[n-1].end == end {
		return
	}
	if len(pi.samples) == maxLagSamples {
		pi.samples = append(pi.samples[:0], pi.samples[maxLagSamples/2:]...)
	}
	pi.samples = append(pi.samples, lagSample{end: end, t: now})
}

// report sets the lag gauges against the log's end now. A record at or past
// the checkpoint was written after the newest sample whose end is at or below
// the checkpoint.
func (pi *partIndexer) report(now time.Time) {
	end := pi.log.NextOffset()
	pi.sample(end, now)
	next := pi.idx.Checkpoint().Next
	pi.lagRecords.Set(float64(max(end-next, 0)))
	i := 0
	for i+1 < len(pi.samples) && pi.samples[i+1].end <= next {
		i++
	}
	pi.samples = pi.samples[i:]
	if next >= end || len(pi.samples) == 0 {
		pi.lagSeconds.Set(0)
		return
	}
	pi.lagSeconds.Set(now.Sub(pi.samples[0].t).Seconds())
}
