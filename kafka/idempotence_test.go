package kafka

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// idempotentBatch is a 3-record batch of producer id/epoch from sequence seq.
func idempotentBatch(id int64, epoch int16, seq int32) []byte {
	b := testBatch(3)
	binary.BigEndian.PutUint64(b[batchPosProducerID:], uint64(id))
	binary.BigEndian.PutUint16(b[batchPosProducerEpoch:], uint16(epoch))
	binary.BigEndian.PutUint32(b[batchPosBaseSequence:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// rawProduce sends one batch to topic partition 0 and returns the error
// code and base offset.
func rawProduce(t *testing.T, c *rawClient, topic string, batch []byte) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 7, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = 7
	if err := resp.ReadFrom(c.request(req, false)); err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func initProducerID(t *testing.T, c *rawClient, id int64, epoch int16) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.ProducerID, req.ProducerEpoch = 3, id, epoch
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.Version = 3
	if err := resp.ReadFrom(c.request(req, true)); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: error %d", resp.ErrorCode)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func TestIdempotentProduce(t *testing.T) {
	dir := t.TempDir()
	ts := startServerAt(t, dir, nil)
	ts.createTopic(t, "idem", 1)
	c := dialRaw(t, ts.addr)
	id, epoch := initProducerID(t, c, -1, -1)
	if other, _ := initProducerID(t, c, -1, -1); other == id {
		t.Fatalf("two InitProducerId calls gave the same id %d", id)
	}
	steps := []struct {
		name  string
		epoch int16
		seq   int32
		code  int16
		base  int64
		next  int64 // log next offset after the step
	}{
		{"first batch", epoch, 0, 0, 0, 3},
		{"retry of the first batch", epoch, 0, 0, 0, 3},
		{"next batch", epoch, 3, 0, 3, 6},
		{"retry of the last batch", epoch, 3, 0, 3, 6},
		{"retry of an older batch", epoch, 0, 0, 0, 6},
		{"gap in sequence", epoch, 10, kerr.OutOfOrderSequenceNumber.Code, -1, 6},
		{"overlapping sequence", epoch, 4, kerr.OutOfOrderSequenceNumber.Code, -1, 6},
		{"new epoch not from 0", epoch + 1, 6, kerr.OutOfOrderSequenceNumber.Code, -1, 6},
		{"new epoch from 0", epoch + 1, 0, 0, 6, 9},
		{"stale epoch", epoch, 6, kerr.InvalidProducerEpoch.Code, -1, 9},
	}
	log := ts.log(t, "idem", 0)
	for _, st := range steps {
		code, base := rawProduce(t, c, "idem", idempotentBatch(id, st.epoch, st.seq))
		if code != st.code || (code == 0 && base != st.base) || log.NextOffset() != st.next {
			t.Fatalf("%s: error %d base %d next %d; want error %d base %d next %d",
				st.name, code, base, log.NextOffset(), st.code, st.base, st.next)
		}
	}
	if got := len(ts.storedBatches(t, "idem", 0)); got != 3 {
		t.Fatalf("%d batches stored, want 3", got)
	}

	// After a restart the state is rebuilt from the log: a retry of the
	// last batch still gets its offset, a gap is still refused.
	ts.stop()
	ts = startServerAt(t, dir, nil)
	c = dialRaw(t, ts.addr)
	if code, base := rawProduce(t, c, "idem", idempotentBatch(id, epoch+1, 0)); code != 0 || base != 6 {
		t.Fatalf("retry after restart: error %d base %d, want base 6", code, base)
	}
	if code, _ := rawProduce(t, c, "idem", idempotentBatch(id, epoch+1, 7)); code != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap after restart: error %d", code)
	}
	if code, base := rawProduce(t, c, "idem", idempotentBatch(id, epoch+1, 3)); code != 0 || base != 9 {
		t.Fatalf("next batch after restart: error %d base %d, want base 9", code, base)
	}
	if n := ts.log(t, "idem", 0).NextOffset(); n != 12 {
		t.Fatalf("log next offset %d after restart, want 12", n)
	}
}

func TestInitProducerIDEpochBump(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	id, epoch := initProducerID(t, c, -1, -1)
	if id2, epoch2 := initProducerID(t, c, id, epoch); id2 != id || epoch2 != epoch+1 {
		t.Fatalf("bump of %d/%d gave %d/%d", id, epoch, id2, epoch2)
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version, req.ProducerID, req.ProducerEpoch = 4, id, epoch // stale epoch
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.Version = 4
	if err := resp.ReadFrom(c.request(req, true)); err != nil || resp.ErrorCode != kerr.ProducerFenced.Code {
		t.Fatalf("stale epoch: %v, error %d, want PRODUCER_FENCED", err, resp.ErrorCode)
	}
}
