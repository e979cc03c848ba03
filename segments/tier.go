package segments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Retention is a partition's retention policy across its tiers, as Kafka names
// it. A zero limit is unlimited. Callers resolve Kafka's -2 ("same as
// retention") before passing it.
type Retention struct {
	Age        time.Duration // retention.ms: the whole log
	Bytes      int64         // retention.bytes: the whole log
	LocalAge   time.Duration // local.retention.ms: local segments (cold tier only)
	LocalBytes int64         // local.retention.bytes: local segments (cold tier only)
}

// TierSize is the bytes and segment count of one tier.
type TierSize struct {
	Bytes    int64
	Segments int
}

// TierStats describes a log's tiers: hot (raw segments, the active one
// included), warm (local compressed segments) and cold (uploaded segments, some
// of which may still have a local copy).
type TierStats struct {
	Hot, Warm, Cold  TierSize
	LocalStartOffset int64
}

// TierStats returns the bytes and segments per tier.
func (l *Log) TierStats() TierStats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var st TierStats
	if len(l.mu.segs) > 0 {
		st.LocalStartOffset = l.mu.segs[0].base
	}
	for _, s := range l.mu.segs {
		t := &st.Warm
		if s.raw != nil {
			t = &st.Hot
		}
		t.Bytes += s.size()
		t.Segments++
	}
	for _, e := range l.mu.attempts {
		if e.State == coldUploaded {
			st.Cold.Bytes += e.Bytes
			st.Cold.Segments++
		}
	}
	return st
}

// Tier runs one tier cycle (FORMAT.md, "The tier cycle"): it cleans up failed and
// orphaned upload attempts, applies retention to every tier, uploads sealed warm
// segments in offset order and deletes local copies past local retention. Without
// a cold store it only applies r.Age and r.Bytes to the local log.
func (l *Log) Tier(ctx context.Context, now time.Time, r Retention) error {
	l.tierMu.Lock()
	defer l.tierMu.Unlock()
	l.mu.RLock()
	closed := l.mu.closed
	l.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if l.cold == nil {
		return l.enforceRetention(now, r.Age, r.Bytes)
	}
	var errs []error
	errs = append(errs, l.cleanupAttempts(ctx), l.loadMissingIndexes(ctx), l.retainAll(now, r))
	errs = append(errs, l.uploadAll(ctx, now, r))
	errs = append(errs, l.retainLocal(now, r), l.cleanupAttempts(ctx))
	return errors.Join(errs...)
}

// recoverCold loads the MANIFEST's upload attempts at Open: an attempt a crash
// interrupted becomes an orphan to delete, and uploaded ones are opened from their
// local index copies (or the bucket).
func (l *Log) recoverCold(m *manifest) error {
	l.mu.attempts = append([]coldEntry(nil), m.Cold...)
	for i := range l.mu.attempts {
		e := &l.mu.attempts[i]
		switch {
		case e.State == coldUploadStarted:
			l.logger.Warn("orphaned cold upload found; it will be deleted", "base", e.Base, "id", e.ID)
			e.State = coldDeleteStarted
		case e.State == coldUploaded && l.cold != nil:
			ctx, cancel := context.WithTimeout(context.Background(), coldReadTimeout)
			s, err := l.loadColdIndex(ctx, e)
			cancel()
			if err != nil {
				l.logger.Warn("cold segment unavailable until its index loads", "base", e.Base, "id", e.ID, "err", err)
				continue
			}
			l.mu.cold = append(l.mu.cold, s)
		}
	}
	slices.SortFunc(l.mu.cold, func(a, b *segment) int { return int(a.base - b.base) })
	return nil
}

// firstOffsetLocked is the first offset held by an uploaded attempt or a local
// segment. Callers hold mu.
func (l *Log) firstOffsetLocked() int64 {
	first := int64(-1)
	if len(l.mu.segs) > 0 {
		first = l.mu.segs[0].base
	}
	for _, e := range l.mu.attempts {
		if e.State == coldUploaded && (first < 0 || e.Base < first) {
			first = e.Base
		}
	}
	return max(first, 0)
}

// pruneDeleted drops all but the newest keepDeletedAttempts finished deletions.
func pruneDeleted(attempts []coldEntry) []coldEntry {
	done := 0
	for _, e := range attempts {
		if e.State == coldDeleteFinished {
			done++
		}
	}
	out := make([]coldEntry, 0, len(attempts))
	for _, e := range attempts {
		if e.State == coldDeleteFinished && done > keepDeletedAttempts {
			done--
			continue
		}
		out = append(out, e)
	}
	return out
}

