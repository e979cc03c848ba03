package segments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Log is the append-only log of one partition: a directory of segments. Appends
// are serialised; reads run concurrently with appends and with each other.
type Log struct {
	dir     string
	cfg     Config
	fs      FS
	logger  *slog.Logger
	metrics *Metrics
	gated   bool // readers see only committed offsets (WithCommitGate)

	// appendMu serialises appends and every change to the segment list (roll,
	// compaction swap, retention, truncation, quarantine). Lock order:
	// appendMu, then syncMu, then mu.
	appendMu sync.Mutex

	syncMu  sync.Mutex
	durable int64 // guarded by syncMu: offsets below are fsynced

	mu struct {
		sync.RWMutex
		segs  []*segment // in offset order; the last is active
		start int64      // log start offset, in any tier
		// cold holds the readable cold segments (uploaded attempts whose index is
		// loaded), in offset order; attempts lists every upload attempt of the
		// MANIFEST. Both change only with appendMu held too.
		cold     []*segment
		attempts []coldEntry
		visible  int64 // offsets below are readable (durable under the policy, and committed when gated)
		ready    int64 // offsets below are durable under the policy
		// committed is the replication commit point (high watermark); it
		// limits visible only when gated (WithCommitGate).
		committed int64
		writeErr  error // first failed write or fsync: appends refuse after it
		closed    bool
		changed   chan struct{} // closed when visible grows
	}

	recovery  Recovery
	cold      ColdStore     // nil: no cold tier
	tierMu    sync.Mutex    // one tier cycle at a time
	compactMu sync.Mutex    // makes compactions of the log run one at a time; held before appendMu
	kick      chan struct{} // wakes the background compactor
	slots     chan struct{} // shared among logs: one token per compaction that may run
	syncer    *Syncer       // shared among logs: fsync rounds
	cache     *BlockCache   // shared among logs: decompressed warm blocks (nil: none)
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// Recovery reports what Open found and repaired.
type Recovery struct {
	TruncatedBytes int64      // torn or invalid bytes cut from the active segment's tail
	Lost           [][2]int64 // offset ranges [from, to) no longer readable
	Quarantined    []string   // files moved to quarantine/
	RebuiltIndexes int
}

// Option configures Open.
type Option func(*Log)

// WithFS makes the log use fsys for every file operation.
func WithFS(fsys FS) Option { return func(l *Log) { l.fs = fsys } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(lg *slog.Logger) Option { return func(l *Log) { l.logger = lg } }

// WithCompactionSlots bounds background compactions across every log given the
// same channel: each holds one of its cap(slots) tokens while it runs, so
// compression never takes more cores than that, whatever the partition count.
func WithCompactionSlots(slots chan struct{}) Option { return func(l *Log) { l.slots = slots } }

// WithSyncer makes the log fsync through s, in rounds shared with other logs.
func WithSyncer(s *Syncer) Option { return func(l *Log) { l.syncer = s } }

// WithMetrics makes the log report into m.
func WithMetrics(m *Metrics) Option { return func(l *Log) { l.metrics = m } }

// Open opens or creates the log in dir, recovering it as FORMAT.md describes.
func Open(dir string, cfg Config, opts ...Option) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l := &Log{dir: dir, cfg: cfg, fs: OSFS, logger: slog.Default(), kick: make(chan struct{}, 1)}
	for _, o := range opts {
		o(l)
	}
	if l.metrics == nil {
		l.metrics = NewMetrics(nil)
	}
	l.logger = l.logger.With("log", dir)
	l.mu.changed = make(chan struct{})
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	if err := l.recover(); err != nil {
		l.closeSegments()
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.durable = l.mu.segs[len(l.mu.segs)-1].next()
	l.mu.ready, l.mu.visible = l.durable, l.durable
	if l.gated {
		l.mu.committed = l.mu.start
		l.mu.visible = l.mu.start
	}
	if r := l.recovery; r.TruncatedBytes > 0 || len(r.Lost) > 0 || len(r.Quarantined) > 0 {
		l.logger.Warn("log recovered with losses", "truncated_bytes", r.TruncatedBytes,
			"lost_offsets", r.Lost, "quarantined", r.Quarantined)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop = cancel
	l.wg.Add(1)
	go l.background(ctx)
	return l, nil
}

// recover builds the segment list from the MANIFEST (or the directory listing),
// removes orphans and repairs the active segment's tail.
func (l *Log) recover() error {
	names, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return err
	}
	m, err := readManifest(l.fs, l.dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		m = manifestFromNames(names)
	case IsCorruption(err):
		l.logger.Warn("manifest unreadable, rebuilding it from the directory", "err", err)
		m = manifestFromNames(names)
	case err != nil:
		return err
	}
	l.removeOrphans(names, m)
	l.mu.start = m.StartOffset
	if err := l.recoverCold(m); err != nil {
		return err
	}
	expect := m.StartOffset
	for i, ms := range m.Segments {
		active := i == len(m.Segments)-1 && ms.Layout == layoutLog
		s, err := l.openSegment(ms, active)
		if err != nil {
			if !IsCorruption(err) && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			l.dropUnreadable(ms, err)
			continue
		}
		if s.base > expect && len(l.mu.segs) > 0 {
			l.recovery.Lost = append(l.recovery.Lost, [2]int64{expect, s.base})
		}
		l.mu.segs = append(l.mu.segs, s)
		expect = s.next()
	}
	if len(l.mu.segs) == 0 || l.mu.segs[len(l.mu.segs)-1].raw == nil {
		if err := l.createActive(max(expect, m.StartOffset)); err != nil {
			return err
		}
	}
	l.mu.start = max(m.StartOffset, l.firstOffsetLocked())
	return l.writeManifest()
}

func manifestFromNames(names []string) *manifest {
	layouts := map[int64]layout{}
	for _, n := range names {
		base, ext, ok := parseSegmentName(n)
		if !ok {
			continue
		}
		switch {
		case ext == logExt:
			layouts[base] = layoutLog
		case ext == zstExt && layouts[base] == "":
			layouts[base] = layoutZst
		}
	}
	m := &manifest{}
	for base, lay := range layouts {
		m.Segments = append(m.Segments, manifestSegment{Base: base, Layout: lay})
	}
	sort.Slice(m.Segments, func(i, j int) bool { return m.Segments[i].Base < m.Segments[j].Base })
	if len(m.Segments) > 0 {
		m.StartOffset = m.Segments[0].Base
	}
	return m
}

// removeOrphans deletes files the manifest does not list: leftovers of an
// interrupted compaction, retention or rename.
func (l *Log) removeOrphans(names []string, m *manifest) {
	live := map[string]bool{manifestName: true}
	for _, e := range m.Cold {
		if e.State == coldUploaded {
			live[coldIndexName(e.Base, e.ID)] = true
		}
	}
	for _, s := range m.Segments {
		if s.Layout == layoutLog {
			live[segmentName(s.Base, logExt)] = true
			live[segmentName(s.Base, indexExt)] = true
		} else {
			live[segmentName(s.Base, zstExt)] = true
		}
	}
	for _, n := range names {
		_, _, isSeg := parseSegmentName(n)
		if live[n] || !(isSeg || strings.HasSuffix(n, tmpSuffix) || strings.HasSuffix(n, coldExt)) {
			continue
		}
		if err := l.fs.Remove(filepath.Join(l.dir, n)); err == nil {
			l.logger.Info("removed orphan file", "file", n)
		}
	}
}

func (l *Log) openSegment(ms manifestSegment, active bool) (*segment, error) {
	switch {
	case ms.Layout == layoutZst:
		w, err := openWarm(l.fs, segmentPath(l.dir, ms.Base, zstExt), ms.Base)
		if err != nil {
			return nil, err
		}
		return newSegment(l.fs, l.dir, nil, w), nil
	case active:
		r, err := l.openActive(ms.Base)
		if err != nil {
			return nil, err
		}
		return newSegment(l.fs, l.dir, r, nil), nil
	default:
		r, rebuilt, err := openRawSealed(l.fs, l.dir, ms.Base, l.cfg.IndexIntervalBytes)
		if err != nil {
			return nil, err
		}
		if rebuilt {
			l.recovery.RebuiltIndexes++
			l.logger.Info("rebuilt segment index", "segment", r.path)
		}
		return newSegment(l.fs, l.dir, r, nil), nil
	}
}

// openActive opens the active segment, validating every batch and truncating a
// torn or invalid tail (the dropped bytes are kept in quarantine/).
func (l *Log) openActive(base int64) (*rawSegment, error) {
	path := segmentPath(l.dir, base, logExt)
	f, err := l.fs.OpenFile(path, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	r := &rawSegment{path: path, f: f, base: base, next: base, index: newSparseIndex(l.cfg.IndexIntervalBytes)}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	end, scanErr := r.scan(size)
	if scanErr == nil {
		_ = l.fs.Remove(segmentPath(l.dir, base, indexExt)) // an active segment has none
		return r, nil
	}
	var ce *CorruptionError
	if !errors.As(scanErr, &ce) {
		_ = f.Close()
		return nil, scanErr
	}
	l.keepTornTail(r, end, size)
	if err := f.Truncate(end); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("truncate torn tail of %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, err
	}
	l.recovery.TruncatedBytes += size - end
	l.logger.Warn("truncated active segment tail", "segment", path, "at", end, "bytes", size-end, "reason", scanErr)
	return r, nil
}

// keepTornTail copies bytes [end, size) of r into quarantine/ for inspection.
func (l *Log) keepTornTail(r *rawSegment, end, size int64) {
	tail := make([]byte, size-end)
	if _, err := r.f.ReadAt(tail, end); err != nil && !errors.Is(err, io.EOF) {
		return
	}
	qdir := filepath.Join(l.dir, quarantineDir)
	if l.fs.MkdirAll(qdir, 0o755) != nil {
		return
	}
	name := fmt.Sprintf("%s.%d.torn", filepath.Base(r.path), end)
	if WriteFileAtomic(l.fs, filepath.Join(qdir, name), tail) == nil {
		l.recovery.Quarantined = append(l.recovery.Quarantined, filepath.Join(qdir, name))
	}
}

// dropUnreadable quarantines the files of a segment that failed to open.
func (l *Log) dropUnreadable(ms manifestSegment, cause error) {
	s := &segment{fs: l.fs, dir: l.dir, base: ms.Base}
	if ms.Layout == layoutLog {
		s.raw = &rawSegment{path: segmentPath(l.dir, ms.Base, logExt)}
	} else {
		s.warm = &warmSegment{path: segmentPath(l.dir, ms.Base, zstExt)}
	}
	moved := s.moveToQuarantine()
	l.recovery.Quarantined = append(l.recovery.Quarantined, moved...)
	l.metrics.quarantined.Inc()
	l.logger.Error("segment quarantined", "base", ms.Base, "err", cause, "moved", moved)
}

func (l *Log) createActive(base int64) error {
	path := segmentPath(l.dir, base, logExt)
	f, err := l.fs.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		_ = f.Close()
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		_ = f.Close()
		return err
	}
	r := &rawSegment{path: path, f: f, base: base, next: base, index: newSparseIndex(l.cfg.IndexIntervalBytes)}
	l.mu.Lock()
	l.mu.segs = append(l.mu.segs, newSegment(l.fs, l.dir, r, nil))
	l.mu.Unlock()
	return nil
}

// writeManifest publishes the current segment list. Callers hold appendMu (or are
// in Open).
func (l *Log) writeManifest() error {
	l.mu.RLock()
	m := &manifest{StartOffset: l.mu.start, Cold: pruneDeleted(l.mu.attempts)}
	for _, s := range l.mu.segs {
		m.Segments = append(m.Segments, manifestSegment{Base: s.base, Layout: s.layout()})
	}
	l.mu.RUnlock()
	return writeManifest(l.fs, l.dir, m)
}

// Recovery returns what Open found and repaired.
func (l *Log) Recovery() Recovery { return l.recovery }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// StartOffset returns the first offset still held, in any tier.
func (l *Log) StartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.start
}

// NextOffset returns the offset the next record will get; offsets below it are
// readable (the high watermark of a single-node log).
func (l *Log) NextOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.visible
}

