package segments

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"
)

// ColdStore is the object storage of one partition's cold tier (FORMAT.md, "Cold
// tier"). Package tier implements it over a thanos-io/objstore bucket. The Log
// decides everything from its MANIFEST; the store only moves bytes, so it never
// needs to list the bucket.
type ColdStore interface {
	// Upload writes the attempt's objects: the segment (read from segment), then
	// its index, then meta.json last. A failed upload may leave any prefix of them.
	Upload(ctx context.Context, a ColdAttempt, segment io.Reader, index []byte) error
	// Delete removes every object of the attempt, meta.json first. Objects
	// already gone are not an error.
	Delete(ctx context.Context, a ColdAttempt) error
	// Index returns the attempt's uploaded index object.
	Index(ctx context.Context, a ColdAttempt) ([]byte, error)
	// ReadAt reads len(p) bytes of the attempt's segment object at off.
	ReadAt(ctx context.Context, a ColdAttempt, p []byte, off int64) error
}

// ColdAttempt identifies one upload of a sealed segment: its offsets [Base, Next)
// and a UUID unique to the attempt.
type ColdAttempt struct {
	ID           string
	Base, Next   int64
	Bytes        int64 // size of the segment object
	MinTimestamp int64 // ms
	MaxTimestamp int64 // ms
}

// Key is the attempt's object-name prefix below the partition:
// <base:20 digits>-<uuid>.
func (a ColdAttempt) Key() string { return fmt.Sprintf("%0*d-%s", baseDigits, a.Base, a.ID) }

// WithColdStore gives the log a cold tier in cs.
func WithColdStore(cs ColdStore) Option { return func(l *Log) { l.cold = cs } }

// coldReadTimeout bounds one ranged read from the cold store.
const coldReadTimeout = 2 * time.Minute

// coldReadError wraps a failed read from the cold store, which is not corruption:
// the read may succeed when retried.
type coldReadError struct{ err error }

func (e *coldReadError) Error() string { return "read cold segment: " + e.err.Error() }
func (e *coldReadError) Unwrap() error { return e.err }

// coldFile is the read-only File of an uploaded segment: its footer and trailer
// come from the local index copy, every other byte from the cold store.
type coldFile struct {
	store  ColdStore
	a      ColdAttempt
	tail   []byte // the index object: bytes [tailAt, size) of the segment
	tailAt int64
}

func (f *coldFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.tailAt {
		if off-f.tailAt > int64(len(f.tail)) {
			return 0, io.EOF
		}
		n := copy(p, f.tail[off-f.tailAt:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), coldReadTimeout)
	defer cancel()
	if err := f.store.ReadAt(ctx, f.a, p, off); err != nil {
		return 0, &coldReadError{err: err}
	}
	return len(p), nil
}

func (f *coldFile) Write([]byte) (int, error) { return 0, errors.New("cold segment is read-only") }
func (f *coldFile) Close() error              { return nil }
func (f *coldFile) Sync() error               { return nil }
func (f *coldFile) Truncate(int64) error      { return errors.New("cold segment is read-only") }
func (f *coldFile) Size() (int64, error)      { return f.a.Bytes, nil }
func (f *coldFile) Name() string              { return f.a.Key() + "/segment.zst" }

// openCold opens an uploaded attempt for reading from its index bytes (the
// segment's footer and trailer), which openWarm validates as for a local file.
func openCold(store ColdStore, dir string, e *coldEntry, index []byte) (*segment, error) {
	a := e.attempt()
	if int64(len(index)) > a.Bytes || len(index) < zstTrailerSize {
		return nil, &CorruptionError{File: coldIndexName(e.Base, e.ID), Err: fmt.Errorf("index of %d bytes for a segment of %d", len(index), a.Bytes)}
	}
	f := &coldFile{store: store, a: a, tail: index, tailAt: a.Bytes - int64(len(index))}
	w := &warmSegment{path: f.Name(), f: f}
	w.mu.block = -1
	if err := w.loadFooter(e.Base); err != nil {
		return nil, err
	}
	if w.next() != e.Next {
		return nil, &CorruptionError{File: f.Name(), Err: fmt.Errorf("index ends at offset %d, manifest says %d", w.next(), e.Next)}
	}
	s := newSegment(nil, dir, nil, w)
	s.cold = &coldInfo{entry: *e}
	return s, nil
}

// coldInfo marks a segment as cold: an uploaded attempt read from the bucket.
type coldInfo struct{ entry coldEntry }

// coldIndexPath is where the local index copy of e lives.
func (l *Log) coldIndexPath(e *coldEntry) string {
	return filepath.Join(l.dir, coldIndexName(e.Base, e.ID))
}

// loadColdIndex returns e's index: the local copy, or else the uploaded object,
// which it then keeps locally. A local copy is valid when openCold accepts it.
func (l *Log) loadColdIndex(ctx context.Context, e *coldEntry) (*segment, error) {
	path := l.coldIndexPath(e)
	if data, err := readFile(l.fs, path); err == nil {
		s, err := openCold(l.cold, l.dir, e, data)
		if err == nil {
			s.fs = l.fs
			return s, nil
		}
		l.logger.Warn("local cold index unusable; fetching it again", "file", path, "err", err)
	}
	data, err := l.cold.Index(ctx, e.attempt())
	if err != nil {
		return nil, fmt.Errorf("fetch index of cold segment %s: %w", e.attempt().Key(), err)
	}
	s, err := openCold(l.cold, l.dir, e, data)
	if err != nil {
		return nil, err
	}
	if err := writeColdIndex(l.fs, path, data); err != nil {
		return nil, fmt.Errorf("keep cold index %s: %w", path, err)
	}
	s.fs = l.fs
	return s, nil
}
