package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
)

// indexEntry points at a batch boundary of a raw segment.
type indexEntry struct {
	relOffset  uint32 // batch base - segment base
	position   uint32 // byte position of the batch in the .log
	maxTsSoFar int64  // largest batch maxTimestamp (ms) up to and including this batch
}

const (
	indexHeaderSize = 8
	indexEntrySize  = 16
	indexFooterSize = 8 + 8 + 8 + 4 + 4
)

// sparseIndex is the in-memory index of a raw segment.
type sparseIndex struct {
	entries  []indexEntry
	lastPos  int64 // position of the last entry, to space them by interval
	maxTs    int64 // largest maxTimestamp of any batch (ms), -1 when empty
	interval int64
}

func newSparseIndex(interval int) sparseIndex {
	return sparseIndex{maxTs: -1, lastPos: -1, interval: int64(interval)}
}

// add records the batch b found at position pos of a segment based at base.
func (x *sparseIndex) add(base int64, pos int64, b batchView) {
	if ts := b.maxTimestamp(); ts > x.maxTs {
		x.maxTs = ts
	}
	if x.lastPos < 0 || pos-x.lastPos >= x.interval {
		x.entries = append(x.entries, indexEntry{
			relOffset:  uint32(b.baseOffset() - base),
			position:   uint32(pos),
			maxTsSoFar: x.maxTs,
		})
		x.lastPos = pos
	}
}

// truncate drops entries at or past position pos (the new end of the log).
func (x *sparseIndex) truncate(pos int64) {
	i := sort.Search(len(x.entries), func(i int) bool { return int64(x.entries[i].position) >= pos })
	x.entries = x.entries[:i]
	x.lastPos = -1
	x.maxTs = -1
	if i > 0 {
		x.lastPos = int64(x.entries[i-1].position)
		x.maxTs = x.entries[i-1].maxTsSoFar
	}
}

// lookupOffset returns the position and base offset of the last indexed batch
// based at or before off.
func (x *sparseIndex) lookupOffset(base, off int64) (pos, batchBase int64) {
	rel := off - base
	i := sort.Search(len(x.entries), func(i int) bool { return int64(x.entries[i].relOffset) > rel })
	if i == 0 {
		return 0, base
	}
	e := x.entries[i-1]
	return int64(e.position), base + int64(e.relOffset)
}

// indexFile is the decoded content of a .index file.
type indexFile struct {
	entries    []indexEntry
	nextOffset int64
	logSize    int64
	maxTs      int64
}

func (f *indexFile) marshal(dst []byte) []byte {
	dst = append(dst, indexMagic...)
	dst = append(dst, indexVersion)
	for _, e := range f.entries {
		dst = binary.BigEndian.AppendUint32(dst, e.relOffset)
		dst = binary.BigEndian.AppendUint32(dst, e.position)
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.maxTsSoFar))
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.nextOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.logSize))
	dst = binary.BigEndian.AppendUint64(dst, uint64(f.maxTs))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(f.entries)))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst, castagnoli))
}

var errBadIndex = errors.New("bad index")

func (f *indexFile) unmarshal(src []byte) error {
	if len(src) < indexHeaderSize+indexFooterSize {
		return fmt.Errorf("%w: %d bytes", errBadIndex, len(src))
	}
	if string(src[:len(indexMagic)]) != indexMagic || src[len(indexMagic)] != indexVersion {
		return fmt.Errorf("%w: magic or version", errBadIndex)
	}
	body := src[:len(src)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(src[len(body):]) {
		return fmt.Errorf("%w: checksum", errBadIndex)
	}
	foot := body[len(body)-(indexFooterSize-4):]
	f.nextOffset = int64(binary.BigEndian.Uint64(foot[0:]))
	f.logSize = int64(binary.BigEndian.Uint64(foot[8:]))
	f.maxTs = int64(binary.BigEndian.Uint64(foot[16:]))
	count := int(binary.BigEndian.Uint32(foot[24:]))
	entries := body[indexHeaderSize : len(body)-(indexFooterSize-4)]
	if len(entries) != count*indexEntrySize {
		return fmt.Errorf("%w: %d entries in %d bytes", errBadIndex, count, len(entries))
	}
	f.entries = make([]indexEntry, count)
	for i := range f.entries {
		e := entries[i*indexEntrySize:]
		f.entries[i] = indexEntry{
			relOffset:  binary.BigEndian.Uint32(e[0:]),
			position:   binary.BigEndian.Uint32(e[4:]),
			maxTsSoFar: int64(binary.BigEndian.Uint64(e[8:])),
		}
	}
	return nil
}
