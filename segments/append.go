package segments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

type encodeState struct {
	enc BatchEncoder
	buf []byte
}

var encodePool = sync.Pool{New: func() any { return new(encodeState) }}

// maxPooledBuffer keeps oversize encode buffers out of the pool.
const maxPooledBuffer = 4 << 20

// Append writes recs as one batch and returns the offset of the first record. It
// returns once the batch is durable under the fsync policy.
func (l *Log) Append(ctx context.Context, recs []Record) (int64, error) {
	if len(recs) == 0 {
		return 0, fmt.Errorf("%w: no records", ErrInvalidBatch)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	st := encodePool.Get().(*encodeState)
	st.buf = st.enc.AppendBatch(st.buf[:0], recs)
	base, err := l.append(st.buf, 0, false)
	if cap(st.buf) <= maxPooledBuffer {
		encodePool.Put(st)
	}
	return base, err
}

// AppendBatch appends one encoded Kafka v2 record batch, stamping its base offset
// and leader epoch in place, and returns the base offset. It returns once the
// batch is durable under the fsync policy.
func (l *Log) AppendBatch(batch []byte, leaderEpoch int32) (int64, error) {
	if err := checkBatch(batch); err != nil {
		return 0, err
	}
	return l.append(batch, leaderEpoch, true)
}

func (l *Log) append(batch []byte, epoch int32, stampEpoch bool) (int64, error) {
	began := time.Now()
	base, next, err := l.write(batch, epoch, stampEpoch)
	if err != nil {
		return 0, err
	}
	if err := l.WaitDurable(next); err != nil {
		return 0, err
	}
	l.metrics.appendDuration.Observe(time.Since(began).Seconds())
	return base, nil
}

// StartAppendBatch is AppendBatch without the durability wait: it returns
// once the batch is written (so batches a caller starts one after another
// keep that order in the log), with next, the offset after the batch. The
// batch is acknowledged only after WaitDurable(next) returns nil; until then
// it may be lost in a crash and is not readable.
func (l *Log) StartAppendBatch(batch []byte, leaderEpoch int32) (base, next int64, err error) {
	if err := checkBatch(batch); err != nil {
		return 0, 0, err
	}
	return l.write(batch, leaderEpoch, true)
}

// WaitDurable returns once offsets below next are durable under the fsync
// policy, and readable.
func (l *Log) WaitDurable(next int64) error {
	if l.cfg.FsyncInterval != 0 {
		return nil // write published them
	}
	return l.syncTo(next)
}

// write writes one batch at the end of the active segment and returns its
// base offset and the offset after it.
func (l *Log) write(batch []byte, epoch int32, stampEpoch bool) (int64, int64, error) {
	if int64(len(batch)) > l.cfg.SegmentBytes {
		return 0, 0, fmt.Errorf("%w: %d bytes is larger than segment-bytes %d", ErrInvalidBatch, len(batch), l.cfg.SegmentBytes)
	}
	b := batchView(batch)
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return 0, 0, err
	}
	if err := l.maybeRollLocked(int64(len(batch))); err != nil {
		return 0, 0, err
	}
	l.mu.RLock()
	active := l.mu.segs[len(l.mu.segs)-1]
	l.mu.RUnlock()
	r := active.raw
	base := r.next // only appendMu holders change it
	b.setBaseOffset(base)
	if stampEpoch {
		b.setLeaderEpoch(epoch)
	}
	if _, err := r.f.Write(batch); err != nil {
		_ = r.f.Truncate(r.size) // best effort; recovery cuts a torn tail anyway
		l.fail(err)
		return 0, 0, fmt.Errorf("append to %s: %w", r.path, err)
	}
	l.mu.Lock()
	if r.size == 0 {
		active.opened = time.Now()
	}
	r.index.add(r.base, r.size, b)
	r.size += int64(len(batch))
	r.next = b.nextOffset()
	next := r.next
	l.mu.Unlock()
	if l.cfg.FsyncInterval != 0 {
		l.publish(next)
	}
	l.metrics.appendedBatches.Inc()
	l.metrics.appendedRecords.Add(float64(b.lastOffsetDelta() + 1))
	l.metrics.appendedBytes.Add(float64(len(batch)))
	return base, next, nil
}

func (l *Log) writableLocked() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.writeErr != nil {
		return l.mu.writeErr
	}
	return nil
}

// fail records the first write error; the log refuses appends after it.
func (l *Log) fail(err error) {
	l.mu.Lock()
	if l.mu.writeErr == nil {
		l.mu.writeErr = &writeFailedError{err: err}
		l.metrics.writeFailures.Inc()
		l.logger.Error("log write failed; refusing appends until reopened", "err", err)
	}
	l.mu.Unlock()
}

// syncTo makes offsets below end durable, sharing one fsync among every appender
// waiting at the same time (group commit).
func (l *Log) syncTo(end int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.durable >= end {
		return nil
	}
	l.mu.RLock()
	active := l.mu.segs[len(l.mu.segs)-1]
	target, werr, closed := active.raw.next, l.mu.writeErr, l.mu.closed
	l.mu.RUnlock()
	if werr != nil {
		return werr
	}
	if closed {
		return ErrClosed
	}
	began := time.Now()
	if err := l.fsync(active.raw.f); err != nil {
		l.fail(err)
		return fmt.Errorf("fsync %s: %w", active.raw.path, err)
	}
	l.metrics.fsyncDuration.Observe(time.Since(began).Seconds())
	l.durable = target
	l.publish(target)
	return nil
}

