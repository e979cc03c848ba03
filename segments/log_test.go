package segments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestAppendReadReopen(t *testing.T) {
	for _, layout := range []string{"raw", "warm"} {
		t.Run(layout, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, testConfig())
			appendN(t, l, 3000, 37)
			if layout == "warm" {
				if err := l.Compact(); err != nil {
					t.Fatal(err)
				}
			}
			if l.SegmentCount() < 3 {
				t.Fatalf("%d segments, want rolls", l.SegmentCount())
			}
			checkRange(t, l, 0, 3000)
			checkRange(t, l, 1234, 3000)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = openTest(t, dir, testConfig())
			defer l.Close()
			if got := l.NextOffset(); got != 3000 {
				t.Fatalf("NextOffset after reopen = %d", got)
			}
			checkRange(t, l, 0, 3000)
			appendN(t, l, 100, 10)
			checkRange(t, l, 2950, 3100)
		})
	}
}

// TestCompactionKeepsBatchesExact proves a warm segment gives back the very bytes
// appended, so a Kafka fetch can be served from it.
func TestCompactionKeepsBatchesExact(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig())
	defer l.Close()
	appendN(t, l, 2000, 50)
	raw := readAll(t, l)
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, l); !bytes.Equal(got, raw) {
		t.Fatalf("warm batches differ from raw ones (%d vs %d bytes)", len(got), len(raw))
	}
}

func readAll(t *testing.T, l *Log) []byte {
	t.Helper()
	var out []byte
	for off := l.StartOffset(); off < l.NextOffset(); {
		n := len(out)
		var err error
		out, err = l.ReadBatches(out, off, 8<<10)
		if err != nil || len(out) == n {
			t.Fatalf("ReadBatches(%d): %d bytes, %v", off, len(out)-n, err)
		}
		for p := out[n:]; len(p) > 0; p = p[batchView(p).length():] {
			off = batchView(p).nextOffset()
		}
	}
	return out
}

func TestOffsetForTime(t *testing.T) {
	for _, compact := range []bool{false, true} {
		l := openTest(t, t.TempDir(), testConfig())
		appendN(t, l, 1000, 20)
		if compact {
			if err := l.Compact(); err != nil {
				t.Fatal(err)
			}
		}
		for _, off := range []int64{0, 1, 19, 20, 21, 500, 999} {
			ts := recordFor(off).Timestamp
			if got, err := l.OffsetForTime(ts); err != nil || got != off {
				t.Errorf("compact=%v OffsetForTime(ts of %d) = %d, %v", compact, off, got, err)
			}
			if got, _ := l.OffsetForTime(ts - 1); off > 0 && got != off {
				t.Errorf("compact=%v OffsetForTime(ts of %d - 1ns) = %d", compact, off, got)
			}
		}
		if got, _ := l.OffsetForTime(1 << 62); got != 1000 {
			t.Errorf("OffsetForTime(future) = %d, want 1000", got)
		}
		l.Close()
	}
}

