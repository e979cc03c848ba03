package groups

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"go.uber.org/goleak"

	"github.com/siltlog/silt/segments"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openStore(tb testing.TB, dir string, opts ...Option) *Store {
	tb.Helper()
	s := NewStore(dir, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err := services.StartAndAwaitRunning(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), s) })
	return s
}

func stopStore(tb testing.TB, s *Store) {
	tb.Helper()
	if err := services.StopAndAwaitTerminated(context.Background(), s); err != nil {
		tb.Fatal(err)
	}
}

func commit(topic string, p int32, off int64, meta string) Commit {
	return Commit{
		TopicPartition: TopicPartition{Topic: topic, Partition: p},
		Committed:      Committed{Offset: off, LeaderEpoch: -1, Metadata: meta, Time: time.UnixMilli(1_700_000_000_000 + off)},
	}
}

func mustCommit(tb testing.TB, s *Store, tenant, group string, cs ...Commit) {
	tb.Helper()
	if err := s.Commit(tenant, group, cs); err != nil {
		tb.Fatalf("commit %s/%s: %v", tenant, group, err)
	}
}

func TestRecordEncodedLength(t *testing.T) {
	r := record{kind: kindCommit, group: "g", entries: []Commit{commit("t", 1, 5, "m")}}
	b := appendRecord(nil, &r)
	// frame 8 | kind 1 | group 2 | count 1 | topic 2 | partition 1 | offset 1 |
	// epoch 1 | time 6 | metadata 2
	if len(b) != 25 {
		t.Fatalf("encoded length %d, want 25", len(b))
	}
	got, n, err := readRecord(b)
	if err != nil || n != len(b) || !reflect.DeepEqual(got.entries[0].Committed.Time.UnixMilli(), r.entries[0].Time.UnixMilli()) {
		t.Fatalf("decode: %v, %d bytes, %+v", err, n, got)
	}
}

func TestRoundTripAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	mustCommit(t, s, "a", "g1", commit("t", 0, 10, "x"), commit("t", 1, 20, ""))
	mustCommit(t, s, "a", "g1", commit("t", 0, 11, "y"))
	mustCommit(t, s, "a", "g2", commit("u", 3, 7, ""))
	mustCommit(t, s, "b", "g1", commit("t", 0, 99, ""))
	if err := s.Delete("a", "g2", nil); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, "a", "g3", commit("t", 0, 1, ""), commit("t", 1, 2, ""))
	if err := s.Delete("a", "g3", []TopicPartition{{"t", 0}}); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		want := map[TopicPartition]Committed{
			{"t", 0}: commit("t", 0, 11, "y").Committed,
			{"t", 1}: commit("t", 1, 20, "").Committed,
		}
		got, err := s.Offsets("a", "g1")
		if err != nil || !equalOffsets(got, want) {
			t.Fatalf("offsets a/g1 = %v, %v; want %v", got, err, want)
		}
		if gs, _ := s.Groups("a"); !reflect.DeepEqual(gs, []string{"g1", "g3"}) {
			t.Fatalf("groups of a = %v", gs)
		}
		if c, ok, err := s.Offset("b", "g1", TopicPartition{"t", 0}); err != nil || !ok || c.Offset != 99 {
			t.Fatalf("b/g1 t/0 = %+v %v %v", c, ok, err)
		}
		if _, ok, _ := s.Offset("a", "g3", TopicPartition{"t", 0}); ok {
			t.Fatal("deleted partition still committed")
		}
	}
	check(s)
	stopStore(t, s)
	check(openStore(t, dir))
}

func equalOffsets(a, b map[TopicPartition]Committed) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Offset != w.Offset || v.LeaderEpoch != w.LeaderEpoch || v.Metadata != w.Metadata || !v.Time.Equal(w.Time) {
			return false
		}
	}
	return true
}

func TestInvalid(t *testing.T) {
	s := openStore(t, t.TempDir())
	for name, err := range map[string]error{
		"empty group":  s.Commit("a", "", []Commit{commit("t", 0, 1, "")}),
		"empty topic":  s.Commit("a", "g", []Commit{commit("", 0, 1, "")}),
		"bad tenant":   s.Commit("../x", "g", []Commit{commit("t", 0, 1, "")}),
		"empty tenant": s.Commit("", "g", nil),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

// twoCommits writes two commits of tenant "a" and returns the file and the
// byte position where the second record starts.
func twoCommits(t *testing.T, dir string) (string, int64) {
	s := openStore(t, dir)
	mustCommit(t, s, "a", "g", commit("t", 0, 1, "first"))
	st, _ := os.Stat(tenantPath(dir, "a"))
	mustCommit(t, s, "a", "g", commit("t", 0, 2, "second"))
	stopStore(t, s)
	return tenantPath(dir, "a"), st.Size()
}

func TestTornTail(t *testing.T) {
	cases := []struct {
		name   string
		damage func(path string, second int64, size int64) error
		want   int64 // offset recovered
	}{
		{"half of the last record", func(p string, second, size int64) error { return os.Truncate(p, second+(size-second)/2) }, 1},
		{"last frame header cut", func(p string, second, _ int64) error { return os.Truncate(p, second+3) }, 1},
		{"zeros after the last record", func(p string, _, _ int64) error { return appendFile(p, make([]byte, 100)) }, 2},
		{"last record's checksum", func(p string, _, size int64) error { return flipByte(p, size-1) }, 1},
		{"intact", func(string, int64, int64) error { return nil }, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, second := twoCommits(t, dir)
			st, _ := os.Stat(path)
			if err := tc.damage(path, second, st.Size()); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, dir)
			c, ok, err := s.Offset("a", "g", TopicPartition{"t", 0})
			if err != nil || !ok || c.Offset != tc.want {
				t.Fatalf("after recovery: %+v %v %v, want offset %d", c, ok, err, tc.want)
			}
			// The log takes commits again and they survive a reopen.
			mustCommit(t, s, "a", "g", commit("t", 0, 3, ""))
			stopStore(t, s)
			if c, _, _ := openStore(t, dir).Offset("a", "g", TopicPartition{"t", 0}); c.Offset != 3 {
				t.Fatalf("after a new commit and reopen: offset %d, want 3", c.Offset)
			}
		})
	}
}

