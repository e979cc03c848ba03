package kafka

import (
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments"
)

// maxFetchWait caps a client's MaxWaitMillis, so a fetch never holds its
// connection for long.
const maxFetchWait = 30 * time.Second

// noRecords encodes as an empty records field: nil would encode as null,
// which librdkafka refuses.
var noRecords = []byte{}

// handleFetch answers a Fetch, long-polling until MinBytes are available,
// MaxWaitMillis pass or the server stops. Records are the stored batch bytes.
// Fetch sessions are not offered: the response's session id is 0, so clients
// send full fetches.
func handleFetch(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.FetchRequest)
	if req.Version >= 7 && (req.SessionID != 0 || req.SessionEpoch > 0) {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, maxFetchWait)
	var timer *time.Timer
	for {
		resp, n, changed := c.readFetch(req)
		if n >= int(req.MinBytes) || wait <= 0 || fetchHasError(resp) {
			return resp
		}
		if timer == nil {
			timer = time.NewTimer(wait)
			defer timer.Stop()
		}
		if !waitAny(changed, timer.C, c.s.done) {
			return resp
		}
	}
}

// readFetch reads every requested partition once and returns the response,
// its record bytes, and channels closed when any of the logs grows.
func (c *conn) readFetch(req *kmsg.FetchRequest) (*kmsg.FetchResponse, int, []<-chan struct{}) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	budget := int(req.MaxBytes)
	if budget <= 0 {
		budget = c.s.cfg.MaxRequestBytes
	}
	total := 0
	var changed []<-chan struct{}
	resp.Topics = make([]kmsg.FetchResponseTopic, len(req.Topics))
	for i, t := range req.Topics {
		rt := &resp.Topics[i]
		*rt = kmsg.NewFetchResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.FetchResponseTopicPartition, len(t.Partitions))
		for j, p := range t.Partitions {
			rp := &rt.Partitions[j]
			*rp = kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.RecordBatches = noRecords
			limit := min(int(p.PartitionMaxBytes), budget-total)
			if ch := c.fetchPartition(t.Topic, &p, rp, total == 0, limit); ch != nil {
				changed = append(changed, ch)
			}
			total += len(rp.RecordBatches)
		}
	}
	return resp, total, changed
}

// fetchPartition fills rp; it returns the log's change channel, taken before
// the read so that no append between the read and the wait is missed. first
// says no records are in the response yet: then at least one batch is
// returned whatever the limits, as Kafka does, so a large batch cannot stall
// a consumer.
func (c *conn) fetchPartition(topic string, p *kmsg.FetchRequestTopicPartition, rp *kmsg.FetchResponseTopicPartition, first bool, limit int) <-chan struct{} {
	log, err := c.s.partition(topic, p.Partition)
	if err != nil {
		rp.ErrorCode = c.errorCode(err, "fetch", topic, p.Partition)
		return nil
	}
	changed := log.Changed()
	rp.LogStartOffset = log.StartOffset()
	if p.FetchOffset < rp.LogStartOffset {
		return fetchOutOfRange(rp, log)
	}
	if limit > 0 || first {
		b, err := log.ReadBatches(nil, p.FetchOffset, max(limit, 1))
		if err == nil && len(b) > 0 {
			rp.RecordBatches = b
		} else if err != nil {
			rp.RecordBatches = noRecords
			rp.ErrorCode = c.errorCode(err, "fetch", topic, p.Partition)
		}
	}
	// The high watermark is read after the records, so it covers them all.
	rp.HighWatermark = log.NextOffset()
	rp.LastStableOffset = rp.HighWatermark
	if p.FetchOffset > rp.HighWatermark {
		return fetchOutOfRange(rp, log)
	}
	return changed
}

func fetchOutOfRange(rp *kmsg.FetchResponseTopicPartition, log *segments.Log) <-chan struct{} {
	rp.ErrorCode = kerr.OffsetOutOfRange.Code
	rp.RecordBatches = noRecords
	rp.HighWatermark = log.NextOffset()
	rp.LastStableOffset = rp.HighWatermark
	rp.LogStartOffset = log.StartOffset()
	return nil
}

func fetchHasError(resp *kmsg.FetchResponse) bool {
	if resp.ErrorCode != 0 {
		return true
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return true
			}
		}
	}
	return false
}

// waitAny blocks until one of changed is closed (true), or timeout or done
// fires (false).
func waitAny(changed []<-chan struct{}, timeout <-chan time.Time, done <-chan struct{}) bool {
	if len(changed) == 1 {
		select {
		case <-changed[0]:
			return true
		case <-timeout:
		case <-done:
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(changed)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timeout)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(done)})
	for _, ch := range changed {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}
