package segments

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// memCold is an in-memory ColdStore that can fail uploads and count reads.
type memCold struct {
	mu      sync.Mutex
	objects map[string][]byte // <attempt key>/<name>
	// failAfter, when set, fails an upload after that object is written.
	failAfter string
	// block, when set, blocks uploads after the segment object until the
	// context ends (a process killed mid-upload).
	block  chan struct{}
	reads  int
	failRd bool
}

func newMemCold() *memCold { return &memCold{objects: map[string][]byte{}} }

var errUploadInjected = errors.New("injected upload failure")

func (m *memCold) put(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[name] = data
}

func (m *memCold) Upload(ctx context.Context, a ColdAttempt, seg io.Reader, index []byte) error {
	data, err := io.ReadAll(seg)
	if err != nil {
		return err
	}
	for _, o := range []struct {
		name string
		data []byte
	}{{"segment.zst", data}, {"index", index}, {"meta.json", []byte(`{}`)}} {
		m.put(a.Key()+"/"+o.name, o.data)
		if m.block != nil {
			close(m.block)
			<-ctx.Done()
			return ctx.Err()
		}
		m.mu.Lock()
		fail := m.failAfter == o.name
		m.mu.Unlock()
		if fail {
			return errUploadInjected
		}
	}
	return nil
}

func (m *memCold) Delete(ctx context.Context, a ColdAttempt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.objects {
		if strings.HasPrefix(k, a.Key()+"/") {
			delete(m.objects, k)
		}
	}
	return nil
}

func (m *memCold) Index(_ context.Context, a ColdAttempt) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.objects[a.Key()+"/index"]
	if !ok {
		return nil, os.ErrNotExist
	}
	return d, nil
}

func (m *memCold) ReadAt(_ context.Context, a ColdAttempt, p []byte, off int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads++
	if m.failRd {
		return errUploadInjected
	}
	d, ok := m.objects[a.Key()+"/segment.zst"]
	if !ok || off+int64(len(p)) > int64(len(d)) {
		return os.ErrNotExist
	}
	copy(p, d[off:])
	return nil
}

