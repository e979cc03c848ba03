package kafka

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClient(tb testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	opts = append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MetadataMinAge(100 * time.Millisecond),
	}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

func testRecords(topic string, n int) []*kgo.Record {
	base := time.UnixMilli(1_700_000_000_000)
	out := make([]*kgo.Record, n)
	for i := range out {
		out[i] = &kgo.Record{
			Topic:     topic,
			Partition: int32(i % 2),
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     bytes.Repeat(fmt.Appendf(nil, "value %d ", i), 1+i%5),
			Headers:   []kgo.RecordHeader{{Key: "h", Value: []byte("v")}},
			Timestamp: base.Add(time.Duration(i) * time.Second),
		}
	}
	return out
}

func TestKgoProduceConsume(t *testing.T) {
	ts := startServer(t, nil)
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		attr  byte
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, tc := range codecs {
		t.Run(tc.name, func(t *testing.T) {
			topic := "kgo-" + tc.name
			ts.createTopic(t, topic, 2)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			prod := newClient(t, ts.addr, kgo.ProducerBatchCompression(tc.codec), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			want := testRecords(topic, 200)
			if err := prod.ProduceSync(ctx, want...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			for p := range 2 {
				for _, b := range ts.storedBatches(t, topic, p) {
					if got := b[batchPosAttributes+1] & attrCompression; got != tc.attr {
						t.Fatalf("stored batch codec %d, want %d", got, tc.attr)
					}
				}
			}
			cons := newClient(t, ts.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
				topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()},
			}))
			got := map[int32][]*kgo.Record{}
			for n := 0; n < len(want); {
				fs := cons.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					t.Fatalf("fetch: %v", err)
				}
				fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], r); n++ })
			}
			for i, w := range want {
				r := got[w.Partition][i/2]
				if r.Offset != int64(i/2) || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) ||
					!r.Timestamp.Equal(w.Timestamp) || len(r.Headers) != 1 || string(r.Headers[0].Value) != "v" {
					t.Fatalf("record %d: got offset %d key %q value %q ts %v, want key %q value %q ts %v",
						i, r.Offset, r.Key, r.Value, r.Timestamp, w.Key, w.Value, w.Timestamp)
				}
			}
		})
	}
}

func TestKgoListOffsets(t *testing.T) {
	ts := startServer(t, nil)
	ts.createTopic(t, "lo", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, ts.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := testRecords("lo", 20) // 10 per partition, one second apart per record
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ms := func(i int) int64 { return recs[i].Timestamp.UnixMilli() }
	cases := []struct {
		name      string
		timestamp int64
		want      int64
	}{
		{"earliest", -2, 0},
		{"latest", -1, 10},
		{"max timestamp", -3, 9},
		{"by exact time", ms(6), 3},   // records 0,2,4,6 are offsets 0..3 of partition 0
		{"between records", ms(5), 3}, // the first record at or after it
		{"before all", 0, 0},
		{"after all", ms(19) + 1, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "lo"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp, rp.MaxNumOffsets = 0, tc.timestamp, 1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || p.Offset != tc.want {
				t.Fatalf("error code %d offset %d, want offset %d", p.ErrorCode, p.Offset, tc.want)
			}
		})
	}
}

func TestKgoTopicsAndErrors(t *testing.T) {
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, ts.addr)
	create := kmsg.NewPtrCreateTopicsRequest()
	for _, tc := range []struct {
		name       string
		partitions int32
		rf         int16
	}{{"created", 3, 1}, {"bad/name", 1, 1}, {"zero", 0, 1}, {"rf3", 1, 3}, {"default", -1, -1}} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = tc.name, tc.partitions, tc.rf
		create.Topics = append(create.Topics, rt)
	}
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	wantCodes := map[string]int16{"created": 0, "bad/name": 17, "zero": 37, "rf3": 38, "default": 0}
	for _, rt := range cresp.Topics {
		if rt.ErrorCode != wantCodes[rt.Topic] {
			t.Errorf("create %q: error code %d, want %d", rt.Topic, rt.ErrorCode, wantCodes[rt.Topic])
		}
	}
	again, err := create.RequestWith(ctx, cl)
	if err != nil || again.Topics[0].ErrorCode != 36 {
		t.Fatalf("create again: %v, want TOPIC_ALREADY_EXISTS", err)
	}

	meta := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"created", "missing"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		meta.Topics = append(meta.Topics, mt)
	}
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(mresp.Brokers) != 1 || mresp.Brokers[0].Host != "127.0.0.1" ||
		len(mresp.Topics[0].Partitions) != 3 || mresp.Topics[1].ErrorCode != 3 {
		t.Fatalf("metadata: brokers %+v, topics %+v", mresp.Brokers, mresp.Topics)
	}

	// Producing to a missing partition fails per partition; nothing is stored.
	prod := newClient(t, ts.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(time.Second))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "created", Partition: 7, Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("produce to partition 7 of a 3-partition topic succeeded")
	}

	// Fetching past the end is OFFSET_OUT_OF_RANGE.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.MaxBytes, fetch.SessionEpoch = 11, 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "created"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = 5, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fresp, err := fetch.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := fresp.Topics[0].Partitions[0].ErrorCode; code != 1 {
		t.Fatalf("fetch past the end: error code %d, want OFFSET_OUT_OF_RANGE (1)", code)
	}
}

func TestFetchLongPoll(t *testing.T) {
	ts := startServer(t, nil)
	ts.createTopic(t, "poll", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, ts.addr)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.MaxBytes, fetch.MinBytes, fetch.MaxWaitMillis, fetch.SessionEpoch = 12, 1<<20, 1, 10_000, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "poll"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	start := time.Now()
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = ts.log(t, "poll", 0).AppendBatch(testBatch(2), 0)
	}()
	resp, err := fetch.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if took := time.Since(start); p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 2 || took > 5*time.Second {
		t.Fatalf("long poll: error %d, %d bytes, high watermark %d after %v", p.ErrorCode, len(p.RecordBatches), p.HighWatermark, took)
	}
	// With nothing new, the poll waits MaxWaitMillis and returns empty.
	fetch.MaxWaitMillis = 300
	fetch.Topics[0].Partitions[0].FetchOffset = 2
	start = time.Now()
	if resp, err = fetch.RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); len(resp.Topics[0].Partitions[0].RecordBatches) != 0 || took < 250*time.Millisecond {
		t.Fatalf("empty poll returned %d bytes after %v", len(resp.Topics[0].Partitions[0].RecordBatches), took)
	}
}
