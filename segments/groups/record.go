package groups

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Committed is what a group committed for one partition.
type Committed struct {
	Offset      int64
	LeaderEpoch int32 // -1 when the client did not say
	Metadata    string
	Time        time.Time // millisecond precision
}

// Commit is one partition's commit.
type Commit struct {
	TopicPartition
	Committed
}

// record is one framed entry of a commit log: a group's commit, or the
// deletion of some (none listed: all) of its partitions.
type record struct {
	kind    byte
	group   string
	entries []Commit // for kindDelete only TopicPartition is set
}

// Decoding errors; errTruncated alone can be a torn tail.
var (
	errTruncated = errors.New("record runs past the end of the file")
	errChecksum  = errors.New("record checksum mismatch")
	errLength    = errors.New("record length out of range")
	errPayload   = errors.New("malformed record payload")
)

// appendRecord appends r, framed, to dst.
func appendRecord(dst []byte, r *record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameSize)...)
	dst = append(dst, r.kind)
	dst = appendString(dst, r.group)
	dst = binary.AppendUvarint(dst, uint64(len(r.entries)))
	for i := range r.entries {
		e := &r.entries[i]
		dst = appendString(dst, e.Topic)
		dst = binary.AppendVarint(dst, int64(e.Partition))
		if r.kind == kindCommit {
			dst = binary.AppendVarint(dst, e.Offset)
			dst = binary.AppendVarint(dst, int64(e.LeaderEpoch))
			dst = binary.AppendVarint(dst, e.Time.UnixMilli())
			dst = appendString(dst, e.Metadata)
		}
	}
	payload := dst[start+frameSize:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(payload)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(payload, castagnoli))
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// readRecord decodes the framed record at the start of src and returns its
// framed size. On errChecksum and payload errors the size is still returned,
// so recovery can tell a damaged last record from damage before the tail.
func readRecord(src []byte) (record, int, error) {
	if len(src) < frameSize {
		return record{}, 0, errTruncated
	}
	n := binary.BigEndian.Uint32(src)
	if n == 0 || n > maxRecordBytes {
		return record{}, 0, fmt.Errorf("%w: %d bytes", errLength, n)
	}
	size := frameSize + int(n)
	if len(src) < size {
		return record{}, 0, errTruncated
	}
	payload := src[frameSize:size]
	if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(src[4:]) {
		return record{}, size, errChecksum
	}
	r, err := decodePayload(payload)
	return r, size, err
}

func decodePayload(p []byte) (record, error) {
	d := decoder{src: p}
	r := record{kind: d.byte(), group: d.string()}
	if r.kind != kindCommit && r.kind != kindDelete {
		return r, fmt.Errorf("%w: kind %d", errPayload, r.kind)
	}
	count := d.uvarint()
	// Every entry takes at least two bytes: a cap on count before allocating.
	if count > uint64(len(d.src))/2 {
		return r, fmt.Errorf("%w: %d entries in %d bytes", errPayload, count, len(p))
	}
	r.entries = make([]Commit, count)
	for i := range r.entries {
		e := &r.entries[i]
		e.Topic = d.string()
		e.Partition = d.int32()
		if r.kind == kindCommit {
			e.Offset = d.varint()
			e.LeaderEpoch = d.int32()
			e.Time = time.UnixMilli(d.varint())
			e.Metadata = d.string()
		}
	}
	if d.err != nil {
		return r, d.err
	}
	if len(d.src) != 0 {
		return r, fmt.Errorf("%w: %d bytes after the last entry", errPayload, len(d.src))
	}
	return r, nil
}

// decoder reads a payload, keeping the first error.
type decoder struct {
	src []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errPayload, what)
	}
	d.src = nil
}

func (d *decoder) byte() byte {
	if len(d.src) == 0 {
		d.fail("kind")
		return 0
	}
	b := d.src[0]
	d.src = d.src[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.src)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.src = d.src[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.src)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.src = d.src[n:]
	return v
}

func (d *decoder) int32() int32 {
	v := d.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("int32")
		return 0
	}
	return int32(v)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.src)) {
		d.fail("string length")
		return ""
	}
	s := string(d.src[:n])
	d.src = d.src[n:]
	return s
}
