package groups

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/siltlog/silt/segments"
)

// tenantLog is one tenant's commit log and the state it replays to.
type tenantLog struct {
	store     *Store
	path      string
	truncated int64 // torn bytes cut at open

	mu struct {
		sync.Mutex
		f     segments.File
		size  int64 // bytes in f
		live  int64 // encoded size of state at the last compaction check
		err   error // first failed write or fsync
		state map[string]map[TopicPartition]Committed
	}
}

// openTenant opens or creates the log at path and replays it.
func openTenant(s *Store, path string) (*tenantLog, error) {
	t := &tenantLog{store: s, path: path}
	t.mu.state = map[string]map[TopicPartition]Committed{}
	f, err := s.fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := t.replay(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	t.mu.f = f
	return t, nil
}

// replay applies f's records, writes a header into an empty or torn-new
// file, and truncates a torn tail (FORMAT.md, "Recovery on open").
func (t *tenantLog) replay(f segments.File) error {
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("stat %s: %w", t.path, err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", t.path, err)
	}
	if len(data) < headerSize {
		return t.resetHeader(f, size)
	}
	if string(data[:len(magic)]) != magic || data[len(magic)] != version {
		return &CorruptionError{File: t.path, Offset: 0, Err: fmt.Errorf("bad header %q", data[:headerSize])}
	}
	pos := headerSize
	for pos < len(data) {
		r, n, err := readRecord(data[pos:])
		if err == nil {
			t.applyLocked(&r)
			pos += n
			continue
		}
		torn := errors.Is(err, errTruncated) || allZero(data[pos:]) ||
			(n > 0 && pos+n == len(data) && errors.Is(err, errChecksum))
		if !torn {
			return &CorruptionError{File: t.path, Offset: int64(pos), Err: err}
		}
		if err := f.Truncate(int64(pos)); err != nil {
			return fmt.Errorf("truncate torn tail of %s: %w", t.path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("fsync %s: %w", t.path, err)
		}
		t.truncated = int64(len(data) - pos)
		break
	}
	t.mu.size = int64(pos)
	return nil
}

func (t *tenantLog) resetHeader(f segments.File, size int64) error {
	if err := f.Truncate(0); err != nil {
		return fmt.Errorf("truncate %s: %w", t.path, err)
	}
	if _, err := f.Write(appendHeader(nil)); err != nil {
		return fmt.Errorf("write header of %s: %w", t.path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", t.path, err)
	}
	if err := t.store.fs.SyncDir(filepath.Dir(t.path)); err != nil {
		return fmt.Errorf("fsync directory of %s: %w", t.path, err)
	}
	t.truncated = size
	t.mu.size = int64(headerSize)
	return nil
}

func appendHeader(dst []byte) []byte { return append(append(dst, magic...), version) }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// write appends r, fsyncs, then applies it.
func (t *tenantLog) write(r *record) error {
	buf := appendRecord(nil, r)
	if len(buf)-frameSize > maxRecordBytes {
		return fmt.Errorf("%w: a commit of %d bytes is larger than %d", ErrInvalid, len(buf), maxRecordBytes)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.err != nil {
		return t.mu.err
	}
	if t.mu.f == nil {
		return ErrNotRunning
	}
	if _, err := t.mu.f.Write(buf); err != nil {
		_ = t.mu.f.Truncate(t.mu.size) // best effort; recovery cuts a torn tail anyway
		return t.failLocked(fmt.Errorf("write %s: %w", t.path, err))
	}
	if err := t.mu.f.Sync(); err != nil {
		return t.failLocked(fmt.Errorf("fsync %s: %w", t.path, err))
	}
	t.mu.size += int64(len(buf))
	t.applyLocked(r)
	t.maybeCompactLocked()
	return nil
}

func (t *tenantLog) failLocked(err error) error {
	t.mu.err = fmt.Errorf("%w (reopen to recover): %w", ErrFailed, err)
	t.store.logger.Error("group offsets log failed; refusing commits until restarted", "file", t.path, "err", err)
	return t.mu.err
}

func (t *tenantLog) applyLocked(r *record) {
	g := t.mu.state[r.group]
	switch r.kind {
	case kindCommit:
		if g == nil {
			g = map[TopicPartition]Committed{}
			t.mu.state[r.group] = g
		}
		for _, e := range r.entries {
			g[e.TopicPartition] = e.Committed
		}
	case kindDelete:
		if len(r.entries) == 0 {
			delete(t.mu.state, r.group)
			return
		}
		for _, e := range r.entries {
			delete(g, e.TopicPartition)
		}
		if len(g) == 0 {
			delete(t.mu.state, r.group)
		}
	}
}

// snapshotLocked encodes the live state: a header, then one commit record
// per group, in a stable order.
func (t *tenantLog) snapshotLocked() []byte {
	buf := appendHeader(nil)
	names := make([]string, 0, len(t.mu.state))
	for g := range t.mu.state {
		names = append(names, g)
	}
	slices.Sort(names)
	for _, g := range names {
		r := record{kind: kindCommit, group: g}
		for tp, c := range t.mu.state[g] {
			r.entries = append(r.entries, Commit{TopicPartition: tp, Committed: c})
		}
		slices.SortFunc(r.entries, func(a, b Commit) int {
			return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
		})
		buf = appendRecord(buf, &r)
	}
	return buf
}

// maybeCompactLocked rewrites the file as its live state once it is larger
// than compactMinBytes and compactRatio times that state.
func (t *tenantLog) maybeCompactLocked() {
	s := t.store
	if t.mu.size < s.compactMinBytes || t.mu.size < s.compactRatio*t.mu.live {
		return
	}
	snap := t.snapshotLocked()
	t.mu.live = int64(len(snap))
	if t.mu.size < s.compactRatio*t.mu.live {
		return
	}
	tmp := t.path + tmpSuffix
	if err := writeSynced(s.fs, tmp, snap); err != nil {
		_ = s.fs.Remove(tmp)
		s.logger.Warn("group offsets compaction failed; keeping the log as it is", "file", t.path, "err", err)
		return
	}
	if err := s.fs.Rename(tmp, t.path); err != nil {
		_ = s.fs.Remove(tmp)
		s.logger.Warn("group offsets compaction failed; keeping the log as it is", "file", t.path, "err", err)
		return
	}
	// From here the file on disk is the snapshot: failures leave the log
	// unusable until reopened.
	if err := s.fs.SyncDir(filepath.Dir(t.path)); err != nil {
		_ = t.failLocked(fmt.Errorf("fsync directory after compaction: %w", err))
		return
	}
	f, err := s.fs.OpenFile(t.path, os.O_RDWR|os.O_APPEND, 0o644)
	if err != nil {
		_ = t.failLocked(fmt.Errorf("reopen after compaction: %w", err))
		return
	}
	_ = t.mu.f.Close()
	t.mu.f, t.mu.size = f, int64(len(snap))
}

func writeSynced(fsys segments.FS, path string, data []byte) error {
	f, err := fsys.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func (t *tenantLog) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.f == nil {
		return nil
	}
	err := t.mu.f.Close()
	t.mu.f = nil
	return err
}
