package logql

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// sample is one element of a vector during evaluation.
type sample struct {
	lbls labels.Labels
	v    float64
}

// value is the result of a sample expression at every step: a scalar per
// step or a vector per step.
type value struct {
	scalar bool
	s      []float64
	v      [][]sample
}

// evaluator evaluates sample expressions at the steps of one query.
type evaluator struct {
	ctx              context.Context
	q                Querier
	opts             EngineOpts
	query            string
	start, end, step int64 // ns
	n                int   // number of steps
}

func (e *Engine) newEvaluator(ctx context.Context, p QueryParams) (*evaluator, error) {
	ev := &evaluator{ctx: ctx, q: e.q, opts: e.opts, query: p.Query, start: p.Start, end: p.End, step: int64(p.Step)}
	if p.Instant {
		ev.start, ev.step, ev.n = p.End, 0, 1
		return ev, nil
	}
	if p.End < p.Start {
		return nil, fmt.Errorf("end timestamp must not be before start time")
	}
	if ev.step <= 0 {
		ev.step = defaultStep(p.Start, p.End)
	}
	n := (p.End-p.Start)/ev.step + 1
	if n > int64(e.opts.MaxPoints) {
		return nil, fmt.Errorf("exceeded maximum resolution of %d points per time series; try decreasing the query resolution (?step=XX)", e.opts.MaxPoints)
	}
	ev.n = int(n)
	return ev, nil
}

// defaultStep is Loki's default: the range over 250 points, at least 1s.
func defaultStep(start, end int64) int64 {
	s := (end - start) / 250
	s -= s % int64(time.Second)
	return max(s, int64(time.Second))
}

func (ev *evaluator) stepTime(i int) int64 { return ev.start + int64(i)*ev.step }

func (ev *evaluator) eval(e SampleExpr) (value, error) {
	if err := ev.ctx.Err(); err != nil {
		return value{}, err
	}
	switch e := e.(type) {
	case *LiteralExpr:
		return ev.constant(e.Val), nil
	case *VectorExpr:
		v := value{v: make([][]sample, ev.n)}
		for i := range v.v {
			v.v[i] = []sample{{lbls: labels.EmptyLabels(), v: e.Val}}
		}
		return v, nil
	case *RangeAggExpr:
		vecs, err := ev.evalRangeAgg(e)
		return value{v: vecs}, err
	case *VectorAggExpr:
		return ev.evalVectorAgg(e)
	case *BinOpExpr:
		return ev.evalBinOp(e)
	case *LabelReplaceExpr:
		return ev.evalLabelReplace(e)
	}
	return value{}, fmt.Errorf("unsupported expression %T", e)
}

func (ev *evaluator) constant(f float64) value {
	v := value{scalar: true, s: make([]float64, ev.n)}
	for i := range v.s {
		v.s[i] = f
	}
	return v
}

// rangeSeries is the samples of one series within the selected time range.
type rangeSeries struct {
	lbls labels.Labels
	ts   []int64
	vals []float64
}

// evalRangeAgg selects the entries of all windows at once, turns them into
// samples per series and aggregates each window (t-offset-range, t-offset].
func (ev *evaluator) evalRangeAgg(e *RangeAggExpr) ([][]sample, error) {
	lr := e.Left
	if ev.opts.MaxLookback > 0 && lr.Range+lr.Offset > ev.opts.MaxLookback {
		return nil, fmt.Errorf("range %s plus offset exceeds the maximum look-back of %s", formatDuration(lr.Range), formatDuration(ev.opts.MaxLookback))
	}
	series, err := ev.collectSeries(e)
	if err != nil {
		return nil, err
	}
	out := make([][]sample, ev.n)
	if e.Op == "absent_over_time" {
		ev.absent(e, series, out)
		return out, nil
	}
	rng, off := int64(lr.Range), int64(lr.Offset)
	for _, s := range series {
		lo, hi := 0, 0
		for i := 0; i < ev.n; i++ {
			t := ev.stepTime(i) - off
			for lo < len(s.ts) && s.ts[lo] <= t-rng {
				lo++
			}
			hi = max(hi, lo)
			for hi < len(s.ts) && s.ts[hi] <= t {
				hi++
			}
			if hi == lo {
				continue
			}
			out[i] = append(out[i], sample{lbls: s.lbls, v: aggregateWindow(e, s.vals[lo:hi], lr.Range)})
		}
	}
	return out, nil
}

// absent yields 1 at the steps whose window holds no sample at all, with
// the labels of the selector's equality matchers.
func (ev *evaluator) absent(e *RangeAggExpr, series []*rangeSeries, out [][]sample) {
	var all []int64
	for _, s := range series {
		all = append(all, s.ts...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b := labels.NewScratchBuilder(len(e.Left.Log.Matchers))
	for _, m := range e.Left.Log.Matchers {
		if m.Type == labels.MatchEqual {
			b.Add(m.Name, m.Value)
		}
	}
	b.Sort()
	lbls := b.Labels()
	rng, off := int64(e.Left.Range), int64(e.Left.Offset)
	for i := 0; i < ev.n; i++ {
		t := ev.stepTime(i) - off
		j := sort.Search(len(all), func(k int) bool { return all[k] > t-rng })
		if j == len(all) || all[j] > t {
			out[i] = []sample{{lbls: lbls, v: 1}}
		}
	}
}

func aggregateWindow(e *RangeAggExpr, vals []float64, rng time.Duration) float64 {
	switch e.Op {
	case "count_over_time":
		return float64(len(vals))
	case "rate":
		if e.Left.Unwrap == nil {
			return float64(len(vals)) / rng.Seconds()
		}
		return sum(vals) / rng.Seconds()
	case "bytes_rate":
		return sum(vals) / rng.Seconds()
	case "bytes_over_time", "sum_over_time":
		return sum(vals)
	case "avg_over_time":
		return sum(vals) / float64(len(vals))
	case "min_over_time":
		m := vals[0]
		for _, v := range vals[1:] {
			if v < m || math.IsNaN(m) {
				m = v
			}
		}
		return m
	case "max_over_time":
		m := vals[0]
		for _, v := range vals[1:] {
			if v > m || math.IsNaN(m) {
				m = v
			}
		}
		return m
	case "first_over_time":
		return vals[0]
	case "last_over_time":
		return vals[len(vals)-1]
	case "stdvar_over_time":
		return variance(vals)
	case "stddev_over_time":
		return math.Sqrt(variance(vals))
	case "quantile_over_time":
		return quantile(e.Param, vals)
	}
	return math.NaN()
}

func sum(vals []float64) float64 {
	var s float64
	for _, v := range vals {
		s += v
	}
	return s
}

// variance is the population variance.
func variance(vals []float64) float64 {
	mean := sum(vals) / float64(len(vals))
	var sq float64
	for _, v := range vals {
		sq += (v - mean) * (v - mean)
	}
	return sq / float64(len(vals))
}

// quantile interpolates linearly between the closest ranks, as Prometheus.
func quantile(q float64, vals []float64) float64 {
	switch {
	case len(vals) == 0 || math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	rank := q * float64(len(s)-1)
	lo := math.Floor(rank)
	hi := math.Min(lo+1, float64(len(s)-1))
	w := rank - lo
	return s[int(lo)]*(1-w) + s[int(hi)]*w
}