// fsync syncs f, through the shared Syncer when there is one.
func (l *Log) fsync(f File) error {
	if l.syncer != nil {
		return l.syncer.Sync(f)
	}
	return f.Sync()
}

// maybeRollLocked seals the active segment when adding n bytes would pass
// SegmentBytes or the segment is older than SegmentAge. Callers hold appendMu.
func (l *Log) maybeRollLocked(n int64) error {
	l.mu.RLock()
	active := l.mu.segs[len(l.mu.segs)-1]
	size, opened := active.raw.size, active.opened
	l.mu.RUnlock()
	if size == 0 || (size+n <= l.cfg.SegmentBytes && time.Since(opened) < l.cfg.SegmentAge) {
		return nil
	}
	if err := l.rollLocked(active); err != nil {
		l.fail(err)
		return err
	}
	return nil
}

// rollLocked syncs and seals the active segment, writes its index and starts a new
// active segment. Callers hold appendMu.
func (l *Log) rollLocked(active *segment) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	r := active.raw
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", r.path, err)
	}
	l.durable = r.next
	l.publish(r.next)
	if err := WriteFileAtomic(l.fs, segmentPath(l.dir, r.base, indexExt), r.indexFile().marshal(nil)); err != nil {
		return fmt.Errorf("seal %s: %w", r.path, err)
	}
	if err := l.createActive(r.next); err != nil {
		return fmt.Errorf("roll %s: %w", r.path, err)
	}
	if err := l.writeManifest(); err != nil {
		return err
	}
	l.metrics.rolls.Inc()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return nil
}

// Roll seals the active segment now, if it holds anything.
func (l *Log) Roll() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.mu.RLock()
	active := l.mu.segs[len(l.mu.segs)-1]
	empty := active.raw.size == 0
	l.mu.RUnlock()
	if empty {
		return nil
	}
	if err := l.rollLocked(active); err != nil {
		l.fail(err)
		return err
	}
	return nil
}

// Truncate removes every offset >= next, which must be a batch boundary held by a
// raw segment (or the end of the log). Replication uses it to drop a conflicting
// tail.
func (l *Log) Truncate(next int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writableLocked(); err != nil {
		return err
	}
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.RLock()
	segs := append([]*segment(nil), l.mu.segs...)
	start, end := l.mu.start, segs[len(segs)-1].raw.next
	l.mu.RUnlock()
	if next < start || next > end {
		return fmt.Errorf("truncate to %d: %w (log holds [%d, %d))", next, ErrOffsetOutOfRange, start, end)
	}
	if next == end {
		return nil
	}
	i := len(segs) - 1
	for i > 0 && segs[i].base > next {
		i--
	}
	keep := segs[i]
	if keep.raw == nil && next > keep.base {
		return fmt.Errorf("truncate to %d: inside compressed segment %d, which holds only committed data", next, keep.base)
	}
	pos, err := keep.raw.boundary(next)
	if err != nil {
		return err
	}
	if err := l.cutLocked(segs[i:], keep, pos, next); err != nil {
		l.fail(err)
		return err
	}
	return nil
}

// boundary returns the byte position of the batch based at off.
func (s *rawSegment) boundary(off int64) (int64, error) {
	pos, _ := s.index.lookupOffset(s.base, off)
	var hdr [batchHeaderSize]byte
	for pos < s.size {
		if _, err := s.f.ReadAt(hdr[:], pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, s.corrupt(pos, err)
		}
		b := batchView(hdr[:])
		if b.baseOffset() == off {
			return pos, nil
		}
		if b.baseOffset() > off {
			break
		}
		pos += int64(b.length())
	}
	if pos == s.size && s.next == off {
		return pos, nil
	}
	return 0, fmt.Errorf("truncate to %d: %w", off, ErrNotBatchBoundary)
}

// cutLocked drops the segments after keep, cuts keep at pos and makes it the
// active segment again. Dropped files are unlinked at once, since new segments may
// soon reuse their names; readers still holding them keep their open files.
func (l *Log) cutLocked(tail []*segment, keep *segment, pos, next int64) error {
	r := keep.raw
	if keep != tail[len(tail)-1] {
		// A sealed segment becomes active: a new handle opened for appending.
		f, err := l.fs.OpenFile(r.path, os.O_RDWR|os.O_APPEND, 0o644)
		if err != nil {
			return err
		}
		r = &rawSegment{path: r.path, f: f, base: r.base, size: r.size, next: r.next, index: r.index}
		r.index.entries = append([]indexEntry(nil), r.index.entries...)
	}
	if err := r.f.Truncate(pos); err != nil {
		return err
	}
	if err := r.f.Sync(); err != nil {
		return err
	}
	_ = l.fs.Remove(segmentPath(l.dir, keep.base, indexExt))
	for _, d := range tail[1:] {
		for _, p := range d.paths() {
			_ = l.fs.Remove(p)
		}
	}
	l.mu.Lock()
	r.size, r.next = pos, next
	r.index.truncate(pos)
	n := len(l.mu.segs) - len(tail)
	replaced := l.mu.segs[n]
	if replaced.raw != r {
		l.mu.segs[n] = newSegment(l.fs, l.dir, r, nil)
	}
	l.mu.segs = l.mu.segs[:n+1]
	l.mu.visible = min(l.mu.visible, next)
	l.mu.ready = min(l.mu.ready, next)
	l.mu.Unlock()
	l.durable = min(l.durable, next)
	if replaced.raw != r {
		replaced.release()
	}
	for _, d := range tail[1:] {
		d.release()
	}
	return l.writeManifest()
}
