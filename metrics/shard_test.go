package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

func TestShardableAggregation(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{`sum by (job) (rate(x[5m]))`, true},
		{`(sum without (instance) (increase(x{job="a"}[1h] offset 5m)))`, true},
		{`max(abs(x - 3) * 2)`, true},
		{`count(x > 0)`, true},
		{`group by (job) (x)`, true},
		{`min(quantile_over_time(0.9, x[5m]))`, true},
		{`sum(-clamp_min(x, 0))`, true},
		{`avg(x)`, false},
		{`topk(3, x)`, false},
		{`sum(rate({job="a"}[5m]))`, false},         // no metric name: series may collide once it is dropped
		{`sum(rate({__name__=~"x|y"}[5m]))`, false}, // idem
		{`sum(x + y)`, false},                       // two selectors
		{`sum(x and y)`, false},                     // set operator
		{`sum(label_replace(x, "a", "b", "c", "d"))`, false},
		{`sum(histogram_quantile(0.9, x))`, false},
		{`sum(x) / 2`, false},
		{`sum(sum by (job) (x))`, false},
		{`sum(rate(x[5m:1m]))`, false}, // subquery
		{`x`, false},
	} {
		expr, err := parser.ParseExpr(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if _, got := shardableAggregation(expr); got != tc.want {
			t.Errorf("%s: shardable %v, want %v", tc.q, got, tc.want)
		}
	}
}

// shardFixture is two TSDBs with counters and gauges of several jobs, one
// series held by both (with other samples in each), and a native histogram.
func shardFixture(t *testing.T) (merged, partitions storage.Queryable, end time.Time) {
	t.Helper()
	end = time.Now().Truncate(time.Minute)
	var dbs []*tsdb.DB
	for range 2 {
		db, err := tsdb.Open(filepath.Join(t.TempDir(), "tsdb"), slog.New(slog.DiscardHandler), nil, tsdbOptions(testConfig()), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs = append(dbs, db)
	}
	add := func(db *tsdb.DB, ls labels.Labels, i int, v float64) {
		app := db.Appender(context.Background())
		if _, err := app.Append(0, ls, end.Add(-time.Duration(i)*15*time.Second).UnixMilli(), v); err != nil {
			t.Fatal(err)
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 120; i >= 0; i-- {
		for k := range 40 {
			c := labels.FromStrings("__name__", "c", "job", fmt.Sprint("j", k%3), "k", fmt.Sprint(k))
			v := float64((120 - i) * (k + 1))
			if k == 7 && i < 60 {
				v = float64(i) // a counter reset
			}
			add(dbs[k%2], c, i, v)
			if k%5 != 0 || i%2 == 0 {
				add(dbs[k%2], labels.FromStrings("__name__", "g", "job", fmt.Sprint("j", k%3), "k", fmt.Sprint(k)), i, math.Sin(float64(i*k)))
			}
		}
		add(dbs[i%2], labels.FromStrings("__name__", "c", "job", "both", "k", "x"), i, float64(120-i))
	}
	app := dbs[0].Appender(context.Background())
	if _, err := app.AppendHistogram(0, labels.FromStrings("__name__", "h", "job", "j0"), end.UnixMilli(), &histogram.Histogram{Count: 1, ZeroCount: 1, Sum: 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	merged = storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		qs := make([]storage.Querier, len(dbs))
		for i, db := range dbs {
			qs[i], _ = db.Querier(mint, maxt)
		}
		return storage.NewMergeQuerier(qs, nil, storage.ChainedSeriesMerge), nil
	})
	return merged, partitionsQueryable(dbs), end
}

// TestShardedQueriesAnswerAsUnsharded: every query, sharded or not, range or
// instant, answers what the engine answers over Prometheus' merge of the
// partitions, up to float rounding.
func TestShardedQueriesAnswerAsUnsharded(t *testing.T) {
	merged, q, end := shardFixture(t)
	engine := newEngine(testConfig(), slog.New(slog.DiscardHandler), nil)
	ctx := context.Background()
	for _, qs := range []string{
		`sum by (job) (rate(c[5m]))`, `sum(increase(c[10m]))`, `count by (job) (g > 0)`, `min by (job) (g)`,
		`max without (k) (g * 2)`, `group by (job) (c)`, `sum by (job) (h)`, `avg by (job) (g)`, `count(c)`,
		`sum by (job) (rate(c{job="both"}[5m]))`, `sum(c) / 2`, `topk(2, c)`,
	} {
		for _, shards := range []int{1, 2, 3} { // 1: partitionsQuerier alone
			for _, instant := range []bool{false, true} {
				newQuery := func(q storage.Queryable) (promql.Query, error) {
					if instant {
						return engine.NewInstantQuery(ctx, q, nil, qs, end)
					}
					return engine.NewRangeQuery(ctx, q, nil, qs, end.Add(-20*time.Minute), end, time.Minute)
				}
				want := runQuery(t, newQuery, merged, 1)
				if got := runQuery(t, newQuery, q, shards); !sameResult(got, want) {
					t.Errorf("%s, %d shards, instant %v:\n got %v\nwant %v", qs, shards, instant, got, want)
				}
			}
		}
	}
}

func runQuery(t *testing.T, newQuery newQueryFunc, q storage.Queryable, shards int) parser.Value {
	t.Helper()
	var qs string
	if qry, err := newQuery(q); err == nil {
		qs = qry.String()
		qry.Close()
	}
	qry, err := newShardedQuery(qs, shards, q, newQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("%s: %v", qs, res.Err)
	}
	// The result's memory is the query's until Close: compare a copy.
	return copyValue(res.Value)
}

func copyValue(v parser.Value) parser.Value {
	switch v := v.(type) {
	case promql.Matrix:
		out := make(promql.Matrix, len(v))
		for i, s := range v {
			out[i] = promql.Series{Metric: s.Metric, Floats: append([]promql.FPoint(nil), s.Floats...), Histograms: append([]promql.HPoint(nil), s.Histograms...)}
		}
		return out
	case promql.Vector:
		return append(promql.Vector(nil), v...)
	}
	return v
}

func sameResult(a, b parser.Value) bool {
	near := func(x, y float64) bool {
		return x == y || math.IsNaN(x) && math.IsNaN(y) || math.Abs(x-y) <= 1e-9*math.Max(math.Abs(x), math.Abs(y))
	}
	switch a := a.(type) {
	case promql.Matrix:
		b, ok := b.(promql.Matrix)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !labels.Equal(a[i].Metric, b[i].Metric) || len(a[i].Floats) != len(b[i].Floats) || len(a[i].Histograms) != len(b[i].Histograms) {
				return false
			}
			for j, p := range a[i].Floats {
				if p.T != b[i].Floats[j].T || !near(p.F, b[i].Floats[j].F) {
					return false
				}
			}
		}
		return true
	case promql.Vector:
		b, ok := b.(promql.Vector)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			j := i
			for j < len(b) && !labels.Equal(a[i].Metric, b[j].Metric) {
				j++
			}
			if j == len(b) {
				for j = 0; j < len(b) && !labels.Equal(a[i].Metric, b[j].Metric); j++ {
				}
			}
			if j == len(b) || a[i].T != b[j].T || !near(a[i].F, b[j].F) || (a[i].H == nil) != (b[j].H == nil) {
				return false
			}
		}
		return true
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}
