package segments

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

type segInfo struct {
	base, next int64
	layout     layout
}

// corruptionFixture builds a log with warm segments, sealed raw segments and an
// active segment, closes it and returns its segments.
func corruptionFixture(t *testing.T, dir string) []segInfo {
	t.Helper()
	l := openTest(t, dir, testConfig())
	appendN(t, l, 1500, 20)
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 1500, 20)
	var segs []segInfo
	l.mu.RLock()
	for _, s := range l.mu.segs {
		segs = append(segs, segInfo{s.base, s.next(), s.layout()})
	}
	l.mu.RUnlock()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return segs
}

func pick(t *testing.T, segs []segInfo, lay layout, nth int) segInfo {
	for _, s := range segs[:len(segs)-1] {
		if s.layout == lay {
			if nth == 0 {
				return s
			}
			nth--
		}
	}
	t.Fatalf("fixture has too few %s segments: %v", lay, segs)
	return segInfo{}
}

// survey reads the whole log, retrying past corruption (which quarantines), and
// fails on any record that differs from what was written.
func survey(t *testing.T, l *Log) (map[int64]bool, []*CorruptionError) {
	t.Helper()
	got := map[int64]bool{}
	var corrupt []*CorruptionError
	for off, tries := l.StartOffset(), 0; off < l.NextOffset() && tries < 100; tries++ {
		recs, err := l.Read(off, 100_000)
		for _, r := range recs {
			if err := sameRecord(r, recordFor(r.Offset)); err != nil {
				t.Fatalf("offset %d served wrong data: %v", r.Offset, err)
			}
			got[r.Offset] = true
			off = r.Offset + 1
		}
		var ce *CorruptionError
		switch {
		case errors.As(err, &ce):
			corrupt = append(corrupt, ce)
		case errors.Is(err, ErrOffsetOutOfRange):
			off = l.StartOffset()
		case err != nil:
			t.Fatalf("Read(%d): %v", off, err)
		case len(recs) == 0:
			return got, corrupt
		}
	}
	return got, corrupt
}

