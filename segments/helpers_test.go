package segments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	goleak.VerifyTestMain(m)
}

func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 64 << 10
	c.BlockBytes = 16 << 10
	c.IndexIntervalBytes = 1024
	return c
}

func openTest(t testing.TB, dir string, cfg Config, opts ...Option) *Log {
	t.Helper()
	l, err := Open(dir, cfg, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// recordFor returns the deterministic record stored at offset off, so any reader
// can check what it got without remembering what was written.
func recordFor(off int64) Record {
	r := rand.New(rand.NewPCG(uint64(off), 42))
	v := make([]byte, 20+r.IntN(300))
	for i := range v {
		v[i] = byte('a' + r.IntN(26))
	}
	rec := Record{Timestamp: 1_700_000_000_000_000_000 + off*1_000_123, Value: v}
	if off%3 == 0 {
		rec.Key = []byte(fmt.Sprintf("key-%d", off))
	}
	if off%5 == 0 {
		rec.Headers = []Header{{Key: "app", Value: []byte("api")}, {Key: "n", Value: []byte(fmt.Sprint(off))}}
	}
	return rec
}

func recordsFor(from int64, n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = recordFor(from + int64(i))
	}
	return recs
}

// appendN appends batches of batchSize records until the log holds n more.
func appendN(t testing.TB, l *Log, n, batchSize int) {
	t.Helper()
	for n > 0 {
		k := min(n, batchSize)
		next := l.NextOffset()
		base, err := l.Append(context.Background(), recordsFor(next, k))
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if base != next {
			t.Fatalf("Append base %d, want %d", base, next)
		}
		n -= k
	}
}

func sameRecord(got, want Record) error {
	switch {
	case got.Timestamp != want.Timestamp:
		return fmt.Errorf("timestamp %d, want %d", got.Timestamp, want.Timestamp)
	case !bytes.Equal(got.Key, want.Key) || (got.Key == nil) != (want.Key == nil):
		return fmt.Errorf("key %q, want %q", got.Key, want.Key)
	case !bytes.Equal(got.Value, want.Value):
		return fmt.Errorf("value %q, want %q", got.Value, want.Value)
	case len(got.Headers) != len(want.Headers):
		return fmt.Errorf("headers %v, want %v", got.Headers, want.Headers)
	}
	for i := range got.Headers {
		if got.Headers[i].Key != want.Headers[i].Key || !bytes.Equal(got.Headers[i].Value, want.Headers[i].Value) {
			return fmt.Errorf("header %d %v, want %v", i, got.Headers[i], want.Headers[i])
		}
	}
	return nil
}

// checkRange reads [from, to) and compares every record with recordFor.
func checkRange(t testing.TB, l *Log, from, to int64) {
	t.Helper()
	off := from
	for off < to {
		recs, err := l.Read(off, 10_000)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(recs) == 0 {
			t.Fatalf("Read(%d): nothing, want up to %d", off, to)
		}
		for _, r := range recs {
			if r.Offset != off {
				t.Fatalf("offset %d, want %d (dense)", r.Offset, off)
			}
			if off >= to {
				break
			}
			if err := sameRecord(r, recordFor(off)); err != nil {
				t.Fatalf("offset %d: %v", off, err)
			}
			off++
		}
	}
}

// errorFS injects faults into OSFS: failed fsyncs and short writes.
type errorFS struct {
	failSync   atomic.Bool
	shortWrite atomic.Int32 // >0: the next write writes only this many bytes
}

var errInjected = errors.New("injected fault")

func (e *errorFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e}, nil
}
func (e *errorFS) Rename(a, b string) error               { return OSFS.Rename(a, b) }
func (e *errorFS) Remove(n string) error                  { return OSFS.Remove(n) }
func (e *errorFS) MkdirAll(d string, p fs.FileMode) error { return OSFS.MkdirAll(d, p) }
func (e *errorFS) ReadDir(d string) ([]string, error)     { return OSFS.ReadDir(d) }
func (e *errorFS) SyncDir(d string) error                 { return OSFS.SyncDir(d) }

type errorFile struct {
	File
	fs *errorFS
}

func (f *errorFile) Sync() error {
	if f.fs.failSync.Load() {
		return errInjected
	}
	return f.File.Sync()
}

func (f *errorFile) Write(p []byte) (int, error) {
	if n := int(f.fs.shortWrite.Swap(0)); n > 0 && n < len(p) {
		w, _ := f.File.Write(p[:n])
		return w, errInjected
	}
	return f.File.Write(p)
}
