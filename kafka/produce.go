package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Byte positions in a record batch header (segments/FORMAT.md).
const (
	batchPosLength     = 8
	batchPosMagic      = 16
	batchPosAttributes = 21
	batchPosLastOffset = 23
	batchPosCount      = 57
	batchHeaderBytes   = 61
	batchLengthAdjust  = 12 // baseOffset and batchLength precede the length's span

	attrCompression   = 0x07
	attrTransactional = 0x10
	attrControl       = 0x20
)

// produceJob is one partition's batch of a Produce request.
type produceJob struct {
	topic   string
	records []byte
	resp    *kmsg.ProduceResponseTopicPartition
	log     *segments.Log // set once the batch is written (or found a retry)
	next    int64         // the offset after the batch: wait for it to be durable
	// wait is set instead of log in a cluster: it waits for the batch's raft
	// group to commit it.
	wait    topics.ProposalWait
	timeout time.Duration // the request's timeout, for wait
}

// handleProduce writes every partition's batch before it returns, so a
// connection's batches reach each partition in request order, and leaves
// the durability wait to finish, which the connection's writer runs while
// the reader goes on with later requests.
func handleProduce(c *conn, r kmsg.Request) (kmsg.Response, func()) {
	req := r.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	var jobs []produceJob
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(t.Partitions))
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			if req.TransactionID != nil {
				rp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
				continue
			}
			jobs = append(jobs, produceJob{topic: t.Topic, records: p.Records, resp: rp,
				timeout: time.Duration(max(req.TimeoutMillis, 1000)) * time.Millisecond})
		}
	}
	for i := range jobs {
		c.startProduce(&jobs[i])
	}
	finish := func() { waitProduced(c, jobs) }
	if req.Acks == 0 {
		return nil, finish
	}
	return resp, finish
}

// waitProduced waits until every written batch is durable; partitions wait
// concurrently so that their fsyncs share rounds.
func waitProduced(c *conn, jobs []produceJob) {
	var wg sync.WaitGroup
	for i := range jobs {
		j := &jobs[i]
		if j.wait != nil {
			wg.Go(func() { waitCommitted(c, j) })
			continue
		}
		if j.log == nil {
			continue
		}
		wg.Go(func() {
			if err := j.log.WaitDurable(j.next); err != nil {
				j.resp.BaseOffset = -1
				j.resp.ErrorCode = c.errorCode(err, "produce", j.topic, j.resp.Partition)
			}
		})
	}
	wg.Wait()
}

// waitCommitted waits for a replicated batch and answers its base offset.
func waitCommitted(c *conn, j *produceJob) {
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	base, _, err := j.wait(ctx)
	if err != nil {
		j.resp.BaseOffset = -1
		j.resp.ErrorCode = c.errorCode(err, "produce", j.topic, j.resp.Partition)
		return
	}
	j.resp.BaseOffset = base
}

// produce writes one partition's batch and waits until it is durable.
func (c *conn) produce(j *produceJob) {
	c.startProduce(j)
	waitProduced(c, []produceJob{*j})
}

// startProduce checks and writes one partition's batch; on success j.log
// and j.next say what to wait for.
func (c *conn) startProduce(j *produceJob) {
	if r := c.s.store.Replicator(); r != nil {
		c.startReplicated(j, r)
		return
	}
	log, err := c.s.partition(j.topic, j.resp.Partition)
	if err != nil {
		j.resp.ErrorCode = c.errorCode(err, "produce", j.topic, j.resp.Partition)
		return
	}
	j.resp.LogStartOffset = log.StartOffset()
	if code, msg := validateProduceBatch(j.records); code != 0 {
		j.resp.ErrorCode, j.resp.ErrorMessage = code, &msg
		return
	}
	h := batchProducer(j.records)
	if h.id < 0 {
		c.writeBatch(j, log)
		return
	}
	pp := c.s.producers.partition(partitionKey{j.topic, j.resp.Partition}, log)
	pp.mu.Lock()
	defer pp.mu.Unlock()
	code, dup := pp.checkLocked(h)
	switch {
	case code != 0:
		j.resp.ErrorCode = code
	case dup != nil:
		// A retry of a batch already written: answer its offset once it is
		// durable, append nothing.
		j.resp.BaseOffset, j.log, j.next = dup.base, log, dup.next
	default:
		if c.writeBatch(j, log) {
			pp.trackLocked(h, j.resp.BaseOffset, time.Now())
		}
	}
}

