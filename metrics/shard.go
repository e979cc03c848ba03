package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Query sharding. The PromQL engine evaluates a query on one goroutine, so
// `sum by (job) (rate(x[5m]))` over 100,000 series uses one core however
// many the server has. An aggregation of a per-series expression splits
// without changing its result: the series are dealt into shards by the hash
// of their labels (a series is in exactly one shard), the engine evaluates
// the whole query once per shard, concurrently, and the partial results are
// combined: sums and counts add up, minimums and maximums are taken again.
// Only these are sharded:
//
//	sum|min|max|count|group [by|without (...)] (E)
//
// where E holds one selector, which names its metric (so that no two of its
// series can collide once rate and the like drop the name: that is an error
// the unsharded query would report), and nothing but functions of one series
// (rate, increase, *_over_time, abs, ...) and arithmetic or comparisons
// with number literals. Anything else, and a result holding native
// histograms, is evaluated unsharded. Sums add partial sums, so a result may
// differ from the unsharded one in the last bits of its floats.
//
// The selector is run once for all shards (shardedStorage), not once per
// shard.

// queryRunner is what the API needs of a promql.Query.
type queryRunner interface {
	Exec(ctx context.Context) *promql.Result
	Close()
}

// newQueryFunc creates the engine's query over q.
type newQueryFunc func(q storage.Queryable) (promql.Query, error)

// newShardedQuery returns newQuery(q) evaluated as shards concurrent
// partial queries when qs can be (above), else as one query.
func newShardedQuery(qs string, shards int, q storage.Queryable, newQuery newQueryFunc) (queryRunner, error) {
	expr, err := parser.ParseExpr(qs)
	if err != nil || shards < 2 {
		return newQuery(q)
	}
	agg, ok := shardableAggregation(expr)
	if !ok {
		return newQuery(q)
	}
	st := &shardedStorage{q: q, n: shards, selects: map[string]*sharedSelect{}}
	sq := &shardedQuery{op: agg.Op, storage: st, whole: func() (promql.Query, error) { return newQuery(q) }}
	for i := range shards {
		part, err := newQuery(st.shard(i))
		if err != nil {
			sq.Close()
			return nil, err
		}
		sq.parts = append(sq.parts, part)
	}
	return sq, nil
}

// shardableAggregation returns expr as an aggregation that shards, or false.
func shardableAggregation(expr parser.Expr) (*parser.AggregateExpr, bool) {
	for {
		p, ok := expr.(*parser.ParenExpr)
		if !ok {
			break
		}
		expr = p.Expr
	}
	agg, ok := expr.(*parser.AggregateExpr)
	if !ok || agg.Param != nil {
		return nil, false
	}
	switch agg.Op {
	case parser.SUM, parser.MIN, parser.MAX, parser.COUNT, parser.GROUP:
	default:
		return nil, false
	}
	selectors := 0
	return agg, perSeries(agg.Expr, &selectors) && selectors == 1
}

// perSeriesFuncs are the functions whose every output series is computed
// from one input series, whose labels it keeps (but for the metric name).
var perSeriesFuncs = map[string]bool{
	"rate": true, "irate": true, "increase": true, "delta": true, "idelta": true, "deriv": true,
	"predict_linear": true, "resets": true, "changes": true,
	"avg_over_time": true, "min_over_time": true, "max_over_time": true, "sum_over_time": true,
	"count_over_time": true, "last_over_time": true, "present_over_time": true,
	"stddev_over_time": true, "stdvar_over_time": true, "quantile_over_time": true,
	"abs": true, "ceil": true, "floor": true, "round": true, "exp": true, "sqrt": true,
	"ln": true, "log2": true, "log10": true, "sgn": true, "clamp": true, "clamp_min": true, "clamp_max": true,
}

