package segments

import (
	"context"
	"fmt"
	"time"
)

// compactAll compresses the oldest sealed raw segments past the HotBytes budget.
func (l *Log) compactAll(ctx context.Context) {
	for ctx.Err() == nil {
		seg := l.nextToCompact()
		if seg == nil {
			return
		}
		if l.slots != nil {
			select {
			case l.slots <- struct{}{}:
			case <-ctx.Done():
				seg.release()
				return
			}
		}
		err := l.compact(seg)
		if l.slots != nil {
			<-l.slots
		}
		seg.release()
		if err != nil {
			l.logger.Error("compaction failed", "segment", seg.base, "err", err)
			l.quarantineOnCorruption(seg, err)
			return // retried at the next roll
		}
	}
}

// nextToCompact returns (with a reference) the oldest sealed raw segment beyond the
// newest HotBytes of sealed raw segments.
func (l *Log) nextToCompact() *segment {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return nil
	}
	segs := l.mu.segs[:len(l.mu.segs)-1] // never the active one
	var hot int64
	var pick *segment
	for i := len(segs) - 1; i >= 0; i-- {
		s := segs[i]
		if s.raw == nil {
			break
		}
		hot += s.size()
		if hot > l.cfg.HotBytes {
			pick = s
		}
	}
	if pick != nil {
		pick.acquire()
	}
	return pick
}

// Compact compresses every sealed raw segment now, whatever HotBytes says. It is
// what tests and operators use to force the warm layout.
func (l *Log) Compact() error {
	l.mu.RLock()
	var todo []*segment
	for _, s := range l.mu.segs[:len(l.mu.segs)-1] {
		if s.raw != nil {
			s.acquire()
			todo = append(todo, s)
		}
	}
	l.mu.RUnlock()
	var err error
	for _, s := range todo {
		if err == nil {
			err = l.compact(s)
		}
		s.release()
	}
	return err
}

// compact writes seg as a .zst segment and swaps it in. Compactions of one log
// run one at a time (the background compactor, Compact and the tier cycle all
// call it), and a segment already compacted or deleted is skipped.
func (l *Log) compact(seg *segment) error {
	l.compactMu.Lock()
	defer l.compactMu.Unlock()
	if !l.isLive(seg) {
		return nil
	}
	r := seg.raw
	path := segmentPath(l.dir, seg.base, zstExt)
	size, err := writeWarm(l.fs, path, r.base, r.next, l.cfg.BlockBytes,
		func(dst []byte, off int64, maxBytes int) ([]byte, error) {
			pos, expect := r.index.lookupOffset(r.base, off)
			return r.readBatches(dst, pos, expect, r.size, off, r.next, maxBytes)
		})
	if err != nil {
		return err
	}
	w, err := openWarm(l.fs, path, seg.base)
	if err != nil {
		// The new file is bad, not the segment it came from: keep the source.
		_ = l.fs.Remove(path)
		return fmt.Errorf("verify compacted %s: %v", path, err)
	}
	warm := newSegment(l.fs, l.dir, nil, w)
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if !l.replaceSegment(seg, warm) {
		warm.dead.Store(true) // the raw segment went away meanwhile
		warm.release()
		return nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	if err := l.writeManifest(); err != nil {
		return err
	}
	seg.dead.Store(true)
	seg.release()
	l.metrics.compactions.Inc()
	l.metrics.compactedIn.Add(float64(r.size))
	l.metrics.compactedOut.Add(float64(size))
	l.logger.Debug("compacted segment", "base", seg.base, "raw_bytes", r.size, "zst_bytes", size)
	return nil
}

// isLive reports whether seg is still in the local segment list.
func (l *Log) isLive(seg *segment) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range l.mu.segs {
		if s == seg {
			return true
		}
	}
	return false
}

// replaceSegment swaps old for new in the segment list if old is still there.
func (l *Log) replaceSegment(old, new *segment) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.mu.segs {
		if s == old {
			l.mu.segs[i] = new
			return true
		}
	}
	return false
}

// EnforceRetention deletes whole sealed segments, oldest first, whose newest record
// is older than RetentionAge or while the log is larger than RetentionBytes. The
// active segment is never deleted. Readers holding a deleted segment finish first.
func (l *Log) EnforceRetention(now time.Time) error {
	return l.enforceRetention(now, l.cfg.RetentionAge, l.cfg.RetentionBytes)
}

// EnforceRetentionWith is EnforceRetention with a per-topic policy.
func (l *Log) EnforceRetentionWith(now time.Time, age time.Duration, bytes int64) error {
	return l.enforceRetention(now, age, bytes)
}

func (l *Log) enforceRetention(now time.Time, age time.Duration, bytes int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var total int64
	for _, s := range l.mu.segs {
		total += s.size()
	}
	cutoff := now.Add(-age).UnixMilli()
	n := 0
	for _, s := range l.mu.segs[:len(l.mu.segs)-1] {
		old := age > 0 && s.maxTimestamp() < cutoff
		big := bytes > 0 && total-s.size() >= bytes
		if !old && !big {
			break
		}
		total -= s.size()
		n++
	}
	victims := append([]*segment(nil), l.mu.segs[:n]...)
	l.mu.segs = l.mu.segs[n:]
	if n > 0 {
		l.mu.start = max(l.mu.start, l.firstOffsetLocked())
	}
	l.mu.Unlock()
	if n == 0 {
		return nil
	}
	err := l.writeManifest()
	for _, s := range victims {
		s.dead.Store(true)
		s.release()
		l.logger.Info("retention deleted segment", "base", s.base, "next", s.next())
	}
	l.metrics.deletedSegments.Add(float64(n))
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// quarantineOnCorruption moves a sealed segment that returned a CorruptionError out
// of the log and into quarantine/, so it is never served again.
func (l *Log) quarantineOnCorruption(seg *segment, err error) {
	if !IsCorruption(err) {
		return
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	idx := -1
	for i, s := range l.mu.segs {
		if s == seg && i < len(l.mu.segs)-1 {
			idx = i
		}
	}
	if idx < 0 {
		l.mu.Unlock()
		return
	}
	l.mu.segs = append(l.mu.segs[:idx:idx], l.mu.segs[idx+1:]...)
	if idx == 0 {
		l.mu.start = max(l.mu.start, l.firstOffsetLocked())
	}
	l.mu.Unlock()
	moved := seg.moveToQuarantine()
	_ = l.writeManifest()
	seg.release()
	l.metrics.quarantined.Inc()
	l.logger.Error("segment quarantined", "base", seg.base, "next", seg.next(), "err", err, "moved", moved)
}