// startReplicated proposes j's batch to its partition's raft group. In a
// cluster, producer IDs are not tracked: a retried batch may be written
// twice (at-least-once, as with a non-idempotent producer).
func (c *conn) startReplicated(j *produceJob, r topics.Replicator) {
	if code, msg := validateProduceBatch(j.records); code != 0 {
		j.resp.ErrorCode, j.resp.ErrorMessage = code, &msg
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	wait, err := r.Propose(ctx, c.s.cfg.Tenant, j.topic, int(j.resp.Partition), j.records)
	if err != nil {
		j.resp.ErrorCode = c.errorCode(err, "produce", j.topic, j.resp.Partition)
		return
	}
	j.wait = wait
}

// writeBatch writes j's batch to log.
func (c *conn) writeBatch(j *produceJob, log *segments.Log) bool {
	base, next, err := log.StartAppendBatch(j.records, 0)
	if err != nil {
		j.resp.ErrorCode = c.errorCode(err, "produce", j.topic, j.resp.Partition)
		if errors.Is(err, segments.ErrInvalidBatch) {
			msg := err.Error()
			j.resp.ErrorMessage = &msg
		}
		return false
	}
	j.resp.BaseOffset, j.log, j.next = base, log, next
	return true
}

// validateProduceBatch checks what AppendBatch does not: a Produce partition
// carries exactly one v2 batch (as Kafka requires since message format 2),
// written by a plain producer, and a compressed batch decompresses to exactly
// its records.
func validateProduceBatch(b []byte) (int16, string) {
	switch {
	case len(b) < batchHeaderBytes:
		return kerr.CorruptMessage.Code, fmt.Sprintf("record batch of %d bytes is shorter than its %d-byte header", len(b), batchHeaderBytes)
	case b[batchPosMagic] != 2:
		return kerr.UnsupportedForMessageFormat.Code, fmt.Sprintf("message format v%d: only record batches (v2) are accepted", b[batchPosMagic])
	case int64(int32(binary.BigEndian.Uint32(b[batchPosLength:])))+batchLengthAdjust != int64(len(b)):
		return kerr.InvalidRecord.Code, "a produce request carries exactly one record batch per partition"
	}
	attrs := binary.BigEndian.Uint16(b[batchPosAttributes:])
	if attrs&(attrTransactional|attrControl) != 0 {
		return kerr.InvalidRecord.Code, "transactional and control batches are not supported"
	}
	if attrs&attrCompression == 0 {
		return 0, "" // AppendBatch checks uncompressed records
	}
	if err := checkCompressedRecords(b); err != nil {
		return kerr.CorruptMessage.Code, err.Error()
	}
	return 0, ""
}

// errorCode maps a storage error to a partition error code, logging the
// unexpected ones.
func (c *conn) errorCode(err error, op, topic string, partition int32) int16 {
	switch {
	case errors.Is(err, topics.ErrTopicNotFound), errors.Is(err, topics.ErrPartitionNotFound),
		errors.Is(err, topics.ErrInvalidTopicName):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, segments.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, segments.ErrInvalidBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, topics.ErrNotRunning), errors.Is(err, segments.ErrClosed):
		return kerr.NotLeaderForPartition.Code
	}
	c.s.warn.Do(func() {
		c.logger.Error("kafka "+op+" failed", "tenant", c.s.cfg.Tenant, "topic", topic, "partition", partition, "err", err)
	})
	return kerr.KafkaStorageError.Code
}
