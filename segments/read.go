package segments

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadBatches appends to dst whole record batches starting with the one that holds
// offset off, up to about maxBytes (the first batch is always returned whole). It
// returns dst unchanged when off is at or past NextOffset, and ErrOffsetOutOfRange
// below StartOffset. Batches keep the bytes they were appended with, so they can be
// served to Kafka consumers as they are; the first may hold offsets below off.
func (l *Log) ReadBatches(dst []byte, off int64, maxBytes int) ([]byte, error) {
	return l.readBatches(dst, off, maxBytes, false)
}

func (l *Log) readBatches(dst []byte, off int64, maxBytes int, written bool) ([]byte, error) {
	for {
		seg, loc, err := l.locate(off, written)
		if err != nil || seg == nil {
			return dst, err
		}
		n := len(dst)
		if seg.raw != nil {
			dst, err = seg.raw.readBatches(dst, loc.pos, loc.expect, loc.end, off, loc.limit, maxBytes)
		} else {
			dst, err = seg.warm.readBatches(dst, off, maxBytes)
			dst = trimToLimit(dst, n, loc.limit)
		}
		seg.release()
		if err != nil {
			l.quarantineOnCorruption(seg, err)
			return dst, err
		}
		l.metrics.readBytes.Add(float64(len(dst) - n))
		if len(dst) > n || loc.next >= loc.limit {
			return dst, nil
		}
		off = loc.next // off was in a hole left by a lost segment: go on after it
	}
}

// location is where a read starts, captured under Log.mu.
type location struct {
	pos, expect int64 // raw segments: index position at or before the offset, and the batch base there
	end         int64 // raw segments: end of the written bytes
	next        int64 // the segment's next offset
	limit       int64 // the first offset not yet readable
}

// locate finds the segment holding off and takes a reference on it. Only
// readable offsets are found, or every written one when written is set.
func (l *Log) locate(off int64, written bool) (*segment, location, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var loc location
	if l.mu.closed {
		return nil, loc, ErrClosed
	}
	if off < l.mu.start {
		return nil, loc, fmt.Errorf("%w: offset %d is below the log start offset %d", ErrOffsetOutOfRange, off, l.mu.start)
	}
	loc.limit = l.mu.visible
	if written {
		loc.limit = l.mu.segs[len(l.mu.segs)-1].next()
	}
	if off >= loc.limit {
		return nil, loc, nil
	}
	segs := l.mu.segs
	if off < segs[0].base {
		seg, err := l.coldForLocked(off)
		if err != nil || seg != nil {
			if seg != nil {
				loc.next = seg.next()
				seg.acquire()
			}
			return seg, loc, err
		}
	}
	i := max(sort.Search(len(segs), func(i int) bool { return segs[i].base > off })-1, 0)
	for i < len(segs)-1 && segs[i].next() <= off {
		i++
	}
	seg := segs[i]
	loc.next = seg.next()
	if seg.raw != nil {
		loc.pos, loc.expect = seg.raw.index.lookupOffset(seg.base, max(off, seg.base))
		loc.end = seg.raw.size
	}
	seg.acquire()
	return seg, loc, nil
}

// coldForLocked returns the cold segment holding off, or the first one after
// off when off is in a hole, or nil when no cold segment is at or after off.
// Callers hold mu.
func (l *Log) coldForLocked(off int64) (*segment, error) {
	for _, e := range l.mu.attempts {
		if e.State != coldUploaded || off < e.Base || off >= e.Next {
			continue
		}
		if l.cold == nil {
			return nil, fmt.Errorf("offset %d is in cold segment %s, but no cold store is configured", off, e.attempt().Key())
		}
		if coldByID(l.mu.cold, e.ID) == nil {
			return nil, fmt.Errorf("offset %d is in cold segment %s, whose index is not loaded yet (retried each tier cycle)", off, e.attempt().Key())
		}
	}
	cold := l.mu.cold
	i := sort.Search(len(cold), func(i int) bool { return cold[i].next() > off })
	if i == len(cold) {
		return nil, nil
	}
	return cold[i], nil
}

// trimToLimit drops batches of dst[from:] based at or past limit.
func trimToLimit(dst []byte, from int, limit int64) []byte {
	p := from
	for p < len(dst) {
		b := batchView(dst[p:])
		if b.baseOffset() >= limit {
			break
		}
		p += b.length()
	}
	return dst[:p]
}