// perSeries reports whether e is a per-series expression (see the top of
// the file), counting its selectors.
func perSeries(e parser.Expr, selectors *int) bool {
	switch e := e.(type) {
	case *parser.ParenExpr:
		return perSeries(e.Expr, selectors)
	case *parser.VectorSelector:
		*selectors++
		return namesMetric(e)
	case *parser.MatrixSelector:
		return perSeries(e.VectorSelector, selectors)
	case *parser.UnaryExpr:
		return perSeries(e.Expr, selectors)
	case *parser.Call:
		if !perSeriesFuncs[e.Func.Name] {
			return false
		}
		for _, a := range e.Args {
			if !isNumber(a) && !perSeries(a, selectors) {
				return false
			}
		}
		return true
	case *parser.BinaryExpr:
		if e.Op.IsSetOperator() {
			return false
		}
		switch {
		case isNumber(e.LHS):
			return perSeries(e.RHS, selectors)
		case isNumber(e.RHS):
			return perSeries(e.LHS, selectors)
		}
	}
	return false
}

func isNumber(e parser.Expr) bool {
	switch e := e.(type) {
	case *parser.NumberLiteral:
		return true
	case *parser.ParenExpr:
		return isNumber(e.Expr)
	case *parser.UnaryExpr:
		return isNumber(e.Expr)
	}
	return false
}

func namesMetric(vs *parser.VectorSelector) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual && m.Value != "" {
			return true
		}
	}
	return false
}

// shardedQuery is the partial queries of one sharded query.
type shardedQuery struct {
	op      parser.ItemType
	parts   []promql.Query
	storage *shardedStorage
	whole   func() (promql.Query, error) // the unsharded query, for a result it cannot combine
	wholeQ  promql.Query
}

func (q *shardedQuery) Exec(ctx context.Context) *promql.Result {
	results := make([]*promql.Result, len(q.parts))
	var wg sync.WaitGroup
	for i, p := range q.parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.Exec(ctx)
		}()
	}
	wg.Wait()
	var warns annotations.Annotations
	for _, r := range results {
		if r.Err != nil {
			return r
		}
		warns.Merge(r.Warnings)
	}
	if v, ok := combine(q.op, results); ok {
		return &promql.Result{Value: v, Warnings: warns}
	}
	var err error
	if q.wholeQ, err = q.whole(); err != nil {
		return &promql.Result{Err: err}
	}
	return q.wholeQ.Exec(ctx)
}

func (q *shardedQuery) Close() {
	for _, p := range q.parts {
		p.Close()
	}
	if q.wholeQ != nil {
		q.wholeQ.Close()
	}
	q.storage.close()
}

// combine merges the partial results, or returns false when they hold
// native histograms.
func combine(op parser.ItemType, results []*promql.Result) (parser.Value, bool) {
	var groups seriesGroups
	switch results[0].Value.(type) {
	case promql.Matrix:
		for _, r := range results {
			for _, s := range r.Value.(promql.Matrix) {
				if len(s.Histograms) > 0 {
					return nil, false
				}
				g := groups.get(s.Metric)
				g.Floats = mergePoints(op, g.Floats, s.Floats)
			}
		}
		out := make(promql.Matrix, 0, len(groups.list))
		for _, g := range groups.list {
			out = append(out, *g)
		}
		slices.SortFunc(out, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
		return out, true
	case promql.Vector:
		for _, r := range results {
			for _, s := range r.Value.(promql.Vector) {
				if s.H != nil {
					return nil, false
				}
				g := groups.get(s.Metric)
				g.Floats = mergePoints(op, g.Floats, []promql.FPoint{{T: s.T, F: s.F}})
			}
		}
		out := make(promql.Vector, 0, len(groups.list))
		for _, g := range groups.list {
			out = append(out, promql.Sample{Metric: g.Metric, T: g.Floats[0].T, F: g.Floats[0].F})
		}
		slices.SortFunc(out, func(a, b promql.Sample) int { return labels.Compare(a.Metric, b.Metric) })
		return out, true
	}
	return nil, false
}

// seriesGroups finds result series by labels.
type seriesGroups struct {
	byHash map[uint64][]*promql.Series
	list   []*promql.Series
}

func (g *seriesGroups) get(ls labels.Labels) *promql.Series {
	if g.byHash == nil {
		g.byHash = map[uint64][]*promql.Series{}
	}
	h := ls.Hash()
	for _, s := range g.byHash[h] {
		if labels.Equal(s.Metric, ls) {
			return s
		}
	}
	s := &promql.Series{Metric: ls}
	g.byHash[h] = append(g.byHash[h], s)
	g.list = append(g.list, s)
	return s
}

// mergePoints merges two partial results of one group, both in time order.
func mergePoints(op parser.ItemType, a, b []promql.FPoint) []promql.FPoint {
	if len(a) == 0 {
		return append([]promql.FPoint(nil), b...)
	}
	out := make([]promql.FPoint, 0, max(len(a), len(b)))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0].T < b[0].T:
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].T < a[0].T:
			out, b = append(out, b[0]), b[1:]
		default:
			out = append(out, promql.FPoint{T: a[0].T, F: combineFloats(op, a[0].F, b[0].F)})
			a, b = a[1:], b[1:]
		}
	}
	return out
}

