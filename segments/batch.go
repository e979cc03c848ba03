package segments

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header is a record header (Kafka's: a string key and a byte value).
type Header = kmsg.Header

// Record is one entry of a partition.
type Record struct {
	Offset    int64 // assigned by the log on append
	Timestamp int64 // nanoseconds since the Unix epoch
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Byte positions inside a record batch header (FORMAT.md).
const (
	batchHeaderSize   = 61
	batchLengthAdjust = 12 // batchLength counts the bytes after itself
	posBatchLength    = 8
	posLeaderEpoch    = 12
	posMagic          = 16
	posCRC            = 17
	posAttributes     = 21
	posLastOffset     = 23
	posFirstTimestamp = 27
	posMaxTimestamp   = 35
	posRecordCount    = 57

	batchMagic         = 2
	attrCompression    = 0x07
	attrControl        = 0x20
	maxBatchLengthSize = math.MaxInt32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchView reads the header fields of an encoded batch. It never copies.
type batchView []byte

func (b batchView) baseOffset() int64 { return int64(binary.BigEndian.Uint64(b[0:])) }
func (b batchView) length() int {
	return int(int32(binary.BigEndian.Uint32(b[posBatchLength:]))) + batchLengthAdjust
}
func (b batchView) leaderEpoch() int32     { return int32(binary.BigEndian.Uint32(b[posLeaderEpoch:])) }
func (b batchView) crc() uint32            { return binary.BigEndian.Uint32(b[posCRC:]) }
func (b batchView) attributes() int16      { return int16(binary.BigEndian.Uint16(b[posAttributes:])) }
func (b batchView) lastOffsetDelta() int32 { return int32(binary.BigEndian.Uint32(b[posLastOffset:])) }
func (b batchView) firstTimestamp() int64 {
	return int64(binary.BigEndian.Uint64(b[posFirstTimestamp:]))
}
func (b batchView) maxTimestamp() int64 { return int64(binary.BigEndian.Uint64(b[posMaxTimestamp:])) }
func (b batchView) recordCount() int32  { return int32(binary.BigEndian.Uint32(b[posRecordCount:])) }
func (b batchView) nextOffset() int64   { return b.baseOffset() + int64(b.lastOffsetDelta()) + 1 }

// opaque reports whether the records are not plain: compressed or a control batch.
func (b batchView) opaque() bool { return b.attributes()&(attrCompression|attrControl) != 0 }

func (b batchView) setBaseOffset(o int64)  { binary.BigEndian.PutUint64(b[0:], uint64(o)) }
func (b batchView) setLeaderEpoch(e int32) { binary.BigEndian.PutUint32(b[posLeaderEpoch:], uint32(e)) }

// peekBatchLength returns the total length of the batch at the start of p, or an
// error when p cannot hold a batch header or the length is impossible.
func peekBatchLength(p []byte) (int, error) {
	if len(p) < batchHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes is shorter than a batch header", ErrInvalidBatch, len(p))
	}
	n := batchView(p).length()
	if n < batchHeaderSize {
		return 0, fmt.Errorf("%w: batch length %d", ErrInvalidBatch, n-batchLengthAdjust)
	}
	if p[posMagic] != batchMagic {
		return 0, fmt.Errorf("%w: magic %d, want %d", ErrInvalidBatch, p[posMagic], batchMagic)
	}
	return n, nil
}

// checkBatch validates one whole batch (len(p) == its length): CRC and, for plain
// batches, that records parse exactly with dense offset deltas.
func checkBatch(p []byte) error {
	n, err := peekBatchLength(p)
	if err != nil {
		return err
	}
	if n != len(p) {
		return fmt.Errorf("%w: batch length %d, have %d bytes", ErrInvalidBatch, n, len(p))
	}
	b := batchView(p)
	if got := crc32.Checksum(p[posAttributes:], castagnoli); got != b.crc() {
		return fmt.Errorf("%w: crc %08x, want %08x", ErrInvalidBatch, got, b.crc())
	}
	count := b.recordCount()
	if count < 0 || b.lastOffsetDelta() < 0 {
		return fmt.Errorf("%w: record count %d, last offset delta %d", ErrInvalidBatch, count, b.lastOffsetDelta())
	}
	if b.opaque() {
		return nil
	}
	if b.lastOffsetDelta() != count-1 && count > 0 {
		return fmt.Errorf("%w: last offset delta %d for %d records", ErrInvalidBatch, b.lastOffsetDelta(), count)
	}
	if count == 0 {
		return fmt.Errorf("%w: no records", ErrInvalidBatch)
	}
	var it recordIter
	it.reset(p)
	for i := int32(0); it.next(); i++ {
		if it.rec.OffsetDelta != i {
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidBatch, i, it.rec.OffsetDelta)
		}
	}
	if it.err != nil {
		return it.err
	}
	if it.n != count {
		return fmt.Errorf("%w: %d records, header says %d", ErrInvalidBatch, it.n, count)
	}
	return nil
}

// recordIter walks the records of one plain batch without copying.
type recordIter struct {
	src  []byte // records not yet read
	left int32
	n    int32
	rec  kmsg.Record
	err  error
}

func (it *recordIter) reset(batch []byte) {
	it.resetRecords(batch[batchHeaderSize:], batchView(batch).recordCount())
}

// resetRecords iterates count records laid out in src (a batch's records,
// decompressed when the batch was compressed).
func (it *recordIter) resetRecords(src []byte, count int32) {
	it.src = src
	it.left = count
	it.n = 0
	it.err = nil
}

func (it *recordIter) next() bool {
	if it.err != nil || it.left == 0 {
		if it.err == nil && len(it.src) != 0 {
			it.err = fmt.Errorf("%w: %d bytes after the last record", ErrInvalidBatch, len(it.src))
		}
		return false
	}
	length, w := binary.Varint(it.src)
	if w <= 0 || length < 0 || length > int64(len(it.src)-w) {
		it.err = fmt.Errorf("%w: record %d length", ErrInvalidBatch, it.n)
		return false
	}
	end := w + int(length)
	if err := it.rec.UnsafeReadFrom(it.src[:end]); err != nil {
		it.err = fmt.Errorf("%w: record %d: %v", ErrInvalidBatch, it.n, err)
		return false
	}
	if recordBodyLen(&it.rec) != int(length) {
		it.err = fmt.Errorf("%w: record %d does not fill its length %d", ErrInvalidBatch, it.n, length)
		return false
	}
	it.src = it.src[end:]
	it.left--
	it.n++
	return true
}

// record converts the current record to a Record of a batch based at base with
// firstTimestamp ts (ms). Key and value alias the batch; headers are copied, since
// the iterator reuses its header slice.
func (it *recordIter) record(base, firstTs int64, dst *Record) {
	it.recordShared(base, firstTs, dst)
	if len(dst.Headers) == 0 {
		dst.Headers = nil
	} else {
		dst.Headers = append([]Header(nil), dst.Headers...)
	}
}

// recordShared is record without copying the headers: they alias the
// iterator's slice and are valid until the next call to next.
func (it *recordIter) recordShared(base, firstTs int64, dst *Record) {
	r := &it.rec
	dst.Offset = base + int64(r.OffsetDelta)
	dst.Timestamp = (firstTs + r.TimestampDelta64) * 1e6
	dst.Key, dst.Value, dst.Headers = r.Key, r.Value, r.Headers
	if len(r.Headers) > 0 && r.Headers[0].Key == nsHeaderKey {
		if rem, ok := decodeNsRemainder(r.Headers[0].Value); ok {
			dst.Timestamp += rem
			dst.Headers = r.Headers[1:]
		}
	}
}

// decodeNsRemainder accepts only the canonical encoding written by silt, so that a
// record can be rebuilt byte for byte from its parsed form.
func decodeNsRemainder(v []byte) (int64, bool) {
	rem, n := binary.Uvarint(v)
	if n <= 0 || n != len(v) || rem == 0 || rem >= 1e6 || n != uvarintLen(rem) {
		return 0, false
	}
	return int64(rem), true
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func crc32Castagnoli(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }
