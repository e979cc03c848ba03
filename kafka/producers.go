package kafka

import (
	"encoding/binary"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments"
)

// Idempotent producers.
//
// InitProducerId hands out producer ids from a counter that starts at the
// server's start time in microseconds, so ids never repeat across restarts
// (unless a restart comes within a microsecond per id handed out before it).
// Produce tracks, per partition and producer id, the epoch and the last
// maxTrackedBatches batches' sequence ranges and offsets, as Kafka does:
//
//   - a batch equal to a tracked one (same epoch, first and last sequence)
//     is a retry: it is not appended and gets the original base offset;
//   - an older epoch is INVALID_PRODUCER_EPOCH;
//   - a newer epoch must start at sequence 0;
//   - otherwise the first sequence must follow the last one, or the batch
//     gets OUT_OF_ORDER_SEQUENCE_NUMBER;
//   - an unknown producer id starts at any sequence.
//
// The state is in memory. When a partition's state is first needed it is
// rebuilt from the batch headers of the log's last producerScanOffsets
// offsets, so a restart keeps duplicate detection for recent producers.
const (
	maxTrackedBatches     = 5
	producerScanOffsets   = 50_000
	maxProducersPerPart   = 4096
	maxInitializedIDs     = 1 << 16
	batchPosProducerID    = 43
	batchPosProducerEpoch = 51
	batchPosBaseSequence  = 53
)

// seqBatch is one appended batch of an idempotent producer.
type seqBatch struct {
	first, last int32
	base, next  int64 // its base offset and the offset after it
}

type producerEntry struct {
	epoch    int16
	batches  []seqBatch // oldest first, at most maxTrackedBatches
	lastUsed time.Time
}

// partitionProducers is the producer state of one partition; mu is held
// from the sequence check until the batch is written, so checks and writes
// of one partition happen in the same order.
type partitionProducers struct {
	mu      sync.Mutex
	entries map[int64]*producerEntry // guarded by mu
}

type partitionKey struct {
	topic     string
	partition int32
}

// producers is the server's idempotence state.
type producers struct {
	mu     sync.Mutex
	nextID int64                                // guarded by mu
	epochs map[int64]int16                      // guarded by mu: ids handed out and their epochs
	parts  map[partitionKey]*partitionProducers // guarded by mu
}

func newProducers() *producers {
	return &producers{
		nextID: time.Now().UnixMicro(),
		epochs: map[int64]int16{},
		parts:  map[partitionKey]*partitionProducers{},
	}
}

// partition returns a partition's producer state, rebuilding it from the
// log's tail on first use.
func (ps *producers) partition(k partitionKey, log *segments.Log) *partitionProducers {
	ps.mu.Lock()
	pp := ps.parts[k]
	if pp == nil {
		pp = &partitionProducers{entries: map[int64]*producerEntry{}}
		ps.parts[k] = pp
		pp.mu.Lock() // before ps.mu is released: nobody sees it half built
		ps.mu.Unlock()
		pp.rebuild(log)
		pp.mu.Unlock()
		return pp
	}
	ps.mu.Unlock()
	return pp
}

// rebuild replays the batch headers of the log's tail.
func (pp *partitionProducers) rebuild(log *segments.Log) {
	next := log.NextOffset()
	off := max(log.StartOffset(), next-producerScanOffsets)
	var buf []byte
	for off < next {
		var err error
		buf, err = log.ReadBatches(buf[:0], off, 1<<20)
		if err != nil || len(buf) == 0 {
			return
		}
		for b := buf; len(b) >= batchHeaderBytes; {
			n := int(int32(binary.BigEndian.Uint32(b[batchPosLength:]))) + batchLengthAdjust
			if n < batchHeaderBytes || n > len(b) {
				return
			}
			h := batchProducer(b[:n])
			if h.id >= 0 {
				pp.trackLocked(h, int64(binary.BigEndian.Uint64(b)), time.Time{})
			}
			off = int64(binary.BigEndian.Uint64(b)) + int64(h.lastDelta) + 1
			b = b[n:]
		}
	}
}

// producerHeader is what a batch header says of its producer.
type producerHeader struct {
	id          int64
	epoch       int16
	first, last int32
	lastDelta   int32
}

