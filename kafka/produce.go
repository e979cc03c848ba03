package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

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
}

func handleProduce(c *conn, r kmsg.Request) kmsg.Response {
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
			jobs = append(jobs, produceJob{topic: t.Topic, records: p.Records, resp: rp})
		}
	}
	// Partitions append concurrently so that their fsyncs share rounds.
	var wg sync.WaitGroup
	for i := range jobs {
		if i == len(jobs)-1 {
			c.produce(&jobs[i])
			break
		}
		wg.Go(func() { c.produce(&jobs[i]) })
	}
	wg.Wait()
	if req.Acks == 0 {
		return nil
	}
	return resp
}

// produce appends one partition's batch; it returns once the batch is durable.
func (c *conn) produce(j *produceJob) {
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
	base, err := log.AppendBatch(j.records, 0)
	if err != nil {
		j.resp.ErrorCode = c.errorCode(err, "produce", j.topic, j.resp.Partition)
		if errors.Is(err, segments.ErrInvalidBatch) {
			msg := err.Error()
			j.resp.ErrorMessage = &msg
		}
		return
	}
	j.resp.BaseOffset = base
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