// attempts lists the attempt keys that have any object.
func (m *memCold) attempts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	set := map[string]bool{}
	for k := range m.objects {
		set[k[:strings.IndexByte(k, '/')]] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func tierConfig() Config {
	c := testConfig()
	c.HotBytes = 0 // every sealed segment becomes warm
	return c
}

// coldLog appends n records, compacts every sealed segment and returns the log.
func coldLog(t *testing.T, dir string, cs ColdStore, n int) *Log {
	t.Helper()
	l := openTest(t, dir, tierConfig(), WithColdStore(cs))
	appendN(t, l, n, 50)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	return l
}

// everythingCold moves every sealed segment to the cold tier and deletes the
// local copies.
var everythingCold = Retention{LocalAge: time.Nanosecond}

func TestTierUploadsAndReadsColdSegments(t *testing.T) {
	dir, cs := t.TempDir(), newMemCold()
	l := coldLog(t, dir, cs, 3000)
	defer l.Close()
	sealed := l.SegmentCount() - 1
	if err := l.Tier(context.Background(), time.Now(), everythingCold); err != nil {
		t.Fatal(err)
	}
	st := l.TierStats()
	if st.Cold.Segments != sealed || st.Warm.Segments != 0 || st.Hot.Segments != 1 {
		t.Fatalf("tiers after upload: %+v, want %d cold segments, 1 hot", st, sealed)
	}
	if l.StartOffset() != 0 || st.LocalStartOffset != 3000 {
		t.Fatalf("start %d, local start %d; want 0 and 3000", l.StartOffset(), st.LocalStartOffset)
	}
	if got := len(cs.attempts()); got != sealed {
		t.Fatalf("%d attempts in the bucket, want %d", got, sealed)
	}
	checkRange(t, l, 0, 3000)
	if cs.reads == 0 {
		t.Fatal("no read reached the cold store")
	}
	ts := recordFor(1234).Timestamp
	if off, err := l.OffsetForTime(ts); err != nil || off != 1234 {
		t.Fatalf("OffsetForTime into the cold tier: %d %v, want 1234", off, err)
	}
	// A second cycle is idempotent: nothing new to upload or delete.
	if err := l.Tier(context.Background(), time.Now(), everythingCold); err != nil {
		t.Fatal(err)
	}
	if got := len(cs.attempts()); got != sealed {
		t.Fatalf("after a second cycle %d attempts, want %d", got, sealed)
	}
}

func TestTierReopenLoadsColdIndexes(t *testing.T) {
	dir, cs := t.TempDir(), newMemCold()
	l := coldLog(t, dir, cs, 2000)
	if err := l.Tier(context.Background(), time.Now(), everythingCold); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Losing a local index copy costs a fetch of the index object, nothing more.
	cold, _ := filepath.Glob(filepath.Join(dir, "*"+coldExt))
	if len(cold) == 0 {
		t.Fatal("no local .cold index copies")
	}
	if err := os.Remove(cold[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, coldIndexName(7, "orphan")), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, tierConfig(), WithColdStore(cs))
	defer l.Close()
	if _, err := os.Stat(cold[0]); err != nil {
		t.Fatalf("index copy not fetched again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, coldIndexName(7, "orphan"))); !os.IsNotExist(err) {
		t.Fatalf("orphan .cold file kept: %v", err)
	}
	checkRange(t, l, 0, 2000)
}

func TestTierFailedUploadIsCleanedAndRetried(t *testing.T) {
	for _, after := range []string{"segment.zst", "index", "meta.json"} {
		t.Run("fail after "+after, func(t *testing.T) {
			dir, cs := t.TempDir(), newMemCold()
			cs.failAfter = after
			l := coldLog(t, dir, cs, 1500)
			defer l.Close()
			err := l.Tier(context.Background(), time.Now(), everythingCold)
			if !errors.Is(err, errUploadInjected) {
				t.Fatalf("Tier: %v, want the injected failure", err)
			}
			if got := cs.attempts(); len(got) != 0 {
				t.Fatalf("failed attempt left objects %v", got)
			}
			if st := l.TierStats(); st.Cold.Segments != 0 || st.LocalStartOffset != 0 {
				t.Fatalf("a failed upload changed the tiers: %+v", st)
			}
			checkRange(t, l, 0, 1500)
			cs.mu.Lock()
			cs.failAfter = ""
			cs.mu.Unlock()
			if err := l.Tier(context.Background(), time.Now(), everythingCold); err != nil {
				t.Fatal(err)
			}
			if st := l.TierStats(); st.Cold.Segments == 0 || st.LocalStartOffset != 1500 {
				t.Fatalf("retry did not upload: %+v", st)
			}
			checkRange(t, l, 0, 1500)
		})
	}
}

// TestTierCrashMidUpload copies the partition directory while an upload is in
// flight (as a SIGKILL would leave it), opens the copy and checks that the
// orphaned attempt is deleted and the segment uploaded again, losing nothing.
func TestTierCrashMidUpload(t *testing.T) {
	dir, cs := t.TempDir(), newMemCold()
	l := coldLog(t, dir, cs, 1500)
	cs.block = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Tier(ctx, time.Now(), everythingCold) }()
	<-cs.block
	crashed := t.TempDir()
	copyDir(t, dir, crashed)
	cancel()
	<-done
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	orphans := cs.attempts()
	if len(orphans) != 1 {
		t.Fatalf("objects of %v in flight, want one attempt", orphans)
	}
	cs.block = nil
	l = openTest(t, crashed, tierConfig(), WithColdStore(cs))
	defer l.Close()
	checkRange(t, l, 0, 1500)
	if err := l.Tier(context.Background(), time.Now(), everythingCold); err != nil {
		t.Fatal(err)
	}
	for _, a := range cs.attempts() {
		if a == orphans[0] {
			t.Fatalf("orphaned attempt %s not deleted", a)
		}
	}
	if st := l.TierStats(); st.LocalStartOffset != 1500 {
		t.Fatalf("after recovery: %+v", st)
	}
	checkRange(t, l, 0, 1500)
	data, err := os.ReadFile(filepath.Join(crashed, manifestName))
	if err != nil || !bytes.Contains(data, []byte(`"state":"delete_finished"`)) {
		t.Fatalf("manifest does not record the orphan's deletion: %v\n%s", err, data)
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile (a compacted segment's last reference went)
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTierRetentionDeletesEveryTier(t *testing.T) {
	dir, cs := t.TempDir(), newMemCold()
	l := coldLog(t, dir, cs, 3000)
	defer l.Close()
	if err := l.Tier(context.Background(), time.Now(), everythingCold); err != nil {
		t.Fatal(err)
	}
	before := l.TierStats()
	// Records are timestamped 2023-11: an age limit between the oldest and newest
	// cold segment removes a prefix of the cold tier and nothing local.
	mid := time.UnixMilli(recordFor(1500).Timestamp / 1e6)
	r := everythingCold
	r.Age = time.Hour
	if err := l.Tier(context.Background(), mid.Add(time.Hour), r); err != nil {
		t.Fatal(err)
	}
	after := l.TierStats()
	if after.Cold.Segments >= before.Cold.Segments || after.Cold.Segments == 0 {
		t.Fatalf("cold segments %d -> %d, want some but not all deleted", before.Cold.Segments, after.Cold.Segments)
	}
	start := l.StartOffset()
	if start == 0 || start > 1500 {
		t.Fatalf("start offset %d after retention, want in (0, 1500]", start)
	}
	if got := len(cs.attempts()); got != after.Cold.Segments {
		t.Fatalf("%d attempts in the bucket, %d cold segments", got, after.Cold.Segments)
	}
	if _, err := l.Read(0, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
	checkRange(t, l, start, 3000)
	// Everything past retention: only the active segment is left.
	if err := l.Tier(context.Background(), time.Now(), Retention{Age: time.Hour, LocalAge: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if st := l.TierStats(); st.Cold.Segments != 0 || l.StartOffset() != 3000 || len(cs.attempts()) != 0 {
		t.Fatalf("after full retention: %+v start %d attempts %v", st, l.StartOffset(), cs.attempts())
	}
}

func TestTierColdReadErrorIsNotCorruption(t *testing.T) {
	dir, cs := t.TempDir(), newMemCold()
	l := coldLog(t, dir, cs, 1500)
	defer l.Close()
	if err := l.Tier(context.Background(), time.Now(), everythingCold); err != nil {
		t.Fatal(err)
	}
	cs.mu.Lock()
	cs.failRd = true
	cs.mu.Unlock()
	_, err := l.Read(0, 10)
	if err == nil || IsCorruption(err) {
		t.Fatalf("failed cold read: %v, want a plain error", err)
	}
	cs.mu.Lock()
	cs.failRd = false
	cs.mu.Unlock()
	checkRange(t, l, 0, 1500)
}

func TestTierLocalRetentionKeepsUnuploaded(t *testing.T) {
	dir := t.TempDir()
	cs := newMemCold()
	cs.failAfter = "meta.json"
	l := coldLog(t, dir, cs, 1500)
	defer l.Close()
	_ = l.Tier(context.Background(), time.Now(), everythingCold)
	if st := l.TierStats(); st.LocalStartOffset != 0 {
		t.Fatalf("a segment that never uploaded was deleted locally: %+v", st)
	}
}