func flipByte(t *testing.T, path string, pos int64, mask byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if pos < 0 {
		pos += int64(len(data))
	}
	data[pos] ^= mask
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func lastBatchPos(t *testing.T, path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	for p := int64(0); p < int64(len(data)); p += int64(batchView(data[p:]).length()) {
		last = p
	}
	return last
}

// lastBlockPos returns the position of the last block of a .zst file with
// at least two.
func lastBlockPos(t *testing.T, path string, base int64) int64 {
	w, err := openWarm(OSFS, path, base)
	if err != nil {
		t.Fatal(err)
	}
	defer w.f.Close()
	if len(w.blocks) < 2 {
		t.Fatalf("%s has %d blocks, want 2 or more", path, len(w.blocks))
	}
	return int64(w.blocks[len(w.blocks)-1].position)
}

func TestCorruptionTable(t *testing.T) {
	type want = corruptionWant
	all := func([]segInfo, int64) bool { return true }
	outside := func(s segInfo) func([]segInfo, int64) bool {
		return func(_ []segInfo, off int64) bool { return off < s.base || off >= s.next }
	}
	active := func(segs []segInfo) segInfo { return segs[len(segs)-1] }
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string, segs []segInfo) want
	}{
		{"torn last batch", func(t *testing.T, dir string, segs []segInfo) want {
			p := segmentPath(dir, active(segs).base, logExt)
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()-10); err != nil {
				t.Fatal(err)
			}
			return want{survive: func(_ []segInfo, off int64) bool { return off < active(segs).next-20 }, truncated: true}
		}},
		{"bad checksum in last batch", func(t *testing.T, dir string, segs []segInfo) want {
			flipByte(t, segmentPath(dir, active(segs).base, logExt), -5, 0x10)
			return want{survive: func(_ []segInfo, off int64) bool { return off < active(segs).next-20 }, truncated: true}
		}},
		{"bad length in last batch", func(t *testing.T, dir string, segs []segInfo) want {
			p := segmentPath(dir, active(segs).base, logExt)
			flipByte(t, p, lastBatchPos(t, p)+posBatchLength, 0x40)
			return want{survive: func(_ []segInfo, off int64) bool { return off < active(segs).next-20 }, truncated: true}
		}},
		{"truncated index", func(t *testing.T, dir string, segs []segInfo) want {
			p := segmentPath(dir, pick(t, segs, layoutLog, 0).base, indexExt)
			st, _ := os.Stat(p)
			if err := os.Truncate(p, st.Size()/2); err != nil {
				t.Fatal(err)
			}
			return want{survive: all, rebuilt: 1}
		}},
		{"missing index", func(t *testing.T, dir string, segs []segInfo) want {
			if err := os.Remove(segmentPath(dir, pick(t, segs, layoutLog, 1).base, indexExt)); err != nil {
				t.Fatal(err)
			}
			return want{survive: all, rebuilt: 1}
		}},
		{"bad checksum in sealed raw segment", func(t *testing.T, dir string, segs []segInfo) want {
			s := pick(t, segs, layoutLog, 0)
			flipByte(t, segmentPath(dir, s.base, logExt), 5000, 0x01)
			return want{survive: outside(s), corruptExt: logExt}
		}},
		{"bad base offset in sealed raw segment", func(t *testing.T, dir string, segs []segInfo) want {
			s := pick(t, segs, layoutLog, 0)
			flipByte(t, segmentPath(dir, s.base, logExt), lastBatchPos(t, segmentPath(dir, s.base, logExt))+7, 0x02)
			return want{survive: outside(s), corruptExt: logExt}
		}},
		{"bad block in warm segment", func(t *testing.T, dir string, segs []segInfo) want {
			s := pick(t, segs, layoutZst, 1)
			flipByte(t, segmentPath(dir, s.base, zstExt), 100, 0x04)
			return want{survive: outside(s), corruptExt: zstExt}
		}},
		{"bad last block in warm segment (decoded ahead of a sequential reader)", func(t *testing.T, dir string, segs []segInfo) want {
			s := pick(t, segs, layoutZst, 1)
			flipByte(t, segmentPath(dir, s.base, zstExt), lastBlockPos(t, segmentPath(dir, s.base, zstExt), s.base)+10, 0x04)
			return want{survive: outside(s), corruptExt: zstExt}
		}},
		{"bad footer in warm segment", func(t *testing.T, dir string, segs []segInfo) want {
			s := pick(t, segs, layoutZst, 1)
			flipByte(t, segmentPath(dir, s.base, zstExt), -30, 0x08)
			return want{survive: outside(s)}
		}},
		{"damaged manifest", func(t *testing.T, dir string, segs []segInfo) want {
			flipByte(t, filepath.Join(dir, manifestName), 20, 0x01)
			return want{survive: all}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkDamage(t, tc.damage) })
	}
}

// corruptionWant is what a damaged log must still do.
type corruptionWant struct {
	survive    func(segs []segInfo, off int64) bool // offsets that must read back
	corruptExt string                               // a read must report corruption in such a file
	rebuilt    int
	truncated  bool
}

