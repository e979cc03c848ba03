package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments"
)

// applyChunk appends up to chunkRecords records from pos in one appender
// and returns the offset after them. On an error nothing is published and
// the chunk is retried.
func (p *partition) applyChunk(ctx context.Context, pos, end int64) (int64, error) {
	app := p.db.Appender(ctx)
	p.stats = applyStats{skipped: p.stats.skipped}
	clear(p.stats.skipped)
	maxT, n := int64(math.MinInt64), 0
	next, err := p.log.ScanRange(ctx, pos, end, func(r *segments.Record) error {
		maxT = max(maxT, p.apply(app, r))
		if n++; n >= min(chunkRecords, runRecords) {
			return segments.ErrStopScan
		}
		return nil
	})
	if errors.Is(err, segments.ErrOffsetOutOfRange) {
		p.rollback(app)
		return p.log.StartOffset(), nil
	}
	if err != nil {
		p.rollback(app)
		return pos, err
	}
	if err := app.Commit(); err != nil {
		p.forgetLast()
		return pos, fmt.Errorf("commit samples at offset %d: %w", pos, err)
	}
	if next > pos {
		p.addRun(pos, maxT, int(next-pos))
	}
	p.m.samples.Add(float64(p.stats.samples))
	p.m.invalid.Add(float64(p.stats.invalid))
	for reason, k := range p.stats.skipped {
		p.m.skipped.WithLabelValues(reason).Add(float64(k))
	}
	return next, nil
}

// apply appends one record's samples (or keeps its metadata) and returns
// its largest sample time. Samples the TSDB refuses are counted and skipped.
func (p *partition) apply(app storage.Appender, r *segments.Record) int64 {
	if len(r.Value) == 0 {
		p.stats.invalid++
		return math.MinInt64
	}
	switch r.Value[0] {
	case ingest.SampleValueVersion:
		return p.applySamples(app, r)
	case ingest.MetadataValueVersion:
		md, err := ingest.DecodeMetadata(r.Value)
		lset, ok := seriesLabels(r.Key)
		if err != nil || !ok {
			p.stats.invalid++
			break
		}
		p.meta.set(p.k.tenant, lset.Get(model.MetricNameLabel), md)
	default:
		p.stats.invalid++
	}
	return math.MinInt64
}

// applySamples appends the samples of a record.
func (p *partition) applySamples(app storage.Appender, r *segments.Record) int64 {
	maxT := int64(math.MinInt64)
	var err error
	if p.buf, err = ingest.DecodeSamples(p.buf[:0], r.Value); err != nil {
		p.stats.invalid++
		return maxT
	}
	k := p.series.key(r.Key)
	s := p.series.get(k, p.gen)
	var lset labels.Labels // only for a series the TSDB has no reference of
	if s.ref == 0 {
		var ok bool
		if lset, ok = seriesLabels(r.Key); !ok {
			p.series.forget(k)
			p.stats.invalid++
			return maxT
		}
	}
	for _, smp := range p.buf {
		maxT = max(maxT, smp.T)
		// The head checks a sample only against committed ones; the
		// samples of this chunk are checked here, so that the outcome
		// does not depend on where chunks begin.
		switch {
		case smp.T < s.lastT:
			p.skip(storage.ErrOutOfOrderSample)
			continue
		case smp.T == s.lastT && math.Float64bits(smp.V) == s.lastV:
			continue // the same sample again: the TSDB ignores it too
		case smp.T == s.lastT:
			p.skip(storage.ErrDuplicateSampleForTimestamp)
			continue
		case p.maxT != math.MinInt64 && smp.T < p.maxT-p.cfg.BlockDuration.Milliseconds()/2:
			// The head's own window, kept per sample rather than per chunk.
			p.skip(storage.ErrOutOfBounds)
			continue
		}
		ref, err := app.Append(s.ref, lset, smp.T, smp.V)
		if err != nil && s.ref != 0 && errors.Is(err, tsdb.ErrInvalidSample) {
			// The head dropped the series since (truncation): create it again.
			lset, _ = seriesLabels(r.Key)
			ref, err = app.Append(0, lset, smp.T, smp.V)
		}
		if err != nil {
			p.skip(err)
			continue
		}
		s.ref, s.lastT, s.lastV = ref, smp.T, math.Float64bits(smp.V)
		p.maxT = max(p.maxT, smp.T)
		p.stats.samples++
	}
	return maxT
}

// seriesLabels parses a record key into labels; false when it is not a
// label set with a metric name.
func seriesLabels(key []byte) (labels.Labels, bool) {
	ls, err := ingest.ParseLabels(string(key))
	if err != nil {
		return labels.EmptyLabels(), false
	}
	b := labels.NewScratchBuilder(len(ls))
	for _, l := range ls {
		b.Add(l.Name, l.Value)
	}
	b.Sort()
	lset := b.Labels()
	return lset, lset.Get(model.MetricNameLabel) != ""
}

// rollback drops an uncommitted chunk; its samples will be applied again.
func (p *partition) rollback(app storage.Appender) {
	_ = app.Rollback()
	p.forgetLast()
}

// forgetLast forgets the last samples seen, which may not have been
// committed: the TSDB decides about the next ones itself.
func (p *partition) forgetLast() {
	p.series.forgetLast()
	p.maxT = p.db.Head().MaxTime()
}

// skip counts a sample the TSDB refused, by reason.
func (p *partition) skip(err error) {
	reason := "invalid"
	switch {
	case errors.Is(err, storage.ErrOutOfOrderSample):
		reason = "out_of_order"
	case errors.Is(err, storage.ErrOutOfBounds), errors.Is(err, storage.ErrTooOldSample):
		reason = "too_old"
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp):
		reason = "duplicate"
	}
	if p.stats.skipped == nil {
		p.stats.skipped = map[string]int{}
	}
	p.stats.skipped[reason]++
}
