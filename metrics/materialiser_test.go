package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments/topics"
)

// replayFixture pushes 10 minutes of 12 counters and a gauge (4 samples per
// record, one request per 20 s), plus samples the TSDB must refuse: out of
// order, a changed value at a seen timestamp, and one far too old.
func replayFixture(e *env, base time.Time) {
	for step := 0; step < 30; step++ {
		var ss []series
		for k := 0; k < 12; k++ {
			s := series{labels: lbls("__name__", "req_total", "job", fmt.Sprintf("j%d", k%3), "instance", fmt.Sprintf("i%d", k))}
			for i := 0; i < 4; i++ {
				n := step*4 + i
				s.samples = append(s.samples, ingest.MetricSample{T: base.Add(time.Duration(n) * 5 * time.Second).UnixMilli(), V: float64(n * (k + 1))})
			}
			ss = append(ss, s)
		}
		t := base.Add(time.Duration(step) * 20 * time.Second).UnixMilli()
		ss = append(ss, series{labels: lbls("__name__", "temp", "room", "a"), samples: []ingest.MetricSample{{T: t, V: float64(step % 7)}}})
		e.push(ss...)
		if step == 10 {
			e.push(series{labels: lbls("__name__", "temp", "room", "a"), samples: []ingest.MetricSample{
				{T: t - 60_000, V: 99}, // out of order
				{T: t, V: 123},         // duplicate timestamp, other value
			}})
			e.push(series{labels: lbls("__name__", "temp", "room", "b"), samples: []ingest.MetricSample{{T: base.Add(-time.Hour).UnixMilli(), V: 1}}})
		}
	}
}

var replayQueries = []string{
	`sum by (job) (rate(req_total[1m]))`,
	`req_total`,
	`temp`,
	`count(req_total) by (job)`,
}

// TestReplayIdempotent: a materialiser restarted from its checkpoint, and
// one replaying the partition from offset 0 into a fresh TSDB, answer every
// query exactly as the one that materialised the data as it arrived.
func TestReplayIdempotent(t *testing.T) {
	defer func(n int) { runRecords = n }(runRecords)
	runRecords = 4 // short runs, so the checkpoint's resume offset moves
	e := newEnv(t, func(c *Config) { c.BlockDuration = time.Minute })
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	start, end := base, base.Add(10*time.Minute)

	m1 := e.start()
	replayFixture(e, base)
	want := map[string]string{}
	for _, q := range replayQueries {
		want[q] = rangeJSON(t, m1, q, start, end, 15*time.Second)
	}
	if n := testutil.ToFloat64(m1.metrics.skipped.WithLabelValues("out_of_order")); n < 1 {
		t.Errorf("out-of-order samples skipped: %v, want >= 1", n)
	}
	if n := testutil.ToFloat64(m1.metrics.skipped.WithLabelValues("duplicate")); n != 1 {
		t.Errorf("duplicate samples skipped: %v, want 1", n)
	}
	if n := testutil.ToFloat64(m1.metrics.skipped.WithLabelValues("too_old")); n < 1 {
		t.Errorf("too old samples skipped: %v, want >= 1", n)
	}
	stop(t, m1)

	// Some partition has blocks and a checkpoint past offset 0.
	resumed := false
	for p := 0; p < 4; p++ {
		log, err := e.store.Partition(testTenant, topics.TopicMetrics, p)
		if err != nil {
			t.Fatal(err)
		}
		ck, ok, err := readCheckpoint(filepath.Join(log.Dir(), MaterialiserDir))
		if err != nil {
			t.Fatal(err)
		}
		resumed = resumed || ok && ck.Resume > 0
	}
	if !resumed {
		t.Fatal("no partition has a checkpoint past offset 0: compaction did not run")
	}

	check := func(name string, m *Materialiser) {
		t.Helper()
		for _, q := range replayQueries {
			if got := rangeJSON(t, m, q, start, end, 15*time.Second); got != want[q] {
				t.Errorf("%s: %s:\n got %.600s\nwant %.600s", name, q, got, want[q])
			}
		}
	}
	m2 := e.start()
	check("restart from checkpoint", m2)
	stop(t, m2)

	for p := 0; p < 4; p++ {
		log, _ := e.store.Partition(testTenant, topics.TopicMetrics, p)
		if err := os.RemoveAll(filepath.Join(log.Dir(), MaterialiserDir)); err != nil {
			t.Fatal(err)
		}
	}
	m3 := e.start()
	check("replay from offset 0 into a fresh TSDB", m3)
}