func batchProducer(b []byte) producerHeader {
	h := producerHeader{
		id:        int64(binary.BigEndian.Uint64(b[batchPosProducerID:])),
		epoch:     int16(binary.BigEndian.Uint16(b[batchPosProducerEpoch:])),
		first:     int32(binary.BigEndian.Uint32(b[batchPosBaseSequence:])),
		lastDelta: int32(binary.BigEndian.Uint32(b[batchPosLastOffset:])),
	}
	h.last = addSeq(h.first, h.lastDelta)
	return h
}

// addSeq adds to a sequence number, wrapping past MaxInt32 to 0 as Kafka
// producers do.
func addSeq(seq, n int32) int32 {
	if int64(seq)+int64(n) > math.MaxInt32 {
		return int32(int64(seq) + int64(n) - math.MaxInt32 - 1)
	}
	return seq + n
}

// checkLocked decides what to do with a batch: append it (code 0, dup nil),
// answer a retry with the original batch (dup), or refuse it (code).
func (pp *partitionProducers) checkLocked(h producerHeader) (code int16, dup *seqBatch) {
	if h.first < 0 {
		return kerr.OutOfOrderSequenceNumber.Code, nil
	}
	e := pp.entries[h.id]
	switch {
	case e == nil:
		return 0, nil
	case h.epoch < e.epoch:
		return kerr.InvalidProducerEpoch.Code, nil
	case h.epoch > e.epoch:
		if h.first != 0 {
			return kerr.OutOfOrderSequenceNumber.Code, nil
		}
		return 0, nil
	}
	for i := range e.batches {
		if b := &e.batches[i]; b.first == h.first && b.last == h.last {
			return 0, b
		}
	}
	if len(e.batches) > 0 && h.first != addSeq(e.batches[len(e.batches)-1].last, 1) {
		return kerr.OutOfOrderSequenceNumber.Code, nil
	}
	return 0, nil
}

// trackLocked records an appended batch.
func (pp *partitionProducers) trackLocked(h producerHeader, base int64, now time.Time) {
	e := pp.entries[h.id]
	if e == nil {
		if len(pp.entries) >= maxProducersPerPart {
			pp.evictOldestLocked()
		}
		e = &producerEntry{epoch: h.epoch}
		pp.entries[h.id] = e
	}
	if h.epoch != e.epoch {
		e.epoch, e.batches = h.epoch, e.batches[:0]
	}
	if len(e.batches) == maxTrackedBatches {
		e.batches = append(e.batches[:0], e.batches[1:]...)
	}
	e.batches = append(e.batches, seqBatch{first: h.first, last: h.last, base: base, next: base + int64(h.lastDelta) + 1})
	e.lastUsed = now
}

func (pp *partitionProducers) evictOldestLocked() {
	var oldest int64
	var at time.Time
	first := true
	for id, e := range pp.entries {
		if first || e.lastUsed.Before(at) {
			oldest, at, first = id, e.lastUsed, false
		}
	}
	delete(pp.entries, oldest)
}

// initProducerID allocates a producer id, or bumps the epoch of one this
// server handed out when the client presents it with its current epoch.
func (ps *producers) initProducerID(id int64, epoch int16) (int64, int16, int16) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if id >= 0 {
		if cur, ok := ps.epochs[id]; ok {
			if cur != epoch {
				return -1, -1, kerr.InvalidProducerEpoch.Code
			}
			if epoch < math.MaxInt16-1 {
				ps.epochs[id] = epoch + 1
				return id, epoch + 1, 0
			}
		}
	}
	if len(ps.epochs) >= maxInitializedIDs {
		for k := range ps.epochs { // forget one: its producer can still produce
			delete(ps.epochs, k)
			break
		}
	}
	id = ps.nextID
	ps.nextID++
	ps.epochs[id] = 0
	return id, 0, 0
}

func handleInitProducerID(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code // transactions are not supported
		return resp
	}
	id, epoch := int64(-1), int16(-1)
	if req.Version >= 3 {
		id, epoch = req.ProducerID, req.ProducerEpoch
	}
	resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = c.s.producers.initProducerID(id, epoch)
	if resp.ErrorCode == kerr.InvalidProducerEpoch.Code && req.Version >= 4 {
		resp.ErrorCode = kerr.ProducerFenced.Code
	}
	return resp
}

// forgetTopic drops the idempotence state of a deleted topic's partitions,
// so a topic created again under its name starts without it.
func (ps *producers) forgetTopic(topic string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for k := range ps.parts {
		if k.topic == topic {
			delete(ps.parts, k)
		}
	}
}