// combineFloats combines two partial aggregates as the aggregation would
// have combined their series (min and max prefer a number to NaN).
func combineFloats(op parser.ItemType, a, b float64) float64 {
	switch op {
	case parser.MIN:
		if math.IsNaN(a) || b < a {
			return b
		}
		return a
	case parser.MAX:
		if math.IsNaN(a) || b > a {
			return b
		}
		return a
	case parser.GROUP:
		return 1
	}
	return a + b // sum, and count of counts
}

// shardedStorage gives each shard a Queryable of its series. Every shard
// runs the same query, so each select is made once over the whole storage
// and its series dealt into the shards.
type shardedStorage struct {
	q storage.Queryable
	n int

	mu       sync.Mutex
	queriers []storage.Querier        // guarded by mu: to close at the end
	selects  map[string]*sharedSelect // guarded by mu: by time range, hints and matchers
}

// sharedSelect is one select, dealt into shards.
type sharedSelect struct {
	once   sync.Once
	shards [][]storage.Series
	warns  annotations.Annotations
	err    error
}

func (s *shardedStorage) shard(i int) storage.Queryable {
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		return &shardQuerier{s: s, i: i, mint: mint, maxt: maxt}, nil
	})
}

// selectShard returns shard i of a select.
func (s *shardedStorage) selectShard(ctx context.Context, i int, mint, maxt int64, hints *storage.SelectHints, ms []*labels.Matcher) storage.SeriesSet {
	key := fmt.Sprintf("%d %d %+v %v", mint, maxt, hints, ms)
	s.mu.Lock()
	sel := s.selects[key]
	if sel == nil {
		sel = &sharedSelect{}
		s.selects[key] = sel
	}
	s.mu.Unlock()
	sel.once.Do(func() {
		q, err := s.q.Querier(mint, maxt)
		if err != nil {
			sel.err = err
			return
		}
		s.mu.Lock()
		s.queriers = append(s.queriers, q)
		s.mu.Unlock()
		set := q.Select(ctx, false, hints, ms...)
		sel.shards = make([][]storage.Series, s.n)
		for set.Next() {
			series := set.At()
			k := series.Labels().Hash() % uint64(s.n)
			sel.shards[k] = append(sel.shards[k], series)
		}
		sel.err, sel.warns = set.Err(), set.Warnings()
	})
	if sel.err != nil {
		return storage.ErrSeriesSet(sel.err)
	}
	return &seriesSlice{series: sel.shards[i], warns: sel.warns}
}

func (s *shardedStorage) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.queriers {
		_ = q.Close()
	}
	s.queriers = nil
}

// shardQuerier is one shard's querier. Label names and values are not
// sharded: the engine asks for none in a query that shards.
type shardQuerier struct {
	s          *shardedStorage
	i          int
	mint, maxt int64
}

func (q *shardQuerier) Select(ctx context.Context, sorted bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	set := q.s.selectShard(ctx, q.i, q.mint, q.maxt, hints, ms)
	if ss, ok := set.(*seriesSlice); ok && sorted {
		ss.series = slices.Clone(ss.series)
		slices.SortFunc(ss.series, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	}
	return set
}

func (q *shardQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errShardLabels
}

func (q *shardQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errShardLabels
}

func (q *shardQuerier) Close() error { return nil }

var errShardLabels = errors.New("a query shard has no label index")
