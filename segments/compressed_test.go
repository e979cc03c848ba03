package segments

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// compressBatch re-encodes a plain batch with its records compressed, as a Kafka
// producer sends it.
func compressBatch(t *testing.T, plain []byte, codec kgo.CompressionCodec) []byte {
	t.Helper()
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	comp, typ := c.Compress(&buf, plain[batchHeaderSize:])
	out := append(append([]byte(nil), plain[:batchHeaderSize]...), comp...)
	attrs := binary.BigEndian.Uint16(out[posAttributes:])&^attrCompression | uint16(typ)
	binary.BigEndian.PutUint16(out[posAttributes:], attrs)
	binary.BigEndian.PutUint32(out[posBatchLength:], uint32(len(out)-batchLengthAdjust))
	binary.BigEndian.PutUint32(out[posCRC:], crc32Castagnoli(out[posAttributes:]))
	return out
}

// TestCompressedBatchesReadAsRecords stores producer-compressed batches as
// received and reads their records back, by offset and by time, raw and warm.
func TestCompressedBatchesReadAsRecords(t *testing.T) {
	codecs := []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	l := openTest(t, t.TempDir(), testConfig())
	defer l.Close()
	var e BatchEncoder
	for i := 0; i < 40; i++ {
		next := l.NextOffset()
		batch := compressBatch(t, e.AppendBatch(nil, recordsFor(next, 25)), codecs[i%len(codecs)])
		if base, err := l.AppendBatch(batch, 3); err != nil || base != next {
			t.Fatalf("AppendBatch = %d, %v", base, err)
		}
	}
	for _, compact := range []bool{false, true} {
		if compact {
			if err := l.Compact(); err != nil {
				t.Fatal(err)
			}
		}
		checkRange(t, l, 0, 1000)
		checkRange(t, l, 517, 1000)
		if got, err := l.OffsetForTime(recordFor(613).Timestamp); err != nil || got != 613 {
			t.Fatalf("compact=%v OffsetForTime = %d, %v; want 613", compact, got, err)
		}
	}
	buf, err := l.ReadBatches(nil, 0, 1)
	if err != nil || batchView(buf).attributes()&attrCompression == 0 {
		t.Fatalf("first batch not stored compressed: %v", err)
	}
}
