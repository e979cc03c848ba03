package kafka

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments"
)

// Special ListOffsets timestamps.
const (
	timestampLatest   = -1
	timestampEarliest = -2
	timestampMax      = -3
)

const (
	batchPosFirstTimestamp = 27
	batchPosMaxTimestamp   = 35
)

func handleListOffsets(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(t.Partitions))
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			c.listOffset(t.Topic, p.Timestamp, rp)
			if req.Version == 0 && rp.ErrorCode == 0 && p.MaxNumOffsets > 0 {
				rp.OldStyleOffsets = []int64{rp.Offset}
			}
		}
	}
	return resp
}

// listOffset resolves one partition's timestamp to an offset. A timestamp
// with no record at or after it answers offset -1, as Kafka does.
func (c *conn) listOffset(topic string, ts int64, rp *kmsg.ListOffsetsResponseTopicPartition) {
	log, err := c.s.partition(topic, rp.Partition)
	if err != nil {
		rp.ErrorCode = c.errorCode(err, "list offsets", topic, rp.Partition)
		return
	}
	rp.LeaderEpoch = 0
	rp.Timestamp = -1
	switch {
	case ts == timestampEarliest:
		rp.Offset = log.StartOffset()
	case ts == timestampLatest:
		rp.Offset = log.NextOffset()
	case ts == timestampMax:
		rp.Offset, rp.Timestamp = lastRecord(log)
	case ts >= 0:
		off, err := log.OffsetForTime(ts * 1e6)
		if err != nil {
			rp.ErrorCode = c.errorCode(err, "list offsets", topic, rp.Partition)
			return
		}
		rp.Offset = refineInBatch(log, off, ts)
		if off == log.NextOffset() {
			rp.Offset = -1
		}
	default:
		rp.ErrorCode = kerr.InvalidRequest.Code
	}
}

// lastRecord answers the max-timestamp query with the newest record and its
// batch's max timestamp: silt logs take timestamps as sent, so the newest
// record stands in for the one with the largest timestamp.
func lastRecord(log *segments.Log) (int64, int64) {
	last := log.NextOffset() - 1
	if last < log.StartOffset() {
		return -1, -1
	}
	b, err := log.ReadBatches(nil, last, 1)
	if err != nil || len(b) < batchHeaderBytes {
		return last, -1
	}
	return last, int64(binary.BigEndian.Uint64(b[batchPosMaxTimestamp:]))
}

// refineInBatch narrows off, the base of a compressed batch (which the log
// cannot look inside), to its first record at or after ms.
func refineInBatch(log *segments.Log, off, ms int64) int64 {
	b, err := log.ReadBatches(nil, off, 1)
	if err != nil || len(b) < batchHeaderBytes || int64(binary.BigEndian.Uint64(b)) != off ||
		binary.BigEndian.Uint16(b[batchPosAttributes:])&attrCompression == 0 {
		return off
	}
	b = b[:min(len(b), int(int32(binary.BigEndian.Uint32(b[batchPosLength:])))+batchLengthAdjust)]
	codec := kgo.CompressionCodecType(binary.BigEndian.Uint16(b[batchPosAttributes:]) & attrCompression)
	raw, err := decompressor.Decompress(b[batchHeaderBytes:], codec)
	if err != nil {
		return off
	}
	first := int64(binary.BigEndian.Uint64(b[batchPosFirstTimestamp:]))
	var rec kmsg.Record
	for len(raw) > 0 {
		n, w := binary.Varint(raw)
		if w <= 0 || n < 0 || n > int64(len(raw)-w) || rec.ReadFrom(raw[:w+int(n)]) != nil {
			return off
		}
		if first+rec.TimestampDelta64 >= ms {
			return off + int64(rec.OffsetDelta)
		}
		raw = raw[w+int(n):]
	}
	return off
}