// checkDamage damages a fixture log, opens it and checks what it reads back,
// reports and recovers, and that it still takes appends.
func checkDamage(t *testing.T, damage func(t *testing.T, dir string, segs []segInfo) corruptionWant) {
	dir := t.TempDir()
	segs := corruptionFixture(t, dir)
	w := damage(t, dir, segs)
	l := openTest(t, dir, testConfig())
	defer l.Close()
	got, corrupt := survey(t, l)
	for off := int64(0); off < segs[len(segs)-1].next; off++ {
		if w.survive(segs, off) && !got[off] {
			t.Fatalf("offset %d lost; it must survive this damage", off)
		}
	}
	if w.corruptExt != "" {
		if len(corrupt) == 0 || filepath.Ext(corrupt[0].File) != w.corruptExt {
			t.Fatalf("corruption errors %v, want one naming a %s file", corrupt, w.corruptExt)
		}
		if _, err := os.Stat(filepath.Join(dir, quarantineDir, filepath.Base(corrupt[0].File))); err != nil {
			t.Fatalf("damaged file not quarantined: %v", err)
		}
	}
	if rec := l.Recovery(); rec.RebuiltIndexes != w.rebuilt || (rec.TruncatedBytes > 0) != w.truncated {
		t.Fatalf("recovery %+v, want %d rebuilt indexes, truncated %v", rec, w.rebuilt, w.truncated)
	}
	// The log still takes appends, densely after what survived.
	next := l.NextOffset()
	if _, err := l.Append(context.Background(), recordsFor(next, 5)); err != nil {
		t.Fatal(err)
	}
	checkRange(t, l, next, next+5)
}

// TestScanRangeBadBlockAhead: a block that fails while it is read ahead of a
// scan is reported by the scan, as a CorruptionError at that block.
func TestScanRangeBadBlockAhead(t *testing.T) {
	dir := t.TempDir()
	segs := corruptionFixture(t, dir)
	s := pick(t, segs, layoutZst, 1)
	path := segmentPath(dir, s.base, zstExt)
	pos := lastBlockPos(t, path, s.base)
	flipByte(t, path, pos+10, 0x04)
	l := openTest(t, dir, testConfig())
	defer l.Close()
	var n int64
	_, err := l.ScanRange(context.Background(), s.base, s.next, func(*Record) error { n++; return nil })
	var ce *CorruptionError
	if !errors.As(err, &ce) || filepath.Base(ce.File) != filepath.Base(path) || ce.Offset != pos {
		t.Fatalf("ScanRange over a bad last block: %v after %d records, want a CorruptionError at %s:%d", err, n, path, pos)
	}
}

// TestRandomBitFlips flips one random bit anywhere in the log's files, 40 times.
// The log must open, never serve wrong data, and keep every offset outside the
// damaged segment (in the active segment: every offset before the damaged batch).
func TestRandomBitFlips(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pristine := t.TempDir()
	segs := corruptionFixture(t, pristine)
	names, _ := OSFS.ReadDir(pristine)
	for i := 0; i < 40; i++ {
		dir := t.TempDir()
		for _, n := range names {
			data, _ := os.ReadFile(filepath.Join(pristine, n))
			if err := os.WriteFile(filepath.Join(dir, n), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		name := names[rng.IntN(len(names))]
		st, _ := os.Stat(filepath.Join(dir, name))
		pos := rng.Int64N(st.Size())
		flipByte(t, filepath.Join(dir, name), pos, 1<<rng.IntN(8))
		t.Run(fmt.Sprintf("%s@%d", name, pos), func(t *testing.T) {
			l := openTest(t, dir, testConfig())
			defer l.Close()
			got, _ := survey(t, l)
			base, _, isSeg := parseSegmentName(name)
			for _, s := range segs {
				for off := s.base; off < s.next; off++ {
					damaged := isSeg && s.base == base && filepath.Ext(name) != indexExt
					if damaged && s == segs[len(segs)-1] {
						damaged = off >= firstOffsetAtOrAfter(t, pristine, s.base, pos)
					}
					if !damaged && !got[off] {
						t.Fatalf("offset %d lost after flipping a bit of %s at %d", off, name, pos)
					}
				}
			}
		})
	}
}

// firstOffsetAtOrAfter returns the base offset of the batch of a raw segment that
// contains byte position pos.
func firstOffsetAtOrAfter(t *testing.T, dir string, base, pos int64) int64 {
	data, err := os.ReadFile(segmentPath(dir, base, logExt))
	if err != nil {
		t.Fatal(err)
	}
	for p := int64(0); p < int64(len(data)); {
		b := batchView(data[p:])
		if pos < p+int64(b.length()) {
			return b.baseOffset()
		}
		p += int64(b.length())
	}
	return 1 << 62
}
