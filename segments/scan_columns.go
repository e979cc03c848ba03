package segments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// ScanRange calls fn for every record with an offset in [from, to), in offset
// order, skipping control batches, like Scan. It reads a compressed segment's
// record columns directly, without rebuilding its batches, and through the
// log's block cache when it has one: this is the read path of searches. The
// record and its slices are valid only during the call; returning ErrStopScan
// ends the scan without an error. It returns the offset after the last record
// read.
func (l *Log) ScanRange(ctx context.Context, from, to int64, fn func(r *Record) error) (int64, error) {
	return l.ScanRangeContaining(ctx, from, to, nil, fn)
}

// ScanRangeContaining is ScanRange for the records whose value contains
// needle (all of them when needle is empty). In a compressed segment it
// searches a block's whole value column at once and decodes only the records
// that hold a match.
func (l *Log) ScanRangeContaining(ctx context.Context, from, to int64, needle []byte, fn func(r *Record) error) (int64, error) {
	if len(needle) > 0 {
		inner := fn
		fn = func(r *Record) error {
			if !bytes.Contains(r.Value, needle) {
				return nil
			}
			return inner(r)
		}
	}
	off := from
	for off < to {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		seg, loc, err := l.locate(off, false)
		if err != nil || seg == nil {
			return off, err
		}
		end := min(to, loc.next, loc.limit)
		var next int64
		var stop bool
		if seg.raw != nil {
			seg.release()
			next, stop, err = l.scanBatches(ctx, off, end, fn)
		} else {
			next, stop, err = seg.warm.scanColumns(l.cache, off, end, needle, fn)
			seg.release()
			if err != nil {
				l.quarantineOnCorruption(seg, err)
			}
		}
		if err != nil || stop || next <= off {
			return next, err
		}
		off = next
	}
	return off, nil
}

// scanBatches is ScanRange over batches as stored (a raw segment). It stops at
// end or where the readable log ends.
func (l *Log) scanBatches(ctx context.Context, off, end int64, fn func(r *Record) error) (int64, bool, error) {
	var buf []byte
	for off < end {
		if err := ctx.Err(); err != nil {
			return off, true, err
		}
		var err error
		if buf, err = l.ReadBatches(buf[:0], off, 1<<20); err != nil || len(buf) == 0 {
			return off, true, err
		}
		var stop bool
		if off, stop, err = scanBatchList(buf, off, end, fn); stop {
			return off, true, err
		}
	}
	return off, false, nil
}

// scanBatchList calls scanBatch on each of the concatenated batches while off
// is below end.
func scanBatchList(batches []byte, off, end int64, fn func(r *Record) error) (int64, bool, error) {
	for p := batches; len(p) > 0 && off < end; {
		b := batchView(p[:batchView(p).length()])
		p = p[len(b):]
		next, stop, err := scanBatch(b, off, end, fn)
		if stop || err != nil {
			return next, true, err
		}
		off = next
	}
	return off, false, nil
}

// scanBatch calls fn for the records of b in [from, end). It returns the offset
// to go on from, and stop when fn asked to stop or failed.
func scanBatch(b batchView, from, end int64, fn func(r *Record) error) (int64, bool, error) {
	next := max(from, min(b.nextOffset(), end))
	if b.attributes()&attrControl != 0 {
		return next, false, nil
	}
	var it recordIter
	if err := it.resetBatch(b); err != nil {
		return from, true, err
	}
	var r Record
	for it.next() {
		it.recordShared(b.baseOffset(), b.firstTimestamp(), &r)
		if r.Offset < from {
			continue
		}
		if r.Offset >= end {
			return end, false, nil
		}
		if err := fn(&r); err != nil {
			return stopped(&r, err)
		}
	}
	if it.err != nil {
		return from, true, it.err
	}
	return next, false, nil
}

// stopped turns fn's error into ScanRange's results.
func stopped(r *Record, err error) (int64, bool, error) {
	if errors.Is(err, ErrStopScan) {
		return r.Offset + 1, true, nil
	}
	return r.Offset, true, err
}