func TestTruncateAtBatchBoundary(t *testing.T) {
	cases := []struct {
		name  string
		to    int64
		err   error
		check int64 // offsets [0, check) must survive
	}{
		{"end is a no-op", 2000, nil, 2000},
		{"inside active segment", 1980, nil, 1980},
		{"inside a sealed raw segment", 500, nil, 500},
		{"at a segment base", -1, nil, -1}, // filled in from the log
		{"not a boundary", 501, ErrNotBatchBoundary, 2000},
		{"past the end", 2001, ErrOffsetOutOfRange, 2000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openTest(t, dir, testConfig())
			appendN(t, l, 2000, 20)
			if tc.to < 0 {
				l.mu.RLock()
				tc.to = l.mu.segs[1].base
				l.mu.RUnlock()
				tc.check = tc.to
			}
			err := l.Truncate(tc.to)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Truncate(%d) = %v, want %v", tc.to, err, tc.err)
			}
			if got := l.NextOffset(); got != tc.check {
				t.Fatalf("NextOffset = %d, want %d", got, tc.check)
			}
			checkRange(t, l, 0, tc.check)
			appendN(t, l, 300, 20) // offsets continue densely after the cut
			checkRange(t, l, 0, tc.check+300)
			l.Close()
			l = openTest(t, dir, testConfig())
			defer l.Close()
			checkRange(t, l, 0, tc.check+300)
		})
	}
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig())
	defer l.Close()
	var wg sync.WaitGroup
	const writers, batches = 8, 40
	bases := make(chan int64, writers*batches)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < batches; i++ {
				base, err := l.Append(context.Background(), []Record{{Value: []byte("x")}, {Value: []byte("y")}})
				if err != nil {
					t.Error(err)
					return
				}
				bases <- base
			}
		}()
	}
	wg.Wait()
	close(bases)
	seen := map[int64]bool{}
	for b := range bases {
		if b%2 != 0 || seen[b] {
			t.Fatalf("base %d duplicated or misaligned", b)
		}
		seen[b] = true
	}
	if l.NextOffset() != writers*batches*2 {
		t.Fatalf("NextOffset %d", l.NextOffset())
	}
}

func TestRetentionWhileReading(t *testing.T) {
	cfg := testConfig()
	l := openTest(t, t.TempDir(), cfg)
	defer l.Close()
	appendN(t, l, 4000, 25)
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2000, 25) // some raw sealed segments too
	segsBefore := l.SegmentCount()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for off := int64(0); ctx.Err() == nil; off = (off + 97) % 6000 {
				recs, err := l.Read(off, 300)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					t.Errorf("Read(%d): %v", off, err)
					return
				}
				for _, rec := range recs {
					if err := sameRecord(rec, recordFor(rec.Offset)); err != nil {
						t.Errorf("offset %d: %v", rec.Offset, err)
						return
					}
				}
			}
		}()
	}
	size := l.Size()
	for step := int64(1); step <= 4; step++ {
		time.Sleep(20 * time.Millisecond)
		if err := l.EnforceRetentionWith(time.Now(), 0, size-step*size/5); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	wg.Wait()
	if l.SegmentCount() >= segsBefore || l.StartOffset() == 0 {
		t.Fatalf("retention deleted nothing: %d segments, start %d", l.SegmentCount(), l.StartOffset())
	}
	checkRange(t, l, l.StartOffset(), l.NextOffset())
	if _, err := l.Read(0, 1); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("Read below start = %v", err)
	}
	// By age: everything sealed is older than an hour from "now + 2h".
	if err := l.EnforceRetentionWith(time.Unix(0, recordFor(6000).Timestamp).Add(2*time.Hour), time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	if l.SegmentCount() != 1 {
		t.Fatalf("%d segments after age retention, want only the active one", l.SegmentCount())
	}
}

func TestWriteFailuresAreSticky(t *testing.T) {
	cases := []struct {
		name   string
		inject func(*errorFS)
	}{
		{"failed fsync", func(e *errorFS) { e.failSync.Store(true) }},
		{"short write", func(e *errorFS) { e.shortWrite.Store(100) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			efs := &errorFS{}
			l := openTest(t, dir, testConfig(), WithFS(efs))
			appendN(t, l, 100, 10)
			tc.inject(efs)
			if _, err := l.Append(context.Background(), recordsFor(100, 10)); err == nil {
				t.Fatal("append succeeded through an injected fault")
			}
			efs.failSync.Store(false)
			if _, err := l.Append(context.Background(), recordsFor(100, 10)); err == nil {
				t.Fatal("append succeeded after a failed write: the first error must stick")
			}
			l.Close()
			l = openTest(t, dir, testConfig())
			defer l.Close()
			next := l.NextOffset()
			if next != 100 && next != 110 { // a failed fsync may still have reached the disk
				t.Fatalf("NextOffset after recovery = %d", next)
			}
			checkRange(t, l, 0, next)
			appendN(t, l, 10, 10)
			checkRange(t, l, 0, next+10)
		})
	}
}