// TestCheckpointLostBlocks: a checkpoint that counts on blocks that are gone
// is not trusted; the partition is replayed from its start.
func TestCheckpointLostBlocks(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BlockDuration = time.Minute })
	base := time.Now().Add(-2 * time.Hour).Truncate(time.Minute)
	replayFixture(e, base)
	m1 := e.start()
	want := rangeJSON(t, m1, "req_total", base, base.Add(10*time.Minute), time.Minute)
	stop(t, m1)
	for p := 0; p < 4; p++ {
		log, _ := e.store.Partition(testTenant, topics.TopicMetrics, p)
		dir := filepath.Join(log.Dir(), MaterialiserDir)
		if err := os.RemoveAll(filepath.Join(dir, tsdbDir)); err != nil {
			t.Fatal(err)
		}
		if err := writeCheckpoint(dir, checkpoint{Resume: 1 << 40, BlocksMax: base.UnixMilli()}); err != nil {
			t.Fatal(err)
		}
	}
	m2 := e.start()
	if got := rangeJSON(t, m2, "req_total", base, base.Add(10*time.Minute), time.Minute); got != want {
		t.Errorf("after losing blocks:\n got %.400s\nwant %.400s", got, want)
	}
}

func TestStrongReadSeesEveryWrite(t *testing.T) {
	e := newEnv(t)
	m := e.start()
	now := time.Now().Truncate(time.Second)
	for i := 0; i < 20; i++ {
		e.push(series{labels: lbls("__name__", "writes", "i", fmt.Sprint(i)), samples: []ingest.MetricSample{{T: now.UnixMilli(), V: float64(i)}}})
		got := rangeJSON(t, m, "count(writes)", now, now, time.Second)
		if want := fmt.Sprintf(`[{"metric":{},"values":[[%d,"%d"]]}]`, now.Unix(), i+1); got != want {
			t.Fatalf("after write %d: %s, want %s", i, got, want)
		}
	}
}

func TestLagAccounting(t *testing.T) {
	p := &partition{}
	t0 := time.Unix(1000, 0)
	p.sampleLag(10, t0)
	p.sampleLag(10, t0.Add(time.Second)) // no growth: no sample
	p.sampleLag(25, t0.Add(2*time.Second))
	if len(p.lags) != 2 {
		t.Fatalf("lag samples %v", p.lags)
	}
	p.lagRecords, p.lagSeconds = nopGauge(), nopGauge()
	p.applied.Store(12)
	p.reportLag(25, t0.Add(5*time.Second))
	if since := time.Unix(0, p.lagSince.Load()); !since.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("oldest unapplied offset first seen at %v, want %v", since, t0.Add(2*time.Second))
	}
	p.applied.Store(25)
	p.reportLag(25, t0.Add(6*time.Second))
	if p.lagSince.Load() != 0 || len(p.lags) != 0 {
		t.Errorf("caught up but lagSince %d, samples %v", p.lagSince.Load(), p.lags)
	}
}

// TestSeriesBackAfterHeadTruncation: a series that stops, is truncated out of
// the head by compaction (its cached TSDB reference is then stale), and comes
// back gets its new samples, next to its old ones in a block.
func TestSeriesBackAfterHeadTruncation(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.BlockDuration = time.Minute })
	m := e.start()
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	at := func(s int) []ingest.MetricSample {
		return []ingest.MetricSample{{T: base.Add(time.Duration(s) * time.Second).UnixMilli(), V: float64(s)}}
	}
	// Both series in one partition, so that its head moves on without gone.
	gone, stays := lbls("__name__", "comeback", "k", "gone"), ingest.Labels(nil)
	part := topics.KeyPartition([]byte(gone.String()), 4)
	for i := 0; stays == nil || topics.KeyPartition([]byte(stays.String()), 4) != part; i++ {
		stays = lbls("__name__", "comeback", "k", fmt.Sprint("stays", i))
	}
	e.push(series{labels: gone, samples: at(0)})
	for s := 0; s <= 300; s += 10 {
		e.push(series{labels: stays, samples: at(s)})
	}
	_ = rangeJSON(t, m, "comeback", base, base, time.Second) // strong: every push is applied
	// Wait until the head was truncated past gone's sample.
	truncated := func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		p := m.parts[partKey{testTenant, part}]
		return p != nil && p.db.Head().MinTime() > base.UnixMilli()
	}
	for deadline := time.Now().Add(10 * time.Second); !truncated(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the head was not truncated")
		}
	}
	e.push(series{labels: gone, samples: at(310)})
	got := rangeJSON(t, m, `comeback{k="gone"}`, base, base.Add(310*time.Second), 310*time.Second)
	want := fmt.Sprintf(`[{"metric":{"__name__":"comeback","k":"gone"},"values":[[%d,"0"],[%d,"310"]]}]`, base.Unix(), base.Unix()+310)
	if got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if n := testutil.ToFloat64(m.metrics.invalid) + testutil.ToFloat64(m.metrics.skipped.WithLabelValues("invalid")); n != 0 {
		t.Errorf("%v samples refused as invalid", n)
	}
}