// Size returns the bytes of all local segments (the cold tier not included).
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.mu.segs {
		n += s.size()
	}
	return n
}

// SegmentCount returns the number of local segments, the active one included.
func (l *Log) SegmentCount() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.mu.segs)
}

// Changed returns a channel closed when NextOffset next grows (or the log closes).
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mu.changed
}

// publish marks offsets below v durable under the policy, which makes them
// readable unless the log is gated, and wakes waiters.
func (l *Log) publish(v int64) {
	l.mu.Lock()
	l.mu.ready = max(l.mu.ready, v)
	l.raiseVisibleLocked()
	l.mu.Unlock()
}

// raiseVisibleLocked moves visible up to what is durable (and committed, when
// gated). Callers hold mu for writing.
func (l *Log) raiseVisibleLocked() {
	v := l.mu.ready
	if l.gated {
		v = min(v, l.mu.committed)
	}
	if v > l.mu.visible {
		l.mu.visible = v
		close(l.mu.changed)
		l.mu.changed = make(chan struct{})
	}
}

// Close syncs the active segment and releases every segment. In-flight readers
// finish with the files they hold.
func (l *Log) Close() error {
	l.stop()
	l.wg.Wait()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.mu.closed = true
	close(l.mu.changed)
	l.mu.changed = make(chan struct{})
	active := l.mu.segs[len(l.mu.segs)-1]
	werr := l.mu.writeErr
	l.mu.Unlock()
	var err error
	if werr == nil {
		err = active.raw.f.Sync()
	}
	l.closeSegments()
	return err
}

func (l *Log) closeSegments() {
	l.mu.Lock()
	segs := append(l.mu.segs, l.mu.cold...)
	l.mu.segs, l.mu.cold = nil, nil
	l.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
}

// background runs fsync-interval syncs and compaction until the log closes.
func (l *Log) background(ctx context.Context) {
	defer l.wg.Done()
	var tick <-chan time.Time
	if l.cfg.FsyncInterval > 0 {
		t := time.NewTicker(l.cfg.FsyncInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			l.mu.RLock()
			end := l.mu.visible
			l.mu.RUnlock()
			_ = l.syncTo(end)
		case <-l.kick:
			l.compactAll(ctx)
		}
	}
}
