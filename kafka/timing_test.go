package kafka

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkKgoProduceConsume produces b.N 100-byte records with kgo (acks=all,
// 16 KB lz4 batches) to one partition, then consumes them back.
func BenchmarkKgoProduceConsume(b *testing.B) {
	ts := startServer(b, nil)
	ts.createTopic(b, "bench", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := bytes.Repeat([]byte("x"), 100)
	prod := newClient(b, ts.addr, kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.ProducerBatchMaxBytes(16<<10), kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(5*time.Millisecond))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	produced := time.Since(start)
	cons := newClient(b, ts.addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"bench": {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(50<<20))
	start = time.Now()
	for n := 0; n < b.N; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			b.Fatal(err)
		}
		n += fs.NumRecords()
	}
	consumed := time.Since(start)
	b.StopTimer()
	mb := float64(b.N*len(value)) / 1e6
	b.ReportMetric(float64(b.N)/produced.Seconds(), "produce-records/s")
	b.ReportMetric(mb/produced.Seconds(), "produce-MB/s")
	b.ReportMetric(float64(b.N)/consumed.Seconds(), "consume-records/s")
	b.ReportMetric(mb/consumed.Seconds(), "consume-MB/s")
}
