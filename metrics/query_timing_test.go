package metrics

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/siltlog/silt/segments/topics"
)

// queryDataset writes n counters with the labels of `silt bench -series`,
// one sample every 15 s for span, into the heads of parts TSDBs (each series
// in the partition its record key picks), as the materialiser would. It
// returns the TSDBs and the time of the last sample.
func queryDataset(tb testing.TB, n, parts int, span time.Duration) ([]*tsdb.DB, time.Time) {
	tb.Helper()
	cfg := testConfig()
	dbs := make([]*tsdb.DB, parts)
	for p := range dbs {
		db, err := tsdb.Open(filepath.Join(tb.TempDir(), "tsdb"), slog.New(slog.DiscardHandler), nil, tsdbOptions(cfg), nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = db.Close() })
		dbs[p] = db
	}
	type ser struct {
		db   int
		lset labels.Labels
		ref  storage.SeriesRef
	}
	all := make([]ser, n)
	for k := range all {
		key := benchLabels(k).String()
		lset, _ := seriesLabels([]byte(key))
		all[k] = ser{db: topics.KeyPartition([]byte(key), parts), lset: lset}
	}
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-span)
	for t, round := start, 0; !t.After(end); t, round = t.Add(15*time.Second), round+1 {
		apps := make([]storage.Appender, parts)
		for p, db := range dbs {
			apps[p] = db.Appender(context.Background())
		}
		for k := range all {
			s := &all[k]
			ref, err := apps[s.db].Append(s.ref, s.lset, t.UnixMilli(), float64(round*(k%7+1)))
			if err != nil {
				tb.Fatal(err)
			}
			s.ref = ref
		}
		for _, app := range apps {
			if err := app.Commit(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return dbs, end
}

// BenchmarkQueryRate100k is the query target: sum by (job)
// (rate(x[5m])) over 100,000 series and one hour (61 steps), here with the
// data in four partitions' heads as after `silt bench -series 100000`.
// "merge" reads the partitions through Prometheus' merge querier (what silt
// did before partitionsQuerier), "shards=1" through partitionsQuerier,
// "shards=2" also evaluates in two concurrent shards.
func BenchmarkQueryRate100k(b *testing.B) {
	dbs, end := queryDataset(b, 100_000, 4, 65*time.Minute)
	engine := newEngine(testConfig(), slog.New(slog.DiscardHandler), nil)
	const qs = `sum by (job) (rate(silt_bench_requests_total[5m]))`
	merge := storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		qs := make([]storage.Querier, len(dbs))
		for i, db := range dbs {
			qs[i], _ = db.Querier(mint, maxt)
		}
		return storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge), nil
	})
	for _, bc := range []struct {
		name   string
		q      storage.Queryable
		shards int
	}{
		{"merge", merge, 1},
		{"shards=1", partitionsQueryable(dbs), 1},
		{"shards=2", partitionsQueryable(dbs), 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				qry, err := newShardedQuery(qs, bc.shards, bc.q, func(q storage.Queryable) (promql.Query, error) {
					return engine.NewRangeQuery(context.Background(), q, nil, qs, end.Add(-time.Hour), end, time.Minute)
				})
				if err != nil {
					b.Fatal(err)
				}
				res := qry.Exec(context.Background())
				if m, err := res.Matrix(); err != nil || len(m) != 10 || len(m[0].Floats) != 61 {
					b.Fatalf("result %v, %v", res.Value, err)
				}
				qry.Close()
			}
		})
	}
}