// setAttempt changes the state of attempt id and writes the MANIFEST. A cold
// segment of an attempt leaving the uploaded state stops being readable.
func (l *Log) setAttempt(id string, state coldState) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	var dropped *segment
	l.mu.Lock()
	for i := range l.mu.attempts {
		if l.mu.attempts[i].ID == id {
			l.mu.attempts[i].State = state
		}
	}
	if state != coldUploaded {
		l.mu.cold, dropped = removeCold(l.mu.cold, id)
	}
	l.mu.attempts = pruneDeleted(l.mu.attempts)
	l.mu.Unlock()
	if dropped != nil {
		dropped.dead.Store(true)
		dropped.release()
	}
	return l.writeManifest()
}

// coldByID returns the cold segment of attempt id in list, or nil.
func coldByID(list []*segment, id string) *segment {
	for _, s := range list {
		if s.cold.entry.ID == id {
			return s
		}
	}
	return nil
}

// removeCold removes the cold segment of attempt id from list.
func removeCold(list []*segment, id string) ([]*segment, *segment) {
	for i, s := range list {
		if s.cold.entry.ID == id {
			return append(list[:i:i], list[i+1:]...), s
		}
	}
	return list, nil
}

// cleanupAttempts deletes the objects of every attempt in delete_started, then
// records delete_finished. A failure leaves the attempt for the next cycle.
func (l *Log) cleanupAttempts(ctx context.Context) error {
	l.mu.RLock()
	var todo []coldEntry
	for _, e := range l.mu.attempts {
		if e.State == coldDeleteStarted {
			todo = append(todo, e)
		}
	}
	l.mu.RUnlock()
	var errs []error
	for _, e := range todo {
		if err := l.cold.Delete(ctx, e.attempt()); err != nil {
			errs = append(errs, fmt.Errorf("delete cold attempt %s: %w", e.attempt().Key(), err))
			continue
		}
		_ = l.fs.Remove(l.coldIndexPath(&e))
		if err := l.setAttempt(e.ID, coldDeleteFinished); err != nil {
			errs = append(errs, err)
			continue
		}
		l.logger.Debug("cold attempt deleted", "base", e.Base, "id", e.ID)
	}
	return errors.Join(errs...)
}

