package segments

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BatchEncoder encodes records into Kafka v2 record batches, appending into caller
// buffers. Its scratch space is reused, so an encoder is not safe for concurrent use.
type BatchEncoder struct {
	headers []Header
	nsBytes []byte
	rec     kmsg.Record
}

// AppendBatch appends one uncompressed batch holding recs to dst. The base offset and
// leader epoch are left zero: the log stamps them on append.
func (e *BatchEncoder) AppendBatch(dst []byte, recs []Record) []byte {
	start := len(dst)
	firstMs, maxMs := batchTimes(recs)
	hdr := kmsg.RecordBatch{
		Magic:           batchMagic,
		LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp:  firstMs,
		MaxTimestamp:    maxMs,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      int32(len(recs)),
	}
	dst = hdr.AppendTo(dst)
	if cap(e.nsBytes) < 3*len(recs) {
		e.nsBytes = make([]byte, 0, 3*len(recs))
	}
	e.nsBytes = e.nsBytes[:0]
	for i := range recs {
		dst = e.appendRecord(dst, &recs[i], int32(i), firstMs)
	}
	b := batchView(dst[start:])
	binary.BigEndian.PutUint32(b[posBatchLength:], uint32(len(b)-batchLengthAdjust))
	binary.BigEndian.PutUint32(b[posCRC:], crc32.Checksum(b[posAttributes:], castagnoli))
	return dst
}

func (e *BatchEncoder) appendRecord(dst []byte, r *Record, delta int32, firstMs int64) []byte {
	ms := floorDiv(r.Timestamp, 1e6)
	rem := r.Timestamp - ms*1e6
	headers := r.Headers
	if rem != 0 {
		at := len(e.nsBytes)
		e.nsBytes = binary.AppendUvarint(e.nsBytes, uint64(rem))
		e.headers = append(e.headers[:0], Header{Key: nsHeaderKey, Value: e.nsBytes[at:len(e.nsBytes):len(e.nsBytes)]})
		e.headers = append(e.headers, r.Headers...)
		headers = e.headers
	}
	e.rec = kmsg.Record{
		TimestampDelta64: ms - firstMs,
		OffsetDelta:      delta,
		Key:              r.Key,
		Value:            r.Value,
		Headers:          headers,
	}
	e.rec.Length = int32(recordBodyLen(&e.rec))
	return e.rec.AppendTo(dst)
}

// batchTimes returns the first record's timestamp and the largest one, in ms.
func batchTimes(recs []Record) (first, max int64) {
	if len(recs) == 0 {
		return -1, -1
	}
	first = floorDiv(recs[0].Timestamp, 1e6)
	max = first
	for i := 1; i < len(recs); i++ {
		if ms := floorDiv(recs[i].Timestamp, 1e6); ms > max {
			max = ms
		}
	}
	return first, max
}

// recordBodyLen is the encoded size of r after its length field.
func recordBodyLen(r *kmsg.Record) int {
	n := 1 + varlongLen(r.TimestampDelta64) + varlongLen(int64(r.OffsetDelta))
	n += bytesLen(r.Key) + bytesLen(r.Value)
	n += varlongLen(int64(len(r.Headers)))
	for i := range r.Headers {
		h := &r.Headers[i]
		n += varlongLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	return n
}

func bytesLen(b []byte) int {
	if b == nil {
		return 1 // length -1
	}
	return varlongLen(int64(len(b))) + len(b)
}

// varlongLen is the size of v as a zig-zag varint.
func varlongLen(v int64) int {
	return uvarintLen(uint64(v<<1) ^ uint64(v>>63))
}
