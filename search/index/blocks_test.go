package index

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bits-and-blooms/bloom/v3"
)

func testTable(t testing.TB, n int) []byte {
	buf := append([]byte(blocksMagic), blocksVersion)
	for i := 0; i < n; i++ {
		times := make([]int64, 10)
		for j := range times {
			times[j] = int64(i)*1e9 + int64(j)*3e8 // 4 seconds: 4, 3, 3
		}
		m := blockMeta{ref: BlockRef{Topic: "logs", Partition: 3, FirstOffset: int64(i * 10), LastOffset: int64(i*10 + 9)},
			start: times[0], end: times[9], lines: 10, lineBytes: 100, key: `{app="a"}`,
			buckets: encodeBuckets(nil, times[0], times)}
		if i%2 == 0 {
			m.bloom = bloom.NewWithEstimates(4, 0.01)
			m.bloom.AddString("4fbb")
		}
		var err error
		if buf, err = appendRecord(buf, uint64(i), &m); err != nil {
			t.Fatal(err)
		}
		buf = appendCommit(buf, commitMeta{blocks: uint64(i + 1), next: int64(i*10 + 10), nextTime: 7})
	}
	return buf
}

// TestBlockRecordRoundTrip: a block record decodes to what was encoded, and
// its buckets count each second's lines.
func TestBlockRecordRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), blocksName)
	if err := os.WriteFile(path, testTable(t, 2), 0o644); err != nil {
		t.Fatal(err)
	}
	metas, commit, _, tail, err := readBlocks(path)
	if err != nil || tail != nil || len(metas) != 2 {
		t.Fatalf("read: %d blocks, tail %v, err %v", len(metas), tail, err)
	}
	if commit != (commitMeta{blocks: 2, next: 20, nextTime: 7}) {
		t.Errorf("commit = %+v", commit)
	}
	m := metas[1]
	if m.key != `{app="a"}` || m.lineBytes != 100 || m.lines != 10 || m.start != 1e9 {
		t.Errorf("block = %+v", m)
	}
	var got [][2]int64
	if err := eachBucket(m.buckets, m.start, func(sec int64, n int) { got = append(got, [2]int64{sec, int64(n)}) }); err != nil {
		t.Fatal(err)
	}
	want := [][2]int64{{1, 4}, {2, 3}, {3, 3}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("buckets = %v, want %v", got, want)
	}
}

// TestUncommittedBlocksDropped: block records after the last commit are a torn
// tail, cut back to the commit.
func TestUncommittedBlocksDropped(t *testing.T) {
	full := testTable(t, 2)
	committed := len(full)
	m := blockMeta{ref: BlockRef{Topic: "logs", FirstOffset: 20, LastOffset: 20}, lines: 1, buckets: encodeBuckets(nil, 0, []int64{0})}
	full, err := appendRecord(full, 2, &m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), blocksName)
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	metas, commit, good, tail, err := readBlocks(path)
	if err != nil || tail == nil || len(metas) != 2 || good != int64(committed) || commit.next != 20 {
		t.Fatalf("%d blocks, good %d (want %d), commit %+v, tail %v, err %v", len(metas), good, committed, commit, tail, err)
	}
}

// TestBlockTableDamage: every truncation and every bit flip after the header
// leaves a readable prefix of the records, never a panic or a wrong record; a
// damaged header is a CorruptionError.
func TestBlockTableDamage(t *testing.T) {
	full := testTable(t, 3)
	path := filepath.Join(t.TempDir(), blocksName)
	read := func(data []byte) ([]blockMeta, int64, error, error) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		metas, _, good, tail, err := readBlocks(path)
		return metas, good, tail, err
	}
	metas, good, tail, err := read(full)
	if err != nil || tail != nil || len(metas) != 3 || good != int64(len(full)) {
		t.Fatalf("intact table: %d blocks, good %d of %d, tail %v, err %v", len(metas), good, len(full), tail, err)
	}
	if !metas[0].bloom.TestString("4fbb") || metas[1].bloom != nil || metas[2].ref.LastOffset != 29 {
		t.Fatalf("round trip lost data: %+v", metas)
	}
	for cut := headerLen + 1; cut < len(full); cut++ {
		metas, good, tail, err := read(full[:cut])
		if err != nil || good > int64(cut) || len(metas) > 2 || (tail == nil) != (good == int64(cut)) {
			t.Fatalf("cut at %d: %d blocks, good %d, tail %v, err %v", cut, len(metas), good, tail, err)
		}
	}
	for i := headerLen; i < len(full); i++ {
		data := append([]byte(nil), full...)
		data[i] ^= 0x10
		metas, _, tail, err := read(data)
		if err != nil || tail == nil || len(metas) > 2 {
			t.Fatalf("flip at %d: %d blocks, tail %v, err %v", i, len(metas), tail, err)
		}
	}
	for i := 0; i < headerLen; i++ {
		data := append([]byte(nil), full...)
		data[i] ^= 0x10
		_, _, _, err := read(data)
		var ce *CorruptionError
		if i < len(blocksMagic) && !errors.As(err, &ce) {
			t.Fatalf("flip in magic at %d: err %v, want CorruptionError", i, err)
		}
		if i == len(blocksMagic) && err == nil {
			t.Fatalf("flip in version: no error")
		}
	}
}

func FuzzReadBlocks(f *testing.F) {
	f.Add(testTable(f, 2))
	f.Add([]byte(blocksMagic + "\x02\x00\x00\x00\x05"))
	path := filepath.Join(f.TempDir(), blocksName)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // an empty file is (re)created, not read
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		metas, _, good, _, _ := readBlocks(path)
		if good > int64(len(data)) {
			t.Fatalf("good %d beyond %d bytes", good, len(data))
		}
		for _, m := range metas {
			m.mayHold([]string{"4fbb"})
			_ = eachBucket(m.buckets, m.start, func(int64, int) {})
		}
	})
}