func TestTornHeader(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(tenantPath(dir, "a"), []byte("SIL"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir)
	mustCommit(t, s, "a", "g", commit("t", 0, 5, ""))
	stopStore(t, s)
	if c, _, err := openStore(t, dir).Offset("a", "g", TopicPartition{"t", 0}); err != nil || c.Offset != 5 {
		t.Fatalf("offset %d, %v", c.Offset, err)
	}
}

func TestCorruption(t *testing.T) {
	cases := []struct {
		name   string
		pos    func(second int64) int64
		offset func(second int64) int64
	}{
		{"first record's payload", func(int64) int64 { return int64(headerSize) + 12 }, func(int64) int64 { return int64(headerSize) }},
		{"first record's length", func(int64) int64 { return int64(headerSize) }, func(int64) int64 { return int64(headerSize) }},
		{"magic", func(int64) int64 { return 0 }, func(int64) int64 { return 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, second := twoCommits(t, dir)
			if err := flipByte(path, tc.pos(second)); err != nil {
				t.Fatal(err)
			}
			s := openStore(t, dir)
			_, _, err := s.Offset("a", "g", TopicPartition{"t", 0})
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.File != path || ce.Offset != tc.offset(second) {
				t.Fatalf("got %v, want a CorruptionError in %s at %d", err, path, tc.offset(second))
			}
			// Other tenants are unaffected.
			mustCommit(t, s, "b", "g", commit("t", 0, 1, ""))
		})
	}
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, WithCompaction(4096, 2))
	for i := range 2000 {
		mustCommit(t, s, "a", fmt.Sprintf("g%d", i%3), commit("t", int32(i%4), int64(i), "meta"))
	}
	st, err := os.Stat(tenantPath(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 8192 {
		t.Fatalf("log is %d bytes after 2000 commits of 12 partitions; compaction did not run", st.Size())
	}
	want, _ := s.Offsets("a", "g1")
	stopStore(t, s)
	got, err := openStore(t, dir).Offsets("a", "g1")
	if err != nil || !equalOffsets(got, want) || len(got) != 4 {
		t.Fatalf("after compaction and reopen: %v %v, want %v", got, err, want)
	}
}

func TestFailedFsyncRefusesCommits(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{FS: segments.OSFS}
	s := openStore(t, dir, WithFS(ffs))
	mustCommit(t, s, "a", "g", commit("t", 0, 1, ""))
	ffs.failSync.Store(true)
	if err := s.Commit("a", "g", []Commit{commit("t", 0, 2, "")}); !errors.Is(err, ErrFailed) {
		t.Fatalf("commit with a failing fsync: %v, want ErrFailed", err)
	}
	ffs.failSync.Store(false)
	if err := s.Commit("a", "g", []Commit{commit("t", 0, 3, "")}); !errors.Is(err, ErrFailed) {
		t.Fatalf("commit after a failed fsync: %v, want ErrFailed", err)
	}
	if c, _, _ := s.Offset("a", "g", TopicPartition{"t", 0}); c.Offset != 1 {
		t.Fatalf("state shows offset %d after failed commits, want 1", c.Offset)
	}
}

func TestConcurrentCommits(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, WithCompaction(2048, 2))
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			tenant := []string{"a", "b"}[w%2]
			for i := range 200 {
				if err := s.Commit(tenant, fmt.Sprintf("g%d", w), []Commit{commit("t", int32(i%3), int64(i), "")}); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Offsets(tenant, fmt.Sprintf("g%d", w)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	stopStore(t, s)
	s = openStore(t, dir)
	for w := range 8 {
		got, err := s.Offsets([]string{"a", "b"}[w%2], fmt.Sprintf("g%d", w))
		if err != nil || len(got) != 3 || got[TopicPartition{"t", 1}].Offset != 199 {
			t.Fatalf("group g%d after reopen: %v %v", w, got, err)
		}
	}
}

func FuzzReadRecord(f *testing.F) {
	f.Add(appendRecord(nil, &record{kind: kindCommit, group: "g", entries: []Commit{commit("t", 0, 1, "m")}}))
	f.Add(appendRecord(nil, &record{kind: kindDelete, group: "g"}))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, err := readRecord(b)
		if err != nil {
			return
		}
		if n > len(b) {
			t.Fatalf("consumed %d of %d bytes", n, len(b))
		}
		again, m, err := readRecord(appendRecord(nil, &r))
		if err != nil || m == 0 || again.group != r.group || len(again.entries) != len(r.entries) {
			t.Fatalf("re-encoding %+v: %v", r, err)
		}
	})
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

func flipByte(path string, pos int64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[pos] ^= 0xff
	return os.WriteFile(path, b, 0o644)
}

// faultFS fails every fsync while failSync is set.
type faultFS struct {
	segments.FS
	failSync atomic.Bool
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (segments.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	segments.File
	fs *faultFS
}

func (f faultFile) Sync() error {
	if f.fs.failSync.Load() {
		return errors.New("injected fsync failure")
	}
	return f.File.Sync()
}
