package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/bits-and-blooms/bloom/v3"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CorruptionError reports damaged bytes in the block table: the file and the byte
// position at which the damage starts.
type CorruptionError struct {
	Path   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corrupt block index %s at byte %d: %v", e.Path, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// blockMeta is one block record of the block table: everything Candidates needs
// about a block besides what bleve holds.
type blockMeta struct {
	ref        BlockRef
	start, end int64 // unix ns, inclusive
	lines      int
	lineBytes  int64
	key        string             // the stream's canonical label string
	bloom      *bloom.BloomFilter // nil: the block has no ID-like token
	buckets    []byte             // encoded (secondDelta, count) pairs, see FORMAT.md
}

// Record kinds of the block table.
const (
	kindBlock  = 1
	kindCommit = 2
)

// commitMeta is a commit record: blocks records precede it, and every record of
// the partition below next is in one of them.
type commitMeta struct {
	blocks   uint64
	next     int64
	nextTime int64
}

// appendRecord appends the encoded block record of block seq to dst.
func appendRecord(dst []byte, seq uint64, m *blockMeta) ([]byte, error) {
	var bl []byte
	if m.bloom != nil {
		var err error
		if bl, err = m.bloom.MarshalBinary(); err != nil {
			return dst, fmt.Errorf("encode bloom: %w", err)
		}
	}
	at := len(dst)
	dst = append(dst, make([]byte, recordHeaderLen)...)
	dst = append(dst, kindBlock)
	dst = binary.AppendUvarint(dst, seq)
	dst = appendBytes(dst, []byte(m.ref.Topic))
	dst = binary.AppendVarint(dst, int64(m.ref.Partition))
	dst = binary.AppendVarint(dst, m.ref.FirstOffset)
	dst = binary.AppendVarint(dst, m.ref.LastOffset)
	dst = binary.AppendVarint(dst, m.start)
	dst = binary.AppendVarint(dst, m.end)
	dst = binary.AppendUvarint(dst, uint64(m.lines))
	dst = binary.AppendUvarint(dst, uint64(m.lineBytes))
	dst = appendBytes(dst, []byte(m.key))
	dst = appendBytes(dst, bl)
	dst = append(dst, m.buckets...)
	return sealRecord(dst, at), nil
}

// appendCommit appends the encoded commit record c to dst.
func appendCommit(dst []byte, c commitMeta) []byte {
	at := len(dst)
	dst = append(dst, make([]byte, recordHeaderLen)...)
	dst = append(dst, kindCommit)
	dst = binary.AppendUvarint(dst, c.blocks)
	dst = binary.AppendVarint(dst, c.next)
	dst = binary.AppendVarint(dst, c.nextTime)
	return sealRecord(dst, at)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// sealRecord fills in the length and CRC of the record that starts at dst[at].
func sealRecord(dst []byte, at int) []byte {
	body := dst[at+recordHeaderLen:]
	binary.BigEndian.PutUint32(dst[at:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[at+4:], crc32.Checksum(body, castagnoli))
	return dst
}

// encodeBuckets encodes the per-second line counts of times (unix ns, any order)
// relative to start, as FORMAT.md describes.
func encodeBuckets(dst []byte, start int64, times []int64) []byte {
	secs := make([]int64, len(times))
	for i, t := range times {
		secs[i] = floorSec(t)
	}
	slices.Sort(secs)
	n := 0
	for i := range secs {
		if i == 0 || secs[i] != secs[i-1] {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	prev := floorSec(start)
	for i := 0; i < len(secs); {
		j := i
		for j < len(secs) && secs[j] == secs[i] {
			j++
		}
		dst = binary.AppendUvarint(dst, uint64(secs[i]-prev))
		dst = binary.AppendUvarint(dst, uint64(j-i))
		prev = secs[i]
		i = j
	}
	return dst
}

func floorSec(ns int64) int64 {
	s := ns / 1e9
	if ns%1e9 < 0 {
		s--
	}
	return s
}

// bodyReader decodes a record body, keeping the first error.
type bodyReader struct {
	b   []byte
	err error
}

func (r *bodyReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *bodyReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *bodyReader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *bodyReader) fail() {
	if r.err == nil {
		r.err = errors.New("malformed record body")
	}
	r.b = nil
}

// decodeBody decodes a record body (its CRC already checked): a block record
// (isCommit false) or a commit record.
func decodeBody(body []byte) (isCommit bool, seq uint64, m blockMeta, c commitMeta, err error) {
	if len(body) == 0 {
		return false, 0, m, c, errors.New("empty record body")
	}
	r := &bodyReader{b: body[1:]}
	switch body[0] {
	case kindCommit:
		c.blocks = r.uvarint()
		c.next = r.varint()
		c.nextTime = r.varint()
		if r.err == nil && len(r.b) != 0 {
			r.fail()
		}
		return true, 0, m, c, r.err
	case kindBlock:
	default:
		return false, 0, m, c, fmt.Errorf("unknown record kind %d", body[0])
	}
	seq = r.uvarint()
	m.ref.Topic = string(r.bytes())
	m.ref.Partition = int32(r.varint())
	m.ref.FirstOffset = r.varint()
	m.ref.LastOffset = r.varint()
	m.start = r.varint()
	m.end = r.varint()
	m.lines = int(r.uvarint())
	m.lineBytes = int64(r.uvarint())
	m.key = string(r.bytes())
	bl := r.bytes()
	m.buckets = r.b
	if r.err == nil {
		err = checkBuckets(m.buckets, m.lines)
	}
	if r.err != nil || err != nil {
		return false, 0, m, c, errors.Join(r.err, err)
	}
	m.buckets = bytes.Clone(m.buckets)
	if len(bl) > 0 {
		if err := checkBloomLen(bl); err != nil {
			return false, 0, m, c, err
		}
		m.bloom = &bloom.BloomFilter{}
		if err := m.bloom.UnmarshalBinary(bl); err != nil {
			return false, 0, m, c, fmt.Errorf("decode bloom: %w", err)
		}
	}
	return false, seq, m, c, nil
}

// checkBuckets checks that encoded buckets are whole and count lines lines.
func checkBuckets(b []byte, lines int) error {
	total := 0
	err := eachBucket(b, 0, func(_ int64, n int) { total += n })
	if err == nil && total != lines {
		err = fmt.Errorf("buckets count %d lines, the block has %d", total, lines)
	}
	return err
}

// eachBucket calls fn with each bucket's second and line count.
func eachBucket(b []byte, start int64, fn func(sec int64, n int)) error {
	r := &bodyReader{b: b}
	n := r.uvarint()
	sec := floorSec(start)
	for i := uint64(0); i < n && r.err == nil; i++ {
		sec += int64(r.uvarint())
		c := r.uvarint()
		if r.err == nil {
			fn(sec, int(c))
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return r.err
}

// checkBloomLen checks that an encoded bloom's bitset length matches m and the
// bytes present before the library allocates what the header claims.
func checkBloomLen(bl []byte) error {
	if len(bl) < 24 {
		return errors.New("short bloom")
	}
	m := binary.BigEndian.Uint64(bl)
	bits := binary.BigEndian.Uint64(bl[16:])
	if bits != m || bits/64 > uint64(len(bl)) || 24+8*((bits+63)/64) != uint64(len(bl)) {
		return fmt.Errorf("bloom of m=%d holds a bitset of %d bits in %d bytes", m, bits, len(bl))
	}
	return nil
}

// readBlocks reads the block table at path. It returns the committed block
// records, the last commit, the byte length they (and the header) cover, and the
// error that stopped it at that length, if any (a torn or corrupt tail, or block
// records no commit closes). A missing or empty file is created with its header.
func readBlocks(path string) (metas []blockMeta, commit commitMeta, good int64, tailErr error, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(data) == 0) {
		hdr := append([]byte(blocksMagic), blocksVersion)
		if err := writeFileSync(path, hdr); err != nil {
			return nil, commit, 0, nil, err
		}
		return nil, commit, int64(len(hdr)), nil, syncDir(filepath.Dir(path))
	}
	if err != nil {
		return nil, commit, 0, nil, fmt.Errorf("read block table: %w", err)
	}
	if len(data) < headerLen || !bytes.Equal(data[:len(blocksMagic)], []byte(blocksMagic)) {
		return nil, commit, 0, nil, &CorruptionError{Path: path, Err: errors.New("bad header")}
	}
	if v := data[len(blocksMagic)]; v != blocksVersion {
		return nil, commit, 0, nil, fmt.Errorf("%w: block table %s has version %d, this silt reads %d", ErrVersion, path, v, blocksVersion)
	}
	off := headerLen
	good = int64(headerLen)
	var pending []blockMeta // block records after the last commit
	for off < len(data) {
		rest := data[off:]
		if len(rest) < recordHeaderLen {
			return metas, commit, good, &CorruptionError{Path: path, Offset: int64(off), Err: io.ErrUnexpectedEOF}, nil
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n > maxRecordBody || n > len(rest)-recordHeaderLen {
			return metas, commit, good, &CorruptionError{Path: path, Offset: int64(off), Err: io.ErrUnexpectedEOF}, nil
		}
		body := rest[recordHeaderLen : recordHeaderLen+n]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			return metas, commit, good, &CorruptionError{Path: path, Offset: int64(off), Err: errors.New("checksum mismatch")}, nil
		}
		isCommit, seq, m, c, derr := decodeBody(body)
		switch {
		case derr != nil:
		case isCommit && c.blocks != uint64(len(metas)+len(pending)):
			derr = fmt.Errorf("commit record counts %d blocks, %d precede it", c.blocks, len(metas)+len(pending))
		case !isCommit && seq != uint64(len(metas)+len(pending)):
			derr = fmt.Errorf("record has sequence %d, want %d", seq, len(metas)+len(pending))
		}
		if derr != nil {
			return metas, commit, good, &CorruptionError{Path: path, Offset: int64(off), Err: derr}, nil
		}
		off += recordHeaderLen + n
		if !isCommit {
			pending = append(pending, m)
			continue
		}
		metas, pending, commit, good = append(metas, pending...), pending[:0], c, int64(off)
	}
	if len(pending) > 0 {
		return metas, commit, good, &CorruptionError{Path: path, Offset: good,
			Err: fmt.Errorf("%d block records after the last commit", len(pending))}, nil
	}
	return metas, commit, good, nil, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync index dir: %w", err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync index dir: %w", err)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create block table: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write block table: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("sync block table: %w", err)
	}
	return f.Close()
}
