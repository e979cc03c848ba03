package segments

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sort"
	"sync"

	"github.com/klauspost/compress/zstd"
)

const (
	zstHeaderSize  = 8
	blockEntrySize = 52
	zstTrailerSize = 16
)

// blockEntry is the footer entry of one compressed block.
type blockEntry struct {
	base, next   int64
	minTs, maxTs int64 // ms
	position     uint64
	compLen      uint32
	rawLen       uint32
	crc          uint32
}

// warmSegment is a sealed, compressed .zst segment. It is immutable.
type warmSegment struct {
	path   string
	f      File
	size   int64
	blocks []blockEntry

	mu struct {
		sync.Mutex
		// The last block decoded, as rebuilt batches: sequential readers decode
		// each block once.
		block   int
		batches []byte
		// ahead is the next block, decoding for a sequential reader.
		ahead *ahead[[]byte]
	}
}

var (
	zstdEncoders = sync.Pool{New: func() any {
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true))
		return enc
	}}
	zstdDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
)

// writeWarm compresses the batches of a raw segment into path (through a temp file,
// fsynced and renamed). read returns successive runs of whole batches from offset.
func writeWarm(fsys FS, path string, base, next int64, blockBytes int,
	read func(dst []byte, off int64, maxBytes int) ([]byte, error)) (int64, error) {
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	size, err := writeWarmBlocks(f, base, next, blockBytes, read)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, path)
	}
	if err != nil {
		_ = fsys.Remove(tmp)
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return size, nil
}

func writeWarmBlocks(f File, base, next int64, blockBytes int,
	read func(dst []byte, off int64, maxBytes int) ([]byte, error)) (int64, error) {
	enc := zstdEncoders.Get().(*zstd.Encoder)
	defer zstdEncoders.Put(enc)
	var be blockEncoder
	var footer, raw, block, comp []byte
	pos := int64(zstHeaderSize)
	if _, err := f.Write(append([]byte(zstMagic), zstVersion)); err != nil {
		return 0, err
	}
	count := 0
	for off := base; off < next; {
		var err error
		if raw, err = read(raw[:0], off, blockBytes); err != nil {
			return 0, err
		}
		if len(raw) == 0 {
			return 0, fmt.Errorf("compress: no batches at offset %d, want up to %d", off, next)
		}
		e := blockEntryOf(raw)
		if block, err = encodeBlockExact(&be, block[:0], raw, off); err != nil {
			return 0, err
		}
		comp = enc.EncodeAll(block, comp[:0])
		e.position, e.compLen, e.rawLen = uint64(pos), uint32(len(comp)), uint32(len(block))
		e.crc = crc32.Checksum(comp, castagnoli)
		if _, err := f.Write(comp); err != nil {
			return 0, err
		}
		pos += int64(len(comp))
		footer = e.appendTo(footer)
		count++
		off = e.next
	}
	trailer := binary.BigEndian.AppendUint32(nil, uint32(count))
	trailer = binary.BigEndian.AppendUint32(trailer, crc32.Checksum(footer, castagnoli))
	trailer = append(append(trailer, zstMagic...), zstVersion)
	if _, err := f.Write(append(footer, trailer...)); err != nil {
		return 0, err
	}
	return pos + int64(len(footer)+len(trailer)), nil
}

// blockEntryOf describes a run of whole batches (position and sizes left zero).
func blockEntryOf(batches []byte) blockEntry {
	e := blockEntry{base: batchView(batches).baseOffset(), minTs: 1<<63 - 1, maxTs: -1 << 63}
	for p := batches; len(p) > 0; {
		b := batchView(p)
		e.minTs = min(e.minTs, b.firstTimestamp())
		e.maxTs = max(e.maxTs, b.maxTimestamp())
		e.next = b.nextOffset()
		p = p[b.length():]
	}
	return e
}

func (e *blockEntry) appendTo(dst []byte) []byte {
	for _, v := range []uint64{uint64(e.base), uint64(e.next), uint64(e.minTs), uint64(e.maxTs), e.position} {
		dst = binary.BigEndian.AppendUint64(dst, v)
	}
	for _, v := range []uint32{e.compLen, e.rawLen, e.crc} {
		dst = binary.BigEndian.AppendUint32(dst, v)
	}
	return dst
}