func TestChangedWakesFollowers(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig())
	defer l.Close()
	ch := l.Changed()
	go func() { _, _ = l.Append(context.Background(), recordsFor(0, 1)) }()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed did not fire on append")
	}
}

func TestRollByAgeAndFsyncInterval(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentAge = 20 * time.Millisecond
	cfg.FsyncInterval = 5 * time.Millisecond
	dir := t.TempDir()
	l := openTest(t, dir, cfg)
	appendN(t, l, 10, 10)
	time.Sleep(30 * time.Millisecond)
	appendN(t, l, 10, 10)
	if n := l.SegmentCount(); n != 2 {
		t.Fatalf("%d segments, want a roll by age", n)
	}
	checkRange(t, l, 0, 20)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTest(t, dir, cfg)
	defer l.Close()
	checkRange(t, l, 0, 20)
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"tiny segments", func(c *Config) { c.SegmentBytes = 100 }, false},
		{"huge segments", func(c *Config) { c.SegmentBytes = 8 << 30 }, false},
		{"negative fsync interval", func(c *Config) { c.FsyncInterval = -1 }, false},
		{"tiny blocks", func(c *Config) { c.BlockBytes = 10 }, false},
		{"negative retention", func(c *Config) { c.RetentionBytes = -1 }, false},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

// TestReadWhileAppending reads the head of the log while appends roll and seal
// segments; run it with -race.
func TestReadWhileAppending(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig())
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for off := int64(0); off < 3000; {
			changed := l.Changed()
			recs, err := l.Read(off, 100)
			if err != nil {
				t.Error(err)
				return
			}
			for _, r := range recs {
				if err := sameRecord(r, recordFor(r.Offset)); err != nil || r.Offset != off {
					t.Errorf("offset %d (want %d): %v", r.Offset, off, err)
					return
				}
				off++
			}
			if len(recs) == 0 {
				<-changed
			}
		}
	}()
	appendN(t, l, 3000, 7)
	<-done
}

// TestSharedSyncer appends to several logs through one Syncer and checks that
// every append is durable and that a failed fsync reaches its own log only.
func TestSharedSyncer(t *testing.T) {
	syncer := NewSyncer()
	efs := &errorFS{}
	good := openTest(t, t.TempDir(), testConfig(), WithSyncer(syncer))
	defer good.Close()
	bad := openTest(t, t.TempDir(), testConfig(), WithSyncer(syncer), WithFS(efs))
	defer bad.Close()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := good.Append(context.Background(), []Record{{Value: []byte("v")}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	efs.failSync.Store(true)
	if _, err := bad.Append(context.Background(), []Record{{Value: []byte("v")}}); !errors.Is(err, errInjected) {
		t.Errorf("append with a failing fsync = %v", err)
	}
	wg.Wait()
	if good.NextOffset() != 80 {
		t.Fatalf("NextOffset = %d, want 80", good.NextOffset())
	}
}

func TestScan(t *testing.T) {
	l := openTest(t, t.TempDir(), testConfig())
	defer l.Close()
	appendN(t, l, 1000, 30)
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 500, 30)
	want := int64(123)
	next, err := l.Scan(context.Background(), 123, func(r *Record) error {
		if r.Offset != want {
			return fmt.Errorf("offset %d, want %d", r.Offset, want)
		}
		if err := sameRecord(*r, recordFor(r.Offset)); err != nil {
			return err
		}
		want++
		if r.Offset == 1400 {
			return ErrStopScan
		}
		return nil
	})
	if err != nil || next != 1401 || want != 1401 {
		t.Fatalf("Scan = %d, %v after %d records", next, err, want-123)
	}
}
