package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments/topics"
)

// BenchmarkMaterialise applies one partition's share of `silt bench -series
// 100000` (25,000 counters of four labels, 20 rounds of one sample each) to a
// fresh TSDB: what the materialiser costs per sample, series creation
// included. BenchmarkTSDBAppend is its floor.
func BenchmarkMaterialise(b *testing.B) {
	e := newEnv(b)
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	const rounds = 20
	for r := range rounds {
		for lo := 0; lo < 100_000; lo += 2000 {
			var ss []series
			for k := lo; k < lo+2000; k++ {
				ss = append(ss, series{labels: benchLabels(k),
					samples: []ingest.MetricSample{{T: base.Add(time.Duration(r) * 15 * time.Second).UnixMilli(), V: float64(r * k)}}})
			}
			e.push(ss...)
		}
	}
	log, err := e.store.Partition(testTenant, topics.TopicMetrics, 0)
	if err != nil {
		b.Fatal(err)
	}
	ctx, m, meta := context.Background(), newMaterialiserMetrics(nil), newMetadataStore()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := os.RemoveAll(filepath.Join(log.Dir(), MaterialiserDir)); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		p, err := openPartition(partKey{testTenant, 0}, log, e.cfg, slog.New(slog.DiscardHandler), m, meta)
		if err != nil {
			b.Fatal(err)
		}
		for p.applied.Load() < log.NextOffset() {
			if err := p.step(ctx, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*float64(log.NextOffset())/b.Elapsed().Seconds(), "samples/s")
}

func benchLabels(k int) ingest.Labels {
	return lbls("__name__", "silt_bench_requests_total", "instance", fmt.Sprintf("inst-%d", k/100),
		"job", fmt.Sprintf("job-%d", k%10), "series", fmt.Sprint(k))
}
