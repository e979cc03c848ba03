package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var decompressor = kgo.DefaultDecompressor()

// checkCompressedRecords decompresses a compressed batch and checks that it
// holds exactly recordCount well-formed records with offset deltas 0, 1, ...
// The stored batch stays compressed; this only refuses what consumers could
// not read.
func checkCompressedRecords(b []byte) error {
	codec := kgo.CompressionCodecType(binary.BigEndian.Uint16(b[batchPosAttributes:]) & attrCompression)
	if codec > kgo.CodecZstd {
		return fmt.Errorf("unknown compression codec %d", codec)
	}
	raw, err := decompressor.Decompress(b[batchHeaderBytes:], codec)
	if err != nil {
		return fmt.Errorf("decompress records: %w", err)
	}
	count := int32(binary.BigEndian.Uint32(b[batchPosCount:]))
	if last := int32(binary.BigEndian.Uint32(b[batchPosLastOffset:])); last != count-1 {
		return fmt.Errorf("last offset delta %d for %d records", last, count)
	}
	return checkRecords(raw, count)
}

// checkRecords checks that raw is exactly count records with dense offset
// deltas from 0.
func checkRecords(raw []byte, count int32) error {
	var rec kmsg.Record
	for i := range count {
		n, w := binary.Varint(raw)
		if w <= 0 || n < 0 || n > int64(len(raw)-w) {
			return fmt.Errorf("record %d: bad length", i)
		}
		if err := rec.ReadFrom(raw[:w+int(n)]); err != nil {
			return fmt.Errorf("record %d: %w", i, err)
		}
		if rec.OffsetDelta != i {
			return fmt.Errorf("record %d has offset delta %d", i, rec.OffsetDelta)
		}
		raw = raw[w+int(n):]
	}
	if len(raw) != 0 {
		return errors.New("bytes after the last record")
	}
	return nil
}
