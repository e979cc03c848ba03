package kafka

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPipelinedProduce sends many Produce requests on one connection
// without waiting: responses come back in request order and each
// partition's batches are stored in request order.
func TestPipelinedProduce(t *testing.T) {
	ts := startServer(t, nil)
	ts.createTopic(t, "pipe", 2)
	c := dialRaw(t, ts.addr)
	const n = 3 * maxInflight
	var out []byte
	for i := range n {
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 7, -1, 5000
		if i == n/2 {
			req.Acks = 0 // no response, still in order
		}
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "pipe"
		for p := range int32(2) {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = p, testBatch(1+i%3)
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		out = append(out, kmsg.NewRequestFormatter().AppendRequest(nil, req, int32(i))...)
	}
	c.send(out)
	var next [2]int64
	for i := range n {
		if i == n/2 {
			next[0], next[1] = next[0]+int64(1+i%3), next[1]+int64(1+i%3)
			continue
		}
		body, err := c.readResponse()
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if got := int32(binary.BigEndian.Uint32(body)); got != int32(i) {
			t.Fatalf("response %d has correlation id %d", i, got)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 7
		if err := resp.ReadFrom(body[4:]); err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.BaseOffset != next[p.Partition] {
				t.Fatalf("request %d partition %d: error %d base %d, want base %d", i, p.Partition, p.ErrorCode, p.BaseOffset, next[p.Partition])
			}
			next[p.Partition] += int64(1 + i%3)
		}
	}
}
