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
		seg, loc, err := l.locate(off)
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
		for p := buf; len(p) > 0 && off < end; {
			b := batchView(p[:batchView(p).length()])
			p = p[len(b):]
			next, stop, err := scanBatch(b, off, end, fn)
			if stop || err != nil {
				return next, true, err
			}
			off = next
		}
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

// scanColumns is ScanRange over the blocks of a warm segment.
func (s *warmSegment) scanColumns(cache *BlockCache, off, end int64, needle []byte, fn func(r *Record) error) (int64, bool, error) {
	for i := s.blockFor(off); i < len(s.blocks) && s.blocks[i].base < end; i++ {
		raw, err := s.rawBlock(cache, i)
		if err != nil {
			return off, true, err
		}
		next, stop, err := scanBlock(raw, s.blocks[i].base, off, end, needle, fn)
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

// rawBlock returns block i decompressed, from the cache when it is there.
func (s *warmSegment) rawBlock(cache *BlockCache, i int) ([]byte, error) {
	k := blockKey{s, i}
	if raw, ok := cache.get(k); ok {
		return raw, nil
	}
	raw, err := s.decompress(i)
	if err == nil {
		cache.put(k, raw)
	}
	return raw, err
}

// badBlockError is a block scanBlock could not read, as opposed to an error
// of its callback.
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
// in [from, end), reading the record columns in place. A block holding a
// compressed producer batch is rebuilt into batches instead. fn sees only the
// records whose value contains needle (the caller checks again: fn may also
// see others).
func scanBlock(raw []byte, base, from, end int64, needle []byte, fn func(r *Record) error) (int64, bool, error) {
	batches, cr, err := parseBlock(raw)
	if err != nil {
		return from, true, &badBlockError{err}
	}
	for _, b := range batches {
		if b.opaque && b.attributes&attrControl == 0 {
			return scanRebuilt(raw, base, from, end, fn)
		}
	}
	cr.matches = valueMatches(cr.cols[colValues], needle, cr.matches[:0])
	cr.filter = len(needle) > 0
	cr.needleLen = len(needle)
	next := base
	var r Record
	for _, b := range batches {
		batchBase := next
		next += int64(b.lastOffsetDelta) + 1
		if b.opaque { // a control batch: no records in the columns
			continue
		}
		prev := b.firstTs
		for j := int32(0); j < b.records; j++ {
			r.Offset = batchBase + int64(j)
			keep := cr.nextRecord(&r, &prev)
			if cr.err != nil {
				return from, true, &badBlockError{cr.err}
			}
			if r.Offset < from || !keep {
				continue
			}
			if r.Offset >= end {
				return end, false, nil
			}
			if err := fn(&r); err != nil {
				return stopped(&r, err)
			}
		}
	}
	return min(next, end), false, nil
}

// scanRebuilt is scanBlock through rebuilt batches.
func scanRebuilt(raw []byte, base, from, end int64, fn func(r *Record) error) (int64, bool, error) {
	batches, err := decodeBlock(nil, raw, base)
	if err != nil {
		return from, true, &badBlockError{err}
	}
	off := from
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

// valueMatches appends to dst the positions in values (a block's value
// column) where needle starts, in order; none for an empty needle.
func valueMatches(values, needle []byte, dst []int) []int {
	if len(needle) == 0 {
		return dst
	}
	for p := 0; p <= len(values)-len(needle); {
		i := bytes.Index(values[p:], needle)
		if i < 0 {
			break
		}
		dst = append(dst, p+i)
		p += i + 1
	}
	return dst
}

// nextRecord reads the next record's fields from the columns into r (its
// offset is the caller's); prev is the previous record's time in ms. When the
// reader filters, a record whose value holds no match is only skipped over
// (its headers are not decoded) and nextRecord reports false.
func (c *columnReader) nextRecord(r *Record, prev *int64) bool {
	if len(c.cols[colAttrs]) == 0 {
		c.err = fmt.Errorf("%w: attributes column short", errBadBlock)
		return false
	}
	c.cols[colAttrs] = c.cols[colAttrs][1:]
	*prev += c.varint(colTimeDeltas)
	r.Timestamp = *prev*1e6 + int64(c.uvarint(colNsRemainders))
	r.Key = c.take(colKeyLens, colKeys)
	start := c.valuePos
	r.Value = c.take(colValueLens, colValues)
	c.valuePos += len(r.Value)
	keep := !c.filter || c.holdsMatch(start, c.valuePos)
	c.headers = c.headers[:0]
	for h := c.uvarint(colHeaderCounts); h > 0 && c.err == nil; h-- {
		k := c.bytesN(colHeaderKeys, c.uvarint(colHeaderKeyLens))
		v := c.take(colHeaderValueLens, colHeaderValues)
		if keep {
			c.headers = append(c.headers, Header{Key: string(k), Value: v})
		}
	}
	r.Headers = c.headers
	if len(r.Headers) == 0 {
		r.Headers = nil
	}
	return keep
}

// holdsMatch reports whether a match lies wholly in the value at [start, end)
// of the value column, dropping the matches before it.
func (c *columnReader) holdsMatch(start, end int) bool {
	for len(c.matches) > 0 && c.matches[0] < start {
		c.matches = c.matches[1:]
	}
	return len(c.matches) > 0 && c.matches[0]+c.needleLen <= end
}
