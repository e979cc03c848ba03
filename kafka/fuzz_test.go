package kafka

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzConn is a conn over a started test server whose responses are discarded.
func fuzzConn(tb testing.TB) (*conn, *testServer) {
	ts := startServer(tb, nil)
	ts.createTopic(tb, "t", 1)
	a, b := net.Pipe()
	tb.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	go func() { // drain responses
		buf := make([]byte, 64<<10)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	return newConn(ts.Server, a), ts
}

func FuzzRequestFrame(f *testing.F) {
	f.Add(validProduceRequest(f, "t")[4:])
	for _, req := range []kmsg.Request{kmsg.NewPtrApiVersionsRequest(), kmsg.NewPtrMetadataRequest(), kmsg.NewPtrListOffsetsRequest(), kmsg.NewPtrFetchRequest(), kmsg.NewPtrCreateTopicsRequest()} {
		f.Add(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)[4:])
	}
	c, ts := fuzzConn(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, _, err := parseRequestHeader(frame)
		if err == nil && (h.key == fetchKey || h.key == joinGroupKey || h.key == syncGroupKey) {
			return // these wait (long poll, rebalance); covered by kmsg and the group tests
		}
		before := ts.log(t, "t", 0).NextOffset()
		if a, err := c.handle(append([]byte(nil), frame...)); err == nil && a.finish != nil {
			a.finish()
		}
		// Whatever was stored must be a valid batch.
		for _, b := range ts.storedBatches(t, "t", 0) {
			if code, msg := validateProduceBatch(b); code != 0 {
				t.Fatalf("invalid batch stored (was at %d): %s", before, msg)
			}
		}
	})
}

func FuzzProduceBatch(f *testing.F) {
	plain := testBatch(5)
	f.Add(plain)
	for _, codec := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		f.Add(compressBatch(f, plain, codec))
	}
	f.Add(plain[:40])
	c, ts := fuzzConn(f)
	log := ts.log(f, "t", 0)
	f.Fuzz(func(t *testing.T, batch []byte) {
		before := log.NextOffset()
		j := produceJob{topic: "t", records: append([]byte(nil), batch...), resp: &kmsg.ProduceResponseTopicPartition{}}
		c.produce(&j)
		after := log.NextOffset()
		if j.resp.ErrorCode != 0 {
			if after != before {
				t.Fatalf("refused batch (error %d) moved the log from %d to %d", j.resp.ErrorCode, before, after)
			}
			return
		}
		stored, err := log.ReadBatches(nil, j.resp.BaseOffset, 1)
		if err != nil {
			t.Fatal(err)
		}
		stored = stored[:int(binary.BigEndian.Uint32(stored[batchPosLength:]))+batchLengthAdjust]
		if code, msg := validateProduceBatch(stored); code != 0 {
			t.Fatalf("stored batch is invalid: %s", msg)
		}
	})
}

// compressBatch rewrites an uncompressed batch with its records compressed.
func compressBatch(tb testing.TB, plain []byte, codec kgo.CompressionCodec) []byte {
	tb.Helper()
	comp, err := kgo.DefaultCompressor(codec)
	if err != nil {
		tb.Fatal(err)
	}
	body, used := comp.Compress(new(bytes.Buffer), plain[batchHeaderBytes:])
	out := append([]byte(nil), plain[:batchHeaderBytes]...)
	out = append(out, body...)
	binary.BigEndian.PutUint32(out[batchPosLength:], uint32(len(out)-batchLengthAdjust))
	binary.BigEndian.PutUint16(out[batchPosAttributes:], uint16(used))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}
