package logql

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// ErrInstantLogQuery is returned for a log query sent as an instant query.
var ErrInstantLogQuery = errors.New("log queries are not supported as an instant query type, please change your query to a range query type")

// Engine evaluates LogQL queries over a Querier.
type Engine struct {
	q    Querier
	opts EngineOpts
}

// NewEngine returns an engine that reads through q.
func NewEngine(q Querier, opts EngineOpts) *Engine {
	if opts.DefaultLimit <= 0 {
		opts.DefaultLimit = 100
	}
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = 11000
	}
	return &Engine{q: q, opts: opts}
}

// Query parses and evaluates one query: a log query returns streams, a
// metric query a matrix (range) or a vector (instant), a literal a scalar.
func (e *Engine) Query(ctx context.Context, p QueryParams) (Result, error) {
	expr, err := ParseExpr(p.Query)
	if err != nil {
		return Result{}, err
	}
	return e.Exec(ctx, expr, p)
}

// Exec evaluates an already parsed query; p.Query is still used to decide
// whether detected_level is referenced.
func (e *Engine) Exec(ctx context.Context, expr Expr, p QueryParams) (Result, error) {
	if p.Query == "" {
		p.Query = expr.String()
	}
	switch ex := expr.(type) {
	case *LogExpr:
		if p.Instant {
			return Result{}, ErrInstantLogQuery
		}
		return e.evalLogs(ctx, ex, p)
	case SampleExpr:
		return e.evalMetric(ctx, ex, p)
	}
	return Result{}, fmt.Errorf("unsupported expression %T", expr)
}

// evalLogs returns up to Limit entries in Direction order, grouped into
// streams by their final label sets.
func (e *Engine) evalLogs(ctx context.Context, le *LogExpr, p QueryParams) (Result, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = e.opts.DefaultLimit
	}
	if e.opts.MaxEntriesLimit > 0 && limit > e.opts.MaxEntriesLimit {
		return Result{}, fmt.Errorf("max entries limit per query exceeded, limit > max_entries_limit (%d > %d)", limit, e.opts.MaxEntriesLimit)
	}
	pl, err := compilePipeline(le.Stages, referencesLabel(p.Query, DetectedLevel))
	if err != nil {
		return Result{}, err
	}
	it, err := e.q.SelectLogs(ctx, SelectParams{
		Matchers: le.Matchers, Start: p.Start, End: p.End, Direction: p.Direction,
		LineFilters: pushdownFilters(le.Stages),
	})
	if err != nil {
		return Result{}, err
	}
	defer it.Close()
	c := newStreamCollector(p.Interval, p.Direction)
	var st lineState
	for scanned := 0; c.n < limit && it.Next(); scanned++ {
		if scanned%4096 == 0 && ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		ent := it.At()
		st.ts, st.line = ent.Timestamp, ent.Line
		st.lbs.reset(ent.Labels, ent.Metadata)
		if pl.run(&st) {
			c.add(&st)
		}
	}
	if err := it.Err(); err != nil {
		return Result{}, err
	}
	return Result{Type: ResultStreams, Streams: c.streams()}, nil
}

// streamCollector groups entries into streams by their final labels.
type streamCollector struct {
	interval time.Duration
	dir      Direction
	groups   map[string]*Stream
	last     map[*Stream]int64
	sb       labels.ScratchBuilder
	buf      []byte
	n        int
}

func newStreamCollector(interval time.Duration, dir Direction) *streamCollector {
	return &streamCollector{interval: interval, dir: dir, groups: map[string]*Stream{},
		last: map[*Stream]int64{}, sb: labels.NewScratchBuilder(8)}
}

func (c *streamCollector) add(st *lineState) {
	full := st.lbs.build(&c.sb, maskAll)
	c.buf = full.Bytes(c.buf[:0])
	s, ok := c.groups[string(c.buf)]
	if !ok {
		s = &Stream{Labels: full, StreamLabels: st.lbs.build(&c.sb, maskStream)}
		c.groups[string(c.buf)] = s
	}
	if c.interval > 0 && len(s.Entries) > 0 {
		d := st.ts - c.last[s]
		if c.dir == Backward {
			d = -d
		}
		if d < int64(c.interval) {
			return
		}
	}
	c.last[s] = st.ts
	s.Entries = append(s.Entries, StreamEntry{
		Timestamp: st.ts, Line: st.line,
		Metadata: st.lbs.build(&c.sb, maskMeta), Parsed: st.lbs.build(&c.sb, maskParsed),
	})
	c.n++
}

func (c *streamCollector) streams() []Stream {
	out := make([]Stream, 0, len(c.groups))
	for _, s := range c.groups {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	return out
}

// evalMetric evaluates a metric query at every step (range) or at End (instant).
func (e *Engine) evalMetric(ctx context.Context, se SampleExpr, p QueryParams) (Result, error) {
	ev, err := e.newEvaluator(ctx, p)
	if err != nil {
		return Result{}, err
	}
	v, err := ev.eval(se)
	if err != nil {
		return Result{}, err
	}
	if v.scalar {
		if p.Instant {
			return Result{Type: ResultScalar, Scalar: &Point{T: p.End / 1e6, V: v.s[0]}}, nil
		}
		pts := make([]Point, ev.n)
		for i := range pts {
			pts[i] = Point{T: ev.stepTime(i) / 1e6, V: v.s[i]}
		}
		return Result{Type: ResultMatrix, Matrix: []Series{{Labels: labels.EmptyLabels(), Points: pts}}}, nil
	}
	if p.Instant {
		return ev.vectorResult(v.v[0], se)
	}
	return ev.matrixResult(v.v)
}

func (ev *evaluator) vectorResult(vec []sample, se SampleExpr) (Result, error) {
	if ev.opts.MaxSeries > 0 && len(vec) > ev.opts.MaxSeries {
		return Result{}, fmt.Errorf("maximum of series (%d) reached for a single query", ev.opts.MaxSeries)
	}
	out := make([]Sample, len(vec))
	for i, s := range vec {
		out[i] = Sample{Labels: s.lbls, T: ev.end / 1e6, V: s.v}
	}
	if va, ok := se.(*VectorAggExpr); !ok || (va.Op != "sort" && va.Op != "sort_desc") {
		sort.SliceStable(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	}
	return Result{Type: ResultVector, Vector: out}, nil
}

func (ev *evaluator) matrixResult(steps [][]sample) (Result, error) {
	byKey := map[string]*Series{}
	var buf []byte
	for i, vec := range steps {
		t := ev.stepTime(i) / 1e6
		for _, s := range vec {
			buf = s.lbls.Bytes(buf[:0])
			ser, ok := byKey[string(buf)]
			if !ok {
				if ev.opts.MaxSeries > 0 && len(byKey) >= ev.opts.MaxSeries {
					return Result{}, fmt.Errorf("maximum of series (%d) reached for a single query", ev.opts.MaxSeries)
				}
				ser = &Series{Labels: s.lbls}
				byKey[string(buf)] = ser
			}
			ser.Points = append(ser.Points, Point{T: t, V: s.v})
		}
	}
	out := make([]Series, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels, out[j].Labels) < 0 })
	return Result{Type: ResultMatrix, Matrix: out}, nil
}