// Read returns up to maxRecords records from offset from on. Keys and values alias
// buffers owned by the result. Control batches are skipped.
func (l *Log) Read(from int64, maxRecords int) ([]Record, error) {
	var out []Record
	for off := from; len(out) < maxRecords; {
		buf, err := l.ReadBatches(nil, off, 1<<20)
		if err != nil || len(buf) == 0 {
			return out, err
		}
		for p := buf; len(p) > 0 && len(out) < maxRecords; {
			b := batchView(p[:batchView(p).length()])
			p = p[len(b):]
			off = b.nextOffset()
			if b.attributes()&attrControl != 0 {
				continue
			}
			var it recordIter
			if err := it.resetBatch(b); err != nil {
				return out, err
			}
			for it.next() && len(out) < maxRecords {
				var r Record
				it.record(b.baseOffset(), b.firstTimestamp(), &r)
				if r.Offset >= from {
					out = append(out, r)
				}
			}
			if it.err != nil {
				return out, it.err
			}
		}
	}
	return out, nil
}

// OffsetForTime returns the first offset whose record timestamp (ns) is >= ts, or
// NextOffset when there is none, as Kafka's ListOffsets does.
func (l *Log) OffsetForTime(ts int64) (int64, error) {
	off, ok := l.timeHint(floorDiv(ts, 1e6))
	if !ok {
		return l.NextOffset(), nil
	}
	for {
		buf, err := l.ReadBatches(nil, off, 1<<20)
		if err != nil || len(buf) == 0 {
			return l.NextOffset(), err
		}
		for p := buf; len(p) > 0; {
			b := batchView(p[:batchView(p).length()])
			p = p[len(b):]
			off = b.nextOffset()
			if b.maxTimestamp() < floorDiv(ts, 1e6) {
				continue
			}
			if b.attributes()&attrControl != 0 {
				continue
			}
			var it recordIter
			if err := it.resetBatch(b); err != nil {
				return l.NextOffset(), err
			}
			for it.next() {
				var r Record
				it.record(b.baseOffset(), b.firstTimestamp(), &r)
				if r.Timestamp >= ts {
					return r.Offset, nil
				}
			}
		}
	}
}

// timeHint returns an offset at or before the first batch whose maxTimestamp may
// reach ms.
func (l *Log) timeHint(ms int64) (int64, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range append(slices.Clip(l.mu.cold), l.mu.segs...) {
		if s.maxTimestamp() < ms {
			continue
		}
		if s.raw != nil {
			x := &s.raw.index
			i := sort.Search(len(x.entries), func(i int) bool { return x.entries[i].maxTsSoFar >= ms })
			if i == 0 {
				return s.base, true
			}
			return s.base + int64(x.entries[i-1].relOffset), true
		}
		for _, b := range s.warm.blocks {
			if b.maxTs >= ms {
				return b.base, true
			}
		}
	}
	return 0, false
}

// decompressor undoes the codecs Kafka producers use: gzip, snappy (raw and
// xerial-framed), lz4 and zstd.
var decompressor = kgo.DefaultDecompressor()

// resetBatch iterates the records of b, decompressing them when the producer
// compressed the batch (the log stores such batches as received).
func (it *recordIter) resetBatch(b batchView) error {
	codec := b.attributes() & attrCompression
	if codec == 0 {
		it.reset(b)
		return nil
	}
	raw, err := decompressor.Decompress(b[batchHeaderSize:], kgo.CompressionCodecType(codec))
	if err != nil {
		return fmt.Errorf("read offset %d: decompress records (codec %d): %w", b.baseOffset(), codec, err)
	}
	it.resetRecords(raw, b.recordCount())
	return nil
}

// ErrStopScan, returned by a Scan callback, ends the scan without an error.
var ErrStopScan = errors.New("stop scan")

// Scan calls fn for every record from offset from up to the current end of the
// log, in offset order, skipping control batches. The record and its slices are
// valid only during the call. It returns the offset after the last record seen.
func (l *Log) Scan(ctx context.Context, from int64, fn func(r *Record) error) (int64, error) {
	var buf []byte
	off := from
	for {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		var err error
		buf, err = l.ReadBatches(buf[:0], off, 1<<20)
		if err != nil || len(buf) == 0 {
			return off, err
		}
		for p := buf; len(p) > 0; {
			b := batchView(p[:batchView(p).length()])
			p = p[len(b):]
			if b.attributes()&attrControl != 0 {
				off = b.nextOffset()
				continue
			}
			var it recordIter
			if err := it.resetBatch(b); err != nil {
				return off, err
			}
			var r Record
			for it.next() {
				it.recordShared(b.baseOffset(), b.firstTimestamp(), &r)
				if r.Offset < off {
					continue
				}
				if err := fn(&r); err != nil {
					if errors.Is(err, ErrStopScan) {
						return r.Offset + 1, nil
					}
					return r.Offset, err
				}
			}
			if it.err != nil {
				return off, it.err
			}
			off = b.nextOffset()
		}
	}
}
