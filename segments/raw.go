package segments

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// rawSegment is a .log file of Kafka batches. The active segment is a rawSegment that
// still takes appends; its fields below are guarded by the owning Log's mu.
type rawSegment struct {
	path string
	f    File
	base int64

	// Guarded by Log.mu while the segment is active; immutable once sealed.
	size  int64 // bytes of whole, written batches
	next  int64 // offset after the last written batch
	index sparseIndex
}

// openRawSealed opens a sealed .log with its .index, rebuilding the index by scanning
// when it is missing or disagrees with the log.
func openRawSealed(fsys FS, dir string, base int64, interval int) (*rawSegment, bool, error) {
	s := &rawSegment{path: segmentPath(dir, base, logExt), base: base}
	f, err := fsys.OpenFile(s.path, os.O_RDONLY, 0)
	if err != nil {
		return nil, false, err
	}
	s.f = f
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, false, err
	}
	var idx indexFile
	data, err := readFile(fsys, segmentPath(dir, base, indexExt))
	if err == nil {
		err = idx.unmarshal(data)
	}
	if err == nil && idx.logSize == size && idx.nextOffset >= base {
		s.size, s.next = size, idx.nextOffset
		s.index = newSparseIndex(interval)
		s.index.entries, s.index.maxTs = idx.entries, idx.maxTs
		return s, false, nil
	}
	// Missing or damaged index: rebuild it from the log, which must be whole.
	s.index = newSparseIndex(interval)
	s.next = base
	end, scanErr := s.scan(size)
	if scanErr != nil {
		_ = f.Close()
		return nil, true, scanErr
	}
	if end != size {
		_ = f.Close()
		return nil, true, &CorruptionError{File: s.path, Offset: end, Err: errors.New("sealed segment ends in a partial batch")}
	}
	if err := WriteFileAtomic(fsys, segmentPath(dir, base, indexExt), s.indexFile().marshal(nil)); err != nil {
		_ = f.Close()
		return nil, true, fmt.Errorf("rewrite index of %s: %w", s.path, err)
	}
	return s, true, nil
}

// scan validates batches from position s.size up to limit, adding each to the index.
// It stops at the first batch that is torn or invalid and returns the position of the
// end of the last valid batch; err is a CorruptionError describing what stopped it,
// or nil when it reached limit.
func (s *rawSegment) scan(limit int64) (int64, error) {
	buf := make([]byte, 0, 1<<20)
	for s.size < limit {
		var hdr [batchHeaderSize]byte
		if limit-s.size < batchHeaderSize {
			return s.size, s.corrupt(s.size, io.ErrUnexpectedEOF)
		}
		if _, err := s.f.ReadAt(hdr[:], s.size); err != nil {
			return s.size, s.corrupt(s.size, err)
		}
		n, err := peekBatchLength(hdr[:])
		if err != nil {
			return s.size, s.corrupt(s.size, err)
		}
		if int64(n) > limit-s.size {
			return s.size, s.corrupt(s.size, io.ErrUnexpectedEOF)
		}
		buf = append(buf[:0], make([]byte, n)...)
		if _, err := s.f.ReadAt(buf, s.size); err != nil {
			return s.size, s.corrupt(s.size, err)
		}
		if err := checkBatch(buf); err != nil {
			return s.size, s.corrupt(s.size, err)
		}
		b := batchView(buf)
		if b.baseOffset() != s.next {
			return s.size, s.corrupt(s.size, fmt.Errorf("batch base offset %d, want %d", b.baseOffset(), s.next))
		}
		s.index.add(s.base, s.size, b)
		s.size += int64(n)
		s.next = b.nextOffset()
	}
	return s.size, nil
}

func (s *rawSegment) corrupt(pos int64, err error) error {
	return &CorruptionError{File: s.path, Offset: pos, Err: err}
}

func (s *rawSegment) indexFile() *indexFile {
	return &indexFile{entries: s.index.entries, nextOffset: s.next, logSize: s.size, maxTs: s.index.maxTs}
}

// readBatches appends to dst the whole batches of the segment that hold offsets in
// [off, limit), starting at byte position pos, where the batch based at offset
// expect begins (at or before off), and ending before byte end. It stops after
// maxBytes, but always returns the first batch whole. Every batch returned passed
// its CRC check and continues the offsets of the one before (base offsets sit
// outside the CRC).
func (s *rawSegment) readBatches(dst []byte, pos, expect, end, off, limit int64, maxBytes int) ([]byte, error) {
	var hdr [batchHeaderSize]byte
	first := 0
	for pos < end { // skip batches below off, reading headers only
		if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
			return dst, s.corrupt(pos, err)
		}
		n, err := peekBatchLength(hdr[:])
		if err == nil && batchView(hdr[:]).baseOffset() != expect {
			err = fmt.Errorf("batch base offset %d, want %d", batchView(hdr[:]).baseOffset(), expect)
		}
		if err != nil {
			return dst, s.corrupt(pos, err)
		}
		if batchView(hdr[:]).nextOffset() > off {
			first = n
			break
		}
		expect = batchView(hdr[:]).nextOffset()
		pos += int64(n)
	}
	if first == 0 || batchView(hdr[:]).baseOffset() >= limit {
		return dst, nil
	}
	if int64(first) > end-pos {
		return dst, s.corrupt(pos, io.ErrUnexpectedEOF)
	}
	want := max(int64(first), min(end-pos, int64(maxBytes)))
	start := len(dst)
	dst = grow(dst, int(want))
	chunk := dst[start:]
	if _, err := s.f.ReadAt(chunk, pos); err != nil && !errors.Is(err, io.EOF) {
		return dst[:start], s.corrupt(pos, err)
	}
	used := 0
	for len(chunk)-used >= batchHeaderSize {
		p := chunk[used:]
		n, err := peekBatchLength(p)
		if err != nil {
			return dst[:start+used], s.corrupt(pos+int64(used), err)
		}
		if n > len(p) || batchView(p).baseOffset() >= limit {
			break
		}
		err = verifyCRC(batchView(p[:n]))
		if err == nil && batchView(p).baseOffset() != expect {
			err = fmt.Errorf("batch base offset %d, want %d", batchView(p).baseOffset(), expect)
		}
		expect = batchView(p).nextOffset()
		if err != nil {
			return dst[:start+used], s.corrupt(pos+int64(used), err)
		}
		used += n
	}
	return dst[:start+used], nil
}

func verifyCRC(b batchView) error {
	if got := crc32Castagnoli(b[posAttributes:]); got != b.crc() {
		return fmt.Errorf("%w: crc %08x, want %08x", ErrInvalidBatch, got, b.crc())
	}
	return nil
}

// grow extends dst by n bytes, reusing its capacity when it can.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst[:len(dst)+n]
	}
	out := make([]byte, len(dst)+n, len(dst)+n+n/4)
	copy(out, dst)
	return out
}
