package segments

import (
	"fmt"
	"slices"
	"time"
)

// retentionUnit is a range of offsets retention deletes as a whole: a local
// sealed segment, its uploaded copy, or both.
type retentionUnit struct {
	base, size, maxTs int64
	local             *segment // nil: only in the cold tier
	attempt           string   // ID of the uploaded attempt covering it, or ""
}

// unitsLocked lists the log's units oldest first, and the log's total size
// (each offset range counted once, the active segment included). Callers hold mu.
func (l *Log) unitsLocked() ([]retentionUnit, int64) {
	segs := l.mu.segs
	localStart := segs[0].base
	var units []retentionUnit
	covered := map[[2]int64]string{}
	for _, e := range l.mu.attempts {
		if e.State != coldUploaded {
			continue
		}
		covered[[2]int64{e.Base, e.Next}] = e.ID
		if e.Base < localStart {
			units = append(units, retentionUnit{base: e.Base, size: e.Bytes, maxTs: e.MaxTimestamp, attempt: e.ID})
		}
	}
	slices.SortFunc(units, func(a, b retentionUnit) int { return int(a.base - b.base) })
	var total int64
	for _, u := range units {
		total += u.size
	}
	for _, s := range segs[:len(segs)-1] {
		units = append(units, retentionUnit{base: s.base, size: s.size(), maxTs: s.maxTimestamp(),
			local: s, attempt: covered[[2]int64{s.base, s.next()}]})
		total += s.size()
	}
	return units, total + segs[len(segs)-1].size()
}

// retainAll applies retention.ms and retention.bytes to the whole log, oldest
// first: each unit past a limit leaves every tier. The log start moves past it in
// the MANIFEST write that marks its attempt delete_started; cleanupAttempts then
// deletes the objects.
func (l *Log) retainAll(now time.Time, r Retention) error {
	if r.Age <= 0 && r.Bytes <= 0 {
		return nil
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	units, total := l.unitsLocked()
	cutoff := now.Add(-r.Age).UnixMilli()
	var victims []*segment
	nLocal, changed := 0, false
	for _, u := range units {
		old := r.Age > 0 && u.maxTs < cutoff
		big := r.Bytes > 0 && total-u.size >= r.Bytes
		if !old && !big {
			break
		}
		total -= u.size
		changed = true
		if u.local != nil {
			victims = append(victims, u.local)
			nLocal++
		}
		if u.attempt != "" {
			l.markDeleteLocked(u.attempt, &victims)
		}
	}
	if !changed {
		l.mu.Unlock()
		return nil
	}
	l.mu.segs = l.mu.segs[nLocal:]
	l.mu.start = max(l.mu.start, l.firstOffsetLocked())
	l.mu.Unlock()
	err := l.writeManifest()
	for _, s := range victims {
		s.dead.Store(true)
		s.release()
		if s.cold == nil {
			l.metrics.deletedSegments.Inc()
		}
	}
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	return nil
}

// markDeleteLocked moves attempt id to delete_started and adds its cold segment,
// if open, to victims. Callers hold mu.
func (l *Log) markDeleteLocked(id string, victims *[]*segment) {
	for i := range l.mu.attempts {
		if l.mu.attempts[i].ID == id {
			l.mu.attempts[i].State = coldDeleteStarted
		}
	}
	var dropped *segment
	l.mu.cold, dropped = removeCold(l.mu.cold, id)
	if dropped != nil {
		*victims = append(*victims, dropped)
	}
}

// retainLocal deletes the oldest local sealed segments past local retention that
// an uploaded attempt covers exactly. The first segment that is not both stops
// it, so the local segments stay a contiguous suffix of the log.
func (l *Log) retainLocal(now time.Time, r Retention) error {
	if r.LocalAge <= 0 && r.LocalBytes <= 0 {
		return nil
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	expired := l.localExpiredLocked(now, r)
	covered := map[[2]int64]bool{}
	for _, e := range l.mu.attempts {
		if e.State == coldUploaded {
			covered[[2]int64{e.Base, e.Next}] = true
		}
	}
	n := 0
	for i, s := range l.mu.segs[:len(l.mu.segs)-1] {
		if !expired[i] || !covered[[2]int64{s.base, s.next()}] {
			break
		}
		n++
	}
	victims := slices.Clone(l.mu.segs[:n])
	l.mu.segs = l.mu.segs[n:]
	l.mu.Unlock()
	if n == 0 {
		return nil
	}
	err := l.writeManifest()
	for _, s := range victims {
		s.dead.Store(true)
		s.release()
		l.logger.Debug("local copy of uploaded segment deleted", "base", s.base, "next", s.next())
	}
	if err != nil {
		return fmt.Errorf("local retention: %w", err)
	}
	return nil
}