func (e *blockEntry) unmarshal(b []byte) {
	u := binary.BigEndian.Uint64
	e.base, e.next, e.minTs, e.maxTs = int64(u(b)), int64(u(b[8:])), int64(u(b[16:])), int64(u(b[24:]))
	e.position = u(b[32:])
	e.compLen = binary.BigEndian.Uint32(b[40:])
	e.rawLen = binary.BigEndian.Uint32(b[44:])
	e.crc = binary.BigEndian.Uint32(b[48:])
}

// openWarm opens a .zst segment and validates its footer against the file.
func openWarm(fsys FS, path string, base int64) (*warmSegment, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	s := &warmSegment{path: path, f: f}
	s.mu.block = -1
	if err := s.loadFooter(base); err != nil {
		_ = f.Close()
		return nil, err
	}
	return s, nil
}

func (s *warmSegment) loadFooter(base int64) error {
	size, err := s.f.Size()
	if err != nil {
		return err
	}
	s.size = size
	bad := func(at int64, why string) error {
		return &CorruptionError{File: s.path, Offset: at, Err: errors.New(why)}
	}
	if size < zstHeaderSize+zstTrailerSize {
		return bad(0, "file shorter than header and trailer")
	}
	var trailer [zstTrailerSize]byte
	if _, err := s.f.ReadAt(trailer[:], size-zstTrailerSize); err != nil {
		return &CorruptionError{File: s.path, Offset: size - zstTrailerSize, Err: err}
	}
	if string(trailer[8:15]) != zstMagic || trailer[15] != zstVersion {
		return bad(size-zstTrailerSize, "bad trailer magic or version")
	}
	count := int64(binary.BigEndian.Uint32(trailer[0:]))
	footerAt := size - zstTrailerSize - count*blockEntrySize
	if count == 0 || footerAt < zstHeaderSize {
		return bad(size-zstTrailerSize, "bad block count")
	}
	footer := make([]byte, count*blockEntrySize)
	if _, err := s.f.ReadAt(footer, footerAt); err != nil {
		return &CorruptionError{File: s.path, Offset: footerAt, Err: err}
	}
	if crc32.Checksum(footer, castagnoli) != binary.BigEndian.Uint32(trailer[4:]) {
		return bad(footerAt, "footer checksum mismatch")
	}
	s.blocks = make([]blockEntry, count)
	end, next := uint64(zstHeaderSize), base
	for i := range s.blocks {
		e := &s.blocks[i]
		e.unmarshal(footer[i*blockEntrySize:])
		if e.base != next || e.next <= e.base || e.position != end {
			return bad(footerAt+int64(i*blockEntrySize), "footer entry out of sequence")
		}
		end += uint64(e.compLen)
		next = e.next
	}
	if int64(end) != footerAt {
		return bad(footerAt, "blocks do not end at the footer")
	}
	return nil
}

func (s *warmSegment) next() int64 { return s.blocks[len(s.blocks)-1].next }

func (s *warmSegment) minTimestamp() int64 {
	m := int64(1<<63 - 1)
	for i := range s.blocks {
		m = min(m, s.blocks[i].minTs)
	}
	return m
}

func (s *warmSegment) maxTimestamp() int64 {
	m := int64(-1)
	for i := range s.blocks {
		m = max(m, s.blocks[i].maxTs)
	}
	return m
}

// blockFor returns the index of the block holding off.
func (s *warmSegment) blockFor(off int64) int {
	i := sort.Search(len(s.blocks), func(i int) bool { return s.blocks[i].next > off })
	return min(i, len(s.blocks)-1)
}

