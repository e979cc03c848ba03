package ingest

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/prometheus/prompb"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// rwBenchSeries is the shape of `silt bench -protocol remote_write -series`:
// one sample each of 2,000 counters with four labels.
const rwBenchSeries = 2000

func rwBenchRequest(tb testing.TB, t int64) []byte {
	tb.Helper()
	wr := prompb.WriteRequest{}
	for k := range rwBenchSeries {
		wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{
				{Name: "__name__", Value: "silt_bench_requests_total"},
				{Name: "instance", Value: fmt.Sprintf("inst-%d", k/100)},
				{Name: "job", Value: fmt.Sprintf("job-%d", k%10)},
				{Name: "series", Value: fmt.Sprint(k)},
			},
			Samples: []prompb.Sample{{Timestamp: t, Value: float64(k)}},
		})
	}
	raw, err := wr.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// BenchmarkRemoteWriteDecode is the decoding of one uncompressed request
// into streams (no distributor). Its floor is gogo's Unmarshal of the same
// request into a pooled prompb.WriteRequest, in BenchmarkRemoteWriteUnmarshal.
func BenchmarkRemoteWriteDecode(b *testing.B) {
	raw := rwBenchRequest(b, time.Now().UnixMilli())
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		req, err := decodeRemoteWrite(raw, rwSamplesPerValue(256<<10))
		if err != nil {
			b.Fatal(err)
		}
		req.done() // as the handler does once it answered
	}
	b.ReportMetric(float64(b.N*rwBenchSeries)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkRemoteWritePush is decoding plus the distributor (validation,
// record keys, partitioning, log append) into a store whose logs fsync in the
// background: the server's CPU per request without HTTP and snappy.
func BenchmarkRemoteWritePush(b *testing.B) {
	var tcfg topics.Config
	var cfg Config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	tcfg.RegisterFlags(fs)
	cfg.RegisterFlags(fs)
	cfg.Limits.IngestionRateMB = 0
	scfg := segments.DefaultConfig()
	scfg.FsyncInterval = time.Second
	store := topics.NewStore(b.TempDir(), tcfg, scfg, slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), store); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), store) })
	d := NewDistributor(cfg, store, NewMetrics(nil), func(*http.Request) (string, error) { return DefaultTenant, nil })
	t := time.Now().Add(-time.Hour).UnixMilli()
	raw := rwBenchRequest(b, t)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		req, err := decodeRemoteWrite(raw, rwSamplesPerValue(cfg.Limits.MaxLineSize))
		if err != nil {
			b.Fatal(err)
		}
		req.Tenant, req.Protocol = DefaultTenant, "remote_write"
		if err := d.Push(ctx, req); err != nil {
			b.Fatal(err)
		}
		req.done()
	}
	b.ReportMetric(float64(b.N*rwBenchSeries)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkRemoteWriteUnmarshal is gogo's prompb.WriteRequest.Unmarshal of
// the request of BenchmarkRemoteWriteDecode, reusing the WriteRequest as
// Prometheus' receiver does: what decoding costs without silt's zero-copy
// decoder.
func BenchmarkRemoteWriteUnmarshal(b *testing.B) {
	raw := rwBenchRequest(b, time.Now().UnixMilli())
	var wr prompb.WriteRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		wr.Timeseries = wr.Timeseries[:0]
		if err := wr.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rwBenchSeries)/b.Elapsed().Seconds(), "samples/s")
}
