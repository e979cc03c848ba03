package segments

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestBatchRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		recs    []Record
		wantLen int // pinned: a change to the encoding must be deliberate
	}{
		{"one value", []Record{{Timestamp: 1_700_000_000_000 * 1e6, Value: []byte("hello")}}, 61 + 12},
		{"key and headers", []Record{{Timestamp: 1_700_000_000_000 * 1e6, Key: []byte("k"),
			Value: []byte("v"), Headers: []Header{{Key: "app", Value: []byte("api")}}}}, 61 + 17},
		{"ns timestamps", []Record{
			{Timestamp: 1_700_000_000_000*1e6 + 123_456, Value: []byte("a")},
			{Timestamp: 1_700_000_000_001*1e6 + 999_999, Value: []byte("b")},
			{Timestamp: 1_700_000_000_002 * 1e6, Value: []byte("c")},
		}, 61 + 16 + 16 + 8},
		{"empty and null", []Record{{Timestamp: 0, Key: []byte{}, Value: nil}}, 61 + 7},
		{"negative timestamp", []Record{{Timestamp: -1_500_000, Value: []byte("x")}}, 61 + 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e BatchEncoder
			b := e.AppendBatch(nil, tc.recs)
			if len(b) != tc.wantLen {
				t.Errorf("encoded length %d, want %d", len(b), tc.wantLen)
			}
			if err := checkBatch(b); err != nil {
				t.Fatalf("checkBatch: %v", err)
			}
			// franz-go decodes it as a Kafka batch.
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatalf("kmsg: %v", err)
			}
			if int(kb.NumRecords) != len(tc.recs) || kb.Magic != 2 {
				t.Fatalf("kmsg header %+v", kb)
			}
			var it recordIter
			it.reset(b)
			i := 0
			for ; it.next(); i++ {
				var got Record
				it.record(7, kb.FirstTimestamp, &got)
				want := tc.recs[i]
				if got.Offset != 7+int64(i) || got.Timestamp != want.Timestamp ||
					!bytes.Equal(got.Key, want.Key) || (got.Key == nil) != (want.Key == nil) ||
					!bytes.Equal(got.Value, want.Value) || (got.Value == nil) != (want.Value == nil) ||
					len(got.Headers) != len(want.Headers) {
					t.Fatalf("record %d: got %+v, want %+v", i, got, want)
				}
			}
			if it.err != nil || i != len(tc.recs) {
				t.Fatalf("iterated %d records, err %v", i, it.err)
			}
		})
	}
}

func TestCheckBatchRejects(t *testing.T) {
	var e BatchEncoder
	good := e.AppendBatch(nil, []Record{{Value: []byte("a")}, {Value: []byte("b")}})
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := []struct {
		name  string
		batch []byte
	}{
		{"short", good[:40]},
		{"truncated", good[:len(good)-1]},
		{"bad magic", mutate(func(b []byte) []byte { b[posMagic] = 1; return b })},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
		{"length too big", mutate(func(b []byte) []byte { b[posBatchLength+3]++; return b })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkBatch(tc.batch); !errors.Is(err, ErrInvalidBatch) {
				t.Fatalf("checkBatch = %v, want ErrInvalidBatch", err)
			}
		})
	}
}

// FuzzBatchDecode feeds arbitrary bytes to the batch validator and, when they pass,
// to the record iterator and the block codec: none may panic, and a batch that
// passes must survive the column layout byte for byte.
func FuzzBatchDecode(f *testing.F) {
	var e BatchEncoder
	f.Add(e.AppendBatch(nil, []Record{{Timestamp: 1e15 + 5, Key: []byte("k"), Value: []byte("v"),
		Headers: []Header{{Key: "h", Value: nil}}}}))
	f.Add(e.AppendBatch(nil, []Record{{Value: []byte("a")}, {Value: []byte("bb")}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= batchHeaderSize && data[0]&1 == 0 {
			// Let the fuzzer past the CRC to reach the record parser.
			binary.BigEndian.PutUint32(data[posCRC:], crc32Castagnoli(data[posAttributes:]))
		}
		if checkBatch(data) != nil {
			return
		}
		var it recordIter
		it.reset(data)
		for it.next() {
			var r Record
			it.record(0, batchView(data).firstTimestamp(), &r)
		}
		var be blockEncoder
		block, err := encodeBlockExact(&be, nil, data, batchView(data).baseOffset())
		if err != nil {
			t.Fatalf("encodeBlockExact: %v", err)
		}
		back, err := decodeBlock(nil, block, batchView(data).baseOffset())
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("block round trip: err %v, equal %v", err, bytes.Equal(back, data))
		}
		// Reading the columns in place yields the batch's records.
		base := batchView(data).baseOffset()
		n := int64(0)
		_, _, err = scanBlock(block, base, base, base+1<<40, nil, func(*Record) error { n++; return nil })
		if want := batchView(data).recordCount(); !batchView(data).opaque() && (err != nil || n != int64(want)) {
			t.Fatalf("scanBlock: %d records, want %d, err %v", n, want, err)
		}
		// Damaged block bytes are an error, never a panic.
		for i := 0; i < len(block); i += 7 {
			bad := bytes.Clone(block)
			bad[i] ^= 0x5a
			_, _, _ = scanBlock(bad, base, base, base+1<<40, []byte("a"), func(*Record) error { return nil })
		}
	})
}
