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

// blockMeta is one record of the block table: everything Candidates needs about a
// block besides what bleve holds.
type blockMeta struct {
	ref        BlockRef
	start, end int64 // unix ns, inclusive
	lines      int
	bloom      *bloom.BloomFilter // nil: the block has no ID-like token
}

// appendRecord appends the encoded record of block seq to dst.
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
	dst = binary.AppendUvarint(dst, seq)
	dst = binary.AppendUvarint(dst, uint64(len(m.ref.Topic)))
	dst = append(dst, m.ref.Topic...)
	dst = binary.AppendVarint(dst, int64(m.ref.Partition))
	dst = binary.AppendVarint(dst, m.ref.FirstOffset)
	dst = binary.AppendVarint(dst, m.ref.LastOffset)
	dst = binary.AppendVarint(dst, m.start)
	dst = binary.AppendVarint(dst, m.end)
	dst = binary.AppendUvarint(dst, uint64(m.lines))
	dst = binary.AppendUvarint(dst, uint64(len(bl)))
	dst = append(dst, bl...)
	body := dst[at+recordHeaderLen:]
	binary.BigEndian.PutUint32(dst[at:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[at+4:], crc32.Checksum(body, castagnoli))
	return dst, nil
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

// decodeBody decodes a record body (its CRC already checked).
func decodeBody(body []byte) (seq uint64, m blockMeta, err error) {
	r := &bodyReader{b: body}
	seq = r.uvarint()
	m.ref.Topic = string(r.bytes())
	m.ref.Partition = int32(r.varint())
	m.ref.FirstOffset = r.varint()
	m.ref.LastOffset = r.varint()
	m.start = r.varint()
	m.end = r.varint()
	m.lines = int(r.uvarint())
	bl := r.bytes()
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	if r.err != nil {
		return 0, m, r.err
	}
	if len(bl) > 0 {
		if err := checkBloomLen(bl); err != nil {
			return 0, m, err
		}
		m.bloom = &bloom.BloomFilter{}
		if err := m.bloom.UnmarshalBinary(bl); err != nil {
			return 0, m, fmt.Errorf("decode bloom: %w", err)
		}
	}
	return seq, m, nil
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

// readBlocks reads the block table at path. It returns the records that decode,
// the byte length they (and the header) cover, and the error that stopped it at
// that length, if any (a torn or corrupt tail). A missing or empty file is created
// with its header.
func readBlocks(path string) (metas []blockMeta, good int64, tailErr error, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(data) == 0) {
		hdr := append([]byte(blocksMagic), blocksVersion)
		if err := writeFileSync(path, hdr); err != nil {
			return nil, 0, nil, err
		}
		return nil, int64(len(hdr)), nil, syncDir(filepath.Dir(path))
	}
	if err != nil {
		return nil, 0, nil, fmt.Errorf("read block table: %w", err)
	}
	if len(data) < headerLen || !bytes.Equal(data[:len(blocksMagic)], []byte(blocksMagic)) {
		return nil, 0, nil, &CorruptionError{Path: path, Err: errors.New("bad header")}
	}
	if v := data[len(blocksMagic)]; v != blocksVersion {
		return nil, 0, nil, fmt.Errorf("block table %s has version %d, this silt reads %d: rebuild the index", path, v, blocksVersion)
	}
	off := headerLen
	for off < len(data) {
		rest := data[off:]
		if len(rest) < recordHeaderLen {
			return metas, int64(off), &CorruptionError{Path: path, Offset: int64(off), Err: io.ErrUnexpectedEOF}, nil
		}
		n := int(binary.BigEndian.Uint32(rest))
		if n > maxRecordBody || n > len(rest)-recordHeaderLen {
			return metas, int64(off), &CorruptionError{Path: path, Offset: int64(off), Err: io.ErrUnexpectedEOF}, nil
		}
		body := rest[recordHeaderLen : recordHeaderLen+n]
		if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(rest[4:]) {
			return metas, int64(off), &CorruptionError{Path: path, Offset: int64(off), Err: errors.New("checksum mismatch")}, nil
		}
		seq, m, derr := decodeBody(body)
		if derr == nil && seq != uint64(len(metas)) {
			derr = fmt.Errorf("record has sequence %d, want %d", seq, len(metas))
		}
		if derr != nil {
			return metas, int64(off), &CorruptionError{Path: path, Offset: int64(off), Err: derr}, nil
		}
		metas = append(metas, m)
		off += recordHeaderLen + n
	}
	return metas, int64(off), nil, nil
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