// scanColumns is ScanRange over the blocks of a warm segment. While it scans
// one block, the next is read and parsed in the background; a block that fails
// there is read again, so that its error is the scan's.
func (s *warmSegment) scanColumns(cache *BlockCache, off, end int64, needle []byte, fn func(r *Record) error) (int64, bool, error) {
	var pending *ahead[*blockView]
	for i := s.blockFor(off); i < len(s.blocks) && s.blocks[i].base < end; i++ {
		var v *blockView
		var err error
		if pending != nil {
			v, err = pending.wait()
		}
		if pending == nil || err != nil {
			v, err = s.view(cache, i)
		}
		if err != nil {
			return off, true, err
		}
		pending = nil
		if j := i + 1; j < len(s.blocks) && s.blocks[j].base < end {
			pending = inBackground(j, func() (*blockView, error) { return s.view(cache, j) })
		}
		next, stop, err := v.scan(off, end, needle, fn)
		var bad *badBlockError
		if errors.As(err, &bad) {
			err = &CorruptionError{File: s.path, Offset: int64(s.blocks[i].position), Err: bad.err}
		}
		if stop || err != nil {
			return next, true, err
		}
		off = next
	}
	return off, false, nil
}

// view returns block i decompressed and parsed, from the cache when it is
// there.
func (s *warmSegment) view(cache *BlockCache, i int) (*blockView, error) {
	k := blockKey{s, i}
	if v, ok := cache.get(k); ok {
		return v, nil
	}
	raw, err := s.decompress(i, make([]byte, 0, s.blocks[i].rawLen))
	if err != nil {
		return nil, err
	}
	v, err := newBlockView(raw, s.blocks[i].base)
	if err != nil {
		return nil, &CorruptionError{File: s.path, Offset: int64(s.blocks[i].position), Err: err}
	}
	cache.put(k, v)
	return v, nil
}

// badBlockError is a block a scan could not read, as opposed to an error of
// its callback.
type badBlockError struct{ err error }

func (e *badBlockError) Error() string { return e.err.Error() }

// blockBatch is a batch's header fields as a block stores them.
type blockBatch struct {
	lastOffsetDelta int32
	attributes      int16
	firstTs         int64 // ms
	records         int32
	opaque          bool
}

// scanBlock calls fn for the records of a decompressed block (based at base)
// in [from, end) whose value contains needle.
func scanBlock(raw []byte, base, from, end int64, needle []byte, fn func(r *Record) error) (int64, bool, error) {
	v, err := newBlockView(raw, base)
	if err != nil {
		return from, true, &badBlockError{err}
	}
	return v.scan(from, end, needle, fn)
}

// scanRebuilt is scanBlock through rebuilt batches.
func scanRebuilt(raw []byte, base, from, end int64, fn func(r *Record) error) (int64, bool, error) {
	batches, err := decodeBlock(nil, raw, base)
	if err != nil {
		return from, true, &badBlockError{err}
	}
	return scanBatchList(batches, from, end, fn)
}

// parseBlock reads a block's batch metadata and returns a reader of its
// record columns.
func parseBlock(raw []byte) ([]blockBatch, *columnReader, error) {
	r := &blockReader{src: raw}
	n := r.uvarint()
	if n > uint64(len(raw)) {
		return nil, nil, fmt.Errorf("%w: %d batches", errBadBlock, n)
	}
	out := make([]blockBatch, n)
	prevTs := int64(0)
	for i := range out {
		b := &out[i]
		b.lastOffsetDelta = int32(r.uvarint() - 1)
		r.varint() // leader epoch
		b.attributes = int16(r.uvarint())
		r.varint() // producer ID
		r.varint() // producer epoch
		r.varint() // first sequence
		b.firstTs = prevTs + r.varint()
		r.varint() // max timestamp
		b.records = int32(r.uvarint())
		prevTs = b.firstTs
		if kind := r.bytes(1); len(kind) == 1 && kind[0] == 1 {
			b.opaque = true
			r.bytes(r.uvarint())
		}
	}
	r.uvarint() // record count: implied by the batches
	cr := &columnReader{}
	for i := range cr.cols {
		cr.cols[i] = r.bytes(r.uvarint())
	}
	return out, cr, r.err
}