// readBatches appends whole batches holding offsets >= off, from the block that
// holds off and following blocks, up to maxBytes (the first batch always whole).
func (s *warmSegment) readBatches(dst []byte, off int64, maxBytes int) ([]byte, error) {
	start := len(dst)
	full := false
	for i := s.blockFor(off); i < len(s.blocks) && !full; i++ {
		s.mu.Lock()
		err := s.loadLocked(i)
		if err == nil {
			dst, full = appendBatchesFrom(dst, s.mu.batches, off, maxBytes-(len(dst)-start), len(dst) == start)
		}
		s.mu.Unlock()
		if err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// loadLocked makes block i the decoded one. A reader that moves on to the next
// block is taken for a sequential one (a replay, a consumer catching up): the
// block after it is then decoded in the background, so that reading and
// decompressing it (from the bucket, for a cold segment) overlap with the
// reader's use of this one. A failed background decode is done again here, so
// that its error is the reader's.
func (s *warmSegment) loadLocked(i int) error {
	if s.mu.block == i {
		return nil
	}
	sequential := i == s.mu.block+1
	var spare []byte
	if d := s.mu.ahead; d != nil && d.block == i {
		s.mu.ahead = nil
		if batches, err := d.wait(); err == nil {
			spare = s.mu.batches
			s.mu.block, s.mu.batches = i, batches
		}
	}
	if s.mu.block != i {
		batches, err := s.decode(i, s.mu.batches[:0])
		if err != nil {
			s.mu.block, s.mu.batches = -1, batches
			return err
		}
		s.mu.block, s.mu.batches = i, batches
	}
	if sequential && i+1 < len(s.blocks) && s.mu.ahead == nil {
		s.mu.ahead = inBackground(i+1, func() ([]byte, error) { return s.decode(i+1, spare[:0]) })
	}
	return nil
}

// ahead is block's T, made in the background for a sequential reader.
type ahead[T any] struct {
	block int
	done  chan struct{} // closed once v and err are set
	v     T
	err   error
}

func inBackground[T any](block int, f func() (T, error)) *ahead[T] {
	a := &ahead[T]{block: block, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		a.v, a.err = f()
	}()
	return a
}

func (a *ahead[T]) wait() (T, error) {
	<-a.done
	return a.v, a.err
}

func (s *warmSegment) decode(i int, dst []byte) ([]byte, error) {
	e := &s.blocks[i]
	raw := rawBufs.get(int(e.rawLen))
	defer rawBufs.put(raw)
	raw, err := s.decompress(i, raw)
	if err != nil {
		return dst[:0], err
	}
	dst, err = decodeBlock(dst, raw, e.base)
	if err == nil && (len(dst) == 0 || batchView(dst).baseOffset() != e.base) {
		err = errors.New("block does not start at its base offset")
	}
	if err != nil {
		return dst[:0], &CorruptionError{File: s.path, Offset: int64(e.position), Err: err}
	}
	return dst, nil
}

// decompress reads block i, checks its CRC and decompresses it into dst[:0],
// which it returns.
func (s *warmSegment) decompress(i int, dst []byte) ([]byte, error) {
	e := &s.blocks[i]
	comp := compBufs.get(int(e.compLen))[:e.compLen]
	defer compBufs.put(comp)
	if _, err := s.f.ReadAt(comp, int64(e.position)); err != nil {
		var cre *coldReadError
		if errors.As(err, &cre) { // the bucket failed, not the data: retryable
			return nil, fmt.Errorf("%s block at byte %d: %w", s.path, e.position, err)
		}
		return nil, &CorruptionError{File: s.path, Offset: int64(e.position), Err: err}
	}
	if crc32.Checksum(comp, castagnoli) != e.crc {
		return nil, &CorruptionError{File: s.path, Offset: int64(e.position), Err: errors.New("block checksum mismatch")}
	}
	raw, err := zstdDecoder.DecodeAll(comp, dst[:0])
	if err == nil && len(raw) != int(e.rawLen) {
		err = fmt.Errorf("block decompressed to %d bytes, want %d", len(raw), e.rawLen)
	}
	if err != nil {
		return nil, &CorruptionError{File: s.path, Offset: int64(e.position), Err: err}
	}
	return raw, nil
}

// Buffers of compressed blocks, and of decompressed blocks that are rebuilt
// into batches at once (blocks that a blockView keeps are not pooled).
var compBufs, rawBufs bufPool

// bufPool keeps byte buffers of up to maxPooledBlock bytes.
type bufPool struct{ p sync.Pool }

const maxPooledBlock = 4 << 20

// get returns an empty buffer of capacity n or more; a pooled one too small
// for n is dropped.
func (p *bufPool) get(n int) []byte {
	if b, ok := p.p.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]byte, 0, n)
}

func (p *bufPool) put(b []byte) {
	if cap(b) <= maxPooledBlock {
		p.p.Put(&b)
	}
}

// appendBatchesFrom appends batches of src holding offsets >= off while they fit in
// maxBytes, the first one always when whole is set. full reports that a batch did
// not fit.
func appendBatchesFrom(dst, src []byte, off int64, maxBytes int, whole bool) ([]byte, bool) {
	used := 0
	for p := src; len(p) > 0; {
		b := batchView(p)
		n := b.length()
		if b.nextOffset() > off {
			if used+n > maxBytes && !(whole && used == 0) {
				return dst, true
			}
			dst = append(dst, p[:n]...)
			used += n
		}
		p = p[n:]
	}
	return dst, used >= maxBytes
}
