package segments

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// segment is a live segment of a Log, raw or warm, reference counted so that
// retention and compaction can drop it while readers finish with it.
type segment struct {
	base   int64
	raw    *rawSegment  // set for the .log layout
	warm   *warmSegment // set for the .zst layout, and for cold segments
	cold   *coldInfo    // set for a cold segment (its warm reads from the bucket)
	opened time.Time    // when the segment became active, for SegmentAge rolls

	refs atomic.Int32 // the Log holds one while the segment is live
	// dead makes the last release remove the segment's files.
	dead atomic.Bool
	fs   FS
	dir  string
}

func newSegment(fsys FS, dir string, raw *rawSegment, warm *warmSegment) *segment {
	s := &segment{fs: fsys, dir: dir, raw: raw, warm: warm, opened: time.Now()}
	if raw != nil {
		s.base = raw.base
	} else {
		s.base = warm.blocks[0].base
	}
	s.refs.Store(1)
	return s
}

func (s *segment) layout() layout {
	if s.raw != nil {
		return layoutLog
	}
	return layoutZst
}

// next, size and maxTimestamp read fields guarded by Log.mu for the active segment.
func (s *segment) next() int64 {
	if s.raw != nil {
		return s.raw.next
	}
	return s.warm.next()
}

func (s *segment) size() int64 {
	if s.raw != nil {
		return s.raw.size
	}
	return s.warm.size
}

func (s *segment) maxTimestamp() int64 {
	if s.raw != nil {
		return s.raw.index.maxTs
	}
	return s.warm.maxTimestamp()
}

func (s *segment) file() File {
	if s.raw != nil {
		return s.raw.f
	}
	return s.warm.f
}

// paths lists every file that belongs to the segment.
func (s *segment) paths() []string {
	if s.cold != nil {
		return []string{filepath.Join(s.dir, coldIndexName(s.base, s.cold.entry.ID))}
	}
	if s.raw != nil {
		return []string{s.raw.path, segmentPath(s.dir, s.base, indexExt)}
	}
	return []string{s.warm.path}
}

func (s *segment) acquire() { s.refs.Add(1) }

// release drops a reference; the last one closes the file and, for a dead
// segment, removes its files.
func (s *segment) release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	_ = s.file().Close()
	if s.dead.Load() {
		for _, p := range s.paths() {
			if err := s.fs.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				continue
			}
		}
	}
}

// moveToQuarantine renames the segment's files into the quarantine directory.
func (s *segment) moveToQuarantine() []string {
	var moved []string
	qdir := filepath.Join(s.dir, quarantineDir)
	_ = s.fs.MkdirAll(qdir, 0o755)
	for _, p := range s.paths() {
		to := filepath.Join(qdir, filepath.Base(p))
		if err := s.fs.Rename(p, to); err == nil {
			moved = append(moved, to)
		}
	}
	return moved
}
