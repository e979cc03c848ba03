package segments

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestScanRangeMatchesRecords: ScanRange yields exactly the records of
// [from, to), over raw and warm segments, plain and producer-compressed
// batches, with and without the block cache, and stops where asked.
func TestScanRangeMatchesRecords(t *testing.T) {
	for _, cacheBytes := range []int64{0, 1 << 20} {
		t.Run(fmt.Sprintf("cache=%d", cacheBytes), func(t *testing.T) {
			cache := NewBlockCache(cacheBytes, nil)
			l := openTest(t, t.TempDir(), testConfig(), WithBlockCache(cache))
			defer l.Close()
			appendN(t, l, 1500, 37)
			var e BatchEncoder
			next := l.NextOffset()
			if _, err := l.AppendBatch(compressBatch(t, e.AppendBatch(nil, recordsFor(next, 25)), kgo.ZstdCompression()), 1); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 500, 11)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			if err := l.Compact(); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 300, 7) // raw segments after the warm ones
			end := l.NextOffset()
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 60; i++ {
				from := rng.Int64N(end)
				to := from + rng.Int64N(end-from+50)
				for pass := 0; pass < 2; pass++ { // the second pass hits the cache
					checkScanRange(t, l, from, to)
				}
				checkScanContaining(t, l, from, to, []byte{byte('a' + rng.IntN(26)), byte('a' + rng.IntN(26))})
			}
		})
	}
}

func checkScanRange(t *testing.T, l *Log, from, to int64) {
	t.Helper()
	want := min(to, l.NextOffset())
	off := from
	next, err := l.ScanRange(context.Background(), from, to, func(r *Record) error {
		if r.Offset != off {
			return fmt.Errorf("offset %d, want %d", r.Offset, off)
		}
		if err := sameRecord(*r, recordFor(off)); err != nil {
			return fmt.Errorf("offset %d: %w", off, err)
		}
		off++
		return nil
	})
	if err != nil || next != want || off != want {
		t.Fatalf("ScanRange(%d, %d) = %d, %v after %d records; want next %d", from, to, next, err, off-from, want)
	}
	stopAt := from + (want-from)/2
	next, err = l.ScanRange(context.Background(), from, to, func(r *Record) error {
		if r.Offset == stopAt {
			return ErrStopScan
		}
		return nil
	})
	if want > from && (err != nil || next != stopAt+1) {
		t.Fatalf("stop at %d: next %d, err %v", stopAt, next, err)
	}
	boom := errors.New("boom")
	if want > from {
		_, err = l.ScanRange(context.Background(), from, to, func(*Record) error { return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("callback error: got %v", err)
		}
	}
}

// checkScanContaining: ScanRangeContaining yields exactly the records of
// [from, to) whose value contains needle.
func checkScanContaining(t *testing.T, l *Log, from, to int64, needle []byte) {
	t.Helper()
	var want []int64
	for off := from; off < min(to, l.NextOffset()); off++ {
		if bytes.Contains(recordFor(off).Value, needle) {
			want = append(want, off)
		}
	}
	var got []int64
	_, err := l.ScanRangeContaining(context.Background(), from, to, needle, func(r *Record) error {
		if err := sameRecord(*r, recordFor(r.Offset)); err != nil {
			return fmt.Errorf("offset %d: %w", r.Offset, err)
		}
		got = append(got, r.Offset)
		return nil
	})
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ScanRangeContaining(%d, %d, %q): %d records, want %d, err %v", from, to, needle, len(got), len(want), err)
	}
}

func TestIndexRare(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		s := make([]byte, rng.IntN(40))
		for j := range s {
			s[j] = "abtx "[rng.IntN(5)]
		}
		needle := make([]byte, 1+rng.IntN(4))
		for j := range needle {
			needle[j] = "abtx "[rng.IntN(5)]
		}
		if got, want := indexRare(s, needle), bytes.Index(s, needle); got != want {
			t.Fatalf("indexRare(%q, %q) = %d, want %d", s, needle, got, want)
		}
	}
}