// loadMissingIndexes opens uploaded attempts whose index could not be loaded.
func (l *Log) loadMissingIndexes(ctx context.Context) error {
	l.mu.RLock()
	var todo []coldEntry
	for _, e := range l.mu.attempts {
		if e.State == coldUploaded && coldByID(l.mu.cold, e.ID) == nil {
			todo = append(todo, e)
		}
	}
	l.mu.RUnlock()
	var errs []error
	for _, e := range todo {
		s, err := l.loadColdIndex(ctx, &e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.appendMu.Lock()
		l.mu.Lock()
		l.insertColdLocked(s)
		l.mu.Unlock()
		l.appendMu.Unlock()
	}
	return errors.Join(errs...)
}

func (l *Log) insertColdLocked(s *segment) {
	i, _ := slices.BinarySearchFunc(l.mu.cold, s.base, func(c *segment, base int64) int { return int(c.base - base) })
	l.mu.cold = slices.Insert(l.mu.cold, i, s)
}

// uploadAll uploads sealed segments in offset order until none is ready.
func (l *Log) uploadAll(ctx context.Context, now time.Time, r Retention) error {
	for ctx.Err() == nil {
		seg, compact := l.nextUpload(now, r)
		if seg == nil {
			return nil
		}
		var err error
		if compact {
			err = l.compact(seg)
		} else {
			err = l.upload(ctx, seg)
		}
		seg.release()
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// nextUpload returns (with a reference) the oldest local sealed segment not yet
// uploaded, if it is warm and below the high watermark. A raw one is returned
// with compact set when local retention already wants it gone; otherwise it waits
// for background compaction.
func (l *Log) nextUpload(now time.Time, r Retention) (*segment, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.mu.closed {
		return nil, false
	}
	coldEnd := int64(-1)
	for _, e := range l.mu.attempts {
		if e.State == coldUploaded {
			coldEnd = max(coldEnd, e.Next)
		}
	}
	expired := l.localExpiredLocked(now, r)
	for i, s := range l.mu.segs[:len(l.mu.segs)-1] {
		if s.base < coldEnd || s.next() > l.mu.visible {
			continue
		}
		if s.raw != nil && !expired[i] {
			return nil, false
		}
		s.acquire()
		return s, s.raw != nil
	}
	return nil, false
}

// localExpiredLocked reports, for each local sealed segment, whether local
// retention wants it gone. Callers hold mu.
func (l *Log) localExpiredLocked(now time.Time, r Retention) []bool {
	segs := l.mu.segs
	var total int64
	for _, s := range segs {
		total += s.size()
	}
	out := make([]bool, len(segs)-1)
	cutoff := now.Add(-r.LocalAge).UnixMilli()
	for i, s := range segs[:len(segs)-1] {
		total -= s.size()
		out[i] = (r.LocalAge > 0 && s.maxTimestamp() < cutoff) || (r.LocalBytes > 0 && total >= r.LocalBytes)
	}
	return out
}

// upload runs one upload attempt of the warm segment seg (FORMAT.md).
func (l *Log) upload(ctx context.Context, seg *segment) error {
	w := seg.warm
	e := coldEntry{Base: seg.base, Next: seg.next(), ID: uuid.NewString(), State: coldUploadStarted,
		Bytes: w.size, MinTimestamp: w.minTimestamp(), MaxTimestamp: w.maxTimestamp()}
	l.appendMu.Lock()
	l.mu.Lock()
	l.mu.attempts = append(l.mu.attempts, e)
	l.mu.Unlock()
	err := l.writeManifest()
	l.appendMu.Unlock()
	if err != nil {
		return errors.Join(fmt.Errorf("record cold upload start: %w", err), l.setAttempt(e.ID, coldDeleteStarted))
	}
	cs, err := l.uploadObjects(ctx, w, &e)
	if err != nil {
		l.logger.Warn("cold upload failed; the attempt will be deleted", "base", e.Base, "id", e.ID, "err", err)
		return errors.Join(fmt.Errorf("upload segment %d: %w", e.Base, err), l.setAttempt(e.ID, coldDeleteStarted))
	}
	l.appendMu.Lock()
	l.mu.Lock()
	l.insertColdLocked(cs)
	for i := range l.mu.attempts {
		if l.mu.attempts[i].ID == e.ID {
			l.mu.attempts[i].State = coldUploaded
		}
	}
	l.mu.Unlock()
	err = l.writeManifest()
	l.appendMu.Unlock()
	if err != nil {
		return errors.Join(fmt.Errorf("record cold upload finish: %w", err), l.setAttempt(e.ID, coldDeleteStarted))
	}
	l.logger.Debug("segment uploaded", "base", e.Base, "next", e.Next, "id", e.ID, "bytes", e.Bytes)
	return nil
}

// uploadObjects sends the segment and its index, keeps the index locally and
// opens the uploaded copy for reading.
func (l *Log) uploadObjects(ctx context.Context, w *warmSegment, e *coldEntry) (*segment, error) {
	last := w.blocks[len(w.blocks)-1]
	tailAt := int64(last.position) + int64(last.compLen)
	index := make([]byte, w.size-tailAt)
	if _, err := w.f.ReadAt(index, tailAt); err != nil {
		return nil, fmt.Errorf("read index of %s: %w", w.path, err)
	}
	if err := l.cold.Upload(ctx, e.attempt(), io.NewSectionReader(w.f, 0, w.size), index); err != nil {
		return nil, err
	}
	if err := writeColdIndex(l.fs, l.coldIndexPath(e), index); err != nil {
		return nil, err
	}
	up := *e
	up.State = coldUploaded
	cs, err := openCold(l.cold, l.dir, &up, index)
	if err != nil {
		return nil, err
	}
	cs.fs = l.fs
	return cs, nil
}

// writeColdIndex publishes a local index copy by temp file and rename, without
// fsync: a copy lost or torn in a crash fails its footer CRC at Open and is
// fetched again from the index object.
func writeColdIndex(fsys FS, path string, data []byte) error {
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ColdAttempts lists the upload attempts whose objects may still exist in the
// cold tier, from the MANIFEST of the closed log in dir. Deleting a topic uses it
// to delete its objects without listing the bucket.
func ColdAttempts(dir string) ([]ColdAttempt, error) {
	m, err := readManifest(OSFS, dir)
	if err != nil {
		return nil, err
	}
	var out []ColdAttempt
	for _, e := range m.Cold {
		if e.State != coldDeleteFinished {
			out = append(out, e.attempt())
		}
	}
	return out, nil
}
