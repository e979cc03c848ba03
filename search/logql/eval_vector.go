package logql

import (
	"fmt"
	"math"
	"regexp"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
)

// evalVectorAgg applies sum, avg, topk, ... at every step.
func (ev *evaluator) evalVectorAgg(e *VectorAggExpr) (value, error) {
	in, err := ev.eval(e.Inner)
	if err != nil {
		return value{}, err
	}
	out := value{v: make([][]sample, ev.n)}
	sb := labels.NewScratchBuilder(8)
	for i, vec := range in.v {
		switch e.Op {
		case "sort", "sort_desc":
			out.v[i] = sortVector(vec, e.Op == "sort_desc")
		case "topk", "bottomk":
			out.v[i] = topk(&sb, vec, e)
		default:
			out.v[i] = aggregate(&sb, vec, e)
		}
	}
	return out, nil
}

// groupKey returns the labels a sample is grouped under.
func groupKey(b *labels.ScratchBuilder, lbls labels.Labels, g *Grouping) labels.Labels {
	if g == nil {
		return labels.EmptyLabels()
	}
	return groupLabels(b, lbls, g)
}

type aggGroup struct {
	lbls               labels.Labels
	sum, min, max, cnt float64
	vals               []float64
}

func aggregate(b *labels.ScratchBuilder, vec []sample, e *VectorAggExpr) []sample {
	groups := map[string]*aggGroup{}
	var order []*aggGroup
	var buf []byte
	for _, s := range vec {
		k := groupKey(b, s.lbls, e.Grouping)
		buf = k.Bytes(buf[:0])
		g, ok := groups[string(buf)]
		if !ok {
			g = &aggGroup{lbls: k, min: s.v, max: s.v}
			groups[string(buf)] = g
			order = append(order, g)
		}
		g.sum += s.v
		g.cnt++
		g.min = minNaN(g.min, s.v)
		g.max = maxNaN(g.max, s.v)
		if e.Op == "stddev" || e.Op == "stdvar" {
			g.vals = append(g.vals, s.v)
		}
	}
	out := make([]sample, 0, len(order))
	for _, g := range order {
		var v float64
		switch e.Op {
		case "sum":
			v = g.sum
		case "avg":
			v = g.sum / g.cnt
		case "count":
			v = g.cnt
		case "min":
			v = g.min
		case "max":
			v = g.max
		case "stdvar":
			v = variance(g.vals)
		case "stddev":
			v = math.Sqrt(variance(g.vals))
		}
		out = append(out, sample{lbls: g.lbls, v: v})
	}
	return out
}

func minNaN(a, b float64) float64 {
	if b < a || math.IsNaN(a) {
		return b
	}
	return a
}

func maxNaN(a, b float64) float64 {
	if b > a || math.IsNaN(a) {
		return b
	}
	return a
}

func sortVector(vec []sample, desc bool) []sample {
	out := append([]sample(nil), vec...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].v, out[j].v
		if math.IsNaN(a) || math.IsNaN(b) {
			return !math.IsNaN(a) // NaN last
		}
		if desc {
			return a > b
		}
		return a < b
	})
	return out
}

// topk keeps the k largest (bottomk: smallest) samples of each group, with
// their own labels, ordered by value.
func topk(b *labels.ScratchBuilder, vec []sample, e *VectorAggExpr) []sample {
	groups := map[string][]sample{}
	var keys []string
	var buf []byte
	for _, s := range vec {
		buf = groupKey(b, s.lbls, e.Grouping).Bytes(buf[:0])
		if _, ok := groups[string(buf)]; !ok {
			keys = append(keys, string(buf))
		}
		groups[string(buf)] = append(groups[string(buf)], s)
	}
	var out []sample
	k := int(e.Param)
	for _, key := range keys {
		g := sortVector(groups[key], e.Op == "topk")
		out = append(out, g[:min(k, len(g))]...)
	}
	return out
}

func (ev *evaluator) evalLabelReplace(e *LabelReplaceExpr) (value, error) {
	in, err := ev.eval(e.Inner)
	if err != nil {
		return value{}, err
	}
	re, err := regexp.Compile("^(?:" + e.Regex + ")$")
	if err != nil {
		return value{}, fmt.Errorf("label_replace: invalid regexp %q: %w", e.Regex, err)
	}
	for i, vec := range in.v {
		out := make([]sample, len(vec))
		for j, s := range vec {
			out[j] = s
			src := s.lbls.Get(e.Src)
			m := re.FindStringSubmatchIndex(src)
			if m == nil {
				continue
			}
			res := string(re.ExpandString(nil, e.Replacement, src, m))
			lb := labels.NewBuilder(s.lbls)
			if res == "" {
				lb.Del(e.Dst)
			} else {
				lb.Set(e.Dst, res)
			}
			out[j].lbls = lb.Labels()
		}
		in.v[i] = out
	}
	return in, nil
}
