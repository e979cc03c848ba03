package logql

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
)

// extractor turns the entries of a log range into samples per series.
type extractor struct {
	e      *RangeAggExpr
	pl     *pipeline
	series map[string]*rangeSeries
	list   []*rangeSeries
	sb     labels.ScratchBuilder
	buf    []byte
	// Fast path: when the pipeline cannot change labels, an entry without
	// metadata belongs to the series of its stream's labels, found by hash.
	simple   bool
	byStream map[uint64]*rangeSeries
	// counted: every stage is a line filter the storage applied exactly and
	// the value is 1 per line, so an entry counts without its line.
	counted bool
}

// collectSeries reads every entry needed by the query's windows.
func (ev *evaluator) collectSeries(e *RangeAggExpr) ([]*rangeSeries, error) {
	lr := e.Left
	pl, err := compilePipeline(lr.Log.Stages, referencesLabel(ev.query, DetectedLevel))
	if err != nil {
		return nil, err
	}
	x := &extractor{e: e, pl: pl, series: map[string]*rangeSeries{}, sb: labels.NewScratchBuilder(8),
		byStream: map[uint64]*rangeSeries{}}
	x.simple = !pl.detectLevel && lr.Unwrap == nil && e.Grouping == nil && labelsUntouched(lr.Log.Stages)
	pushed := pushdownFilters(lr.Log.Stages)
	if ef, ok := ev.q.(ExactFilterer); ok && ef.AppliesLineFiltersExactly() && x.simple &&
		len(pushed) == len(lr.Log.Stages) && (e.Op == "count_over_time" || e.Op == "rate") {
		x.counted = true
	}
	it, err := ev.q.SelectLogs(ev.ctx, SelectParams{
		Matchers:    lr.Log.Matchers,
		Start:       ev.start - int64(lr.Offset) - int64(lr.Range) + 1,
		End:         ev.end - int64(lr.Offset) + 1,
		Direction:   Forward,
		LineFilters: pushed,
		Unordered:   true,
		NoLines:     x.counted,
	})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var st lineState
	for scanned := 0; it.Next(); scanned++ {
		if scanned%4096 == 0 && ev.ctx.Err() != nil {
			return nil, ev.ctx.Err()
		}
		ent := it.At()
		if err := x.add(&ent, &st); err != nil {
			return nil, err
		}
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	for _, s := range x.list {
		s.sortByTime()
	}
	return x.list, nil
}

// sortByTime orders the samples by time, keeping the order of equal times.
func (s *rangeSeries) sortByTime() {
	if slices.IsSorted(s.ts) {
		return
	}
	idx := make([]int, len(s.ts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(s.ts[a], s.ts[b]) })
	ts, vals := make([]int64, len(idx)), make([]float64, len(idx))
	for i, j := range idx {
		ts[i], vals[i] = s.ts[j], s.vals[j]
	}
	s.ts, s.vals = ts, vals
}

// labelsUntouched reports whether no stage can change an entry's labels.
func labelsUntouched(stages []Stage) bool {
	for _, s := range stages {
		switch s.(type) {
		case *LineFilterStage, *DecolorizeStage:
		default:
			return false
		}
	}
	return true
}

func (x *extractor) add(ent *Entry, st *lineState) error {
	st.ts, st.line = ent.Timestamp, ent.Line
	var h uint64
	if x.simple && ent.Metadata.IsEmpty() {
		h = ent.Labels.Hash()
		if s, ok := x.byStream[h]; ok && labels.Equal(s.lbls, ent.Labels) {
			if x.counted || x.pl.run(st) {
				s.append(st.ts, x.value(st))
			}
			return nil
		}
	}
	st.lbs.reset(ent.Labels, ent.Metadata)
	if !x.counted && !x.pl.run(st) {
		return nil
	}
	v := x.value(st)
	if u := x.e.Left.Unwrap; u != nil {
		var ok bool
		if v, ok = x.unwrap(u, st); !ok {
			return nil
		}
	}
	lbls := st.lbs.build(&x.sb, maskAll)
	if lbls.Has(ErrorLabel) {
		return fmt.Errorf("pipeline error: '%s' for series: '%s'. Use a label filter to intentionally skip this error. (e.g | __error__!=\"%s\")",
			lbls.Get(ErrorLabel), lbls.String(), lbls.Get(ErrorLabel))
	}
	if g := x.e.Grouping; g != nil {
		lbls = groupLabels(&x.sb, lbls, g)
	}
	s := x.seriesFor(lbls)
	s.append(st.ts, v)
	if x.simple && ent.Metadata.IsEmpty() {
		x.byStream[h] = s
	}
	return nil
}

func (x *extractor) seriesFor(lbls labels.Labels) *rangeSeries {
	x.buf = lbls.Bytes(x.buf[:0])
	s, ok := x.series[string(x.buf)]
	if !ok {
		s = &rangeSeries{lbls: lbls}
		x.series[string(x.buf)] = s
		x.list = append(x.list, s)
	}
	return s
}

func (s *rangeSeries) append(ts int64, v float64) {
	s.ts = append(s.ts, ts)
	s.vals = append(s.vals, v)
}

// value is the sample value of an entry before unwrap.
func (x *extractor) value(st *lineState) float64 {
	switch x.e.Op {
	case "bytes_rate", "bytes_over_time":
		return float64(len(st.line))
	}
	return 1
}

// unwrap converts the unwrapped label; a failed conversion sets __error__,
// then the post-unwrap filters run. The label itself leaves the series.
func (x *extractor) unwrap(u *Unwrap, st *lineState) (float64, bool) {
	raw, _ := st.lbs.get(u.Label)
	v, err := convertValue(u.Conv, raw)
	if err != nil {
		v = 0
		st.lbs.setErr(errSample, err.Error())
	}
	for _, f := range u.PostFilters {
		if !evalLabelFilter(f, &st.lbs) {
			return 0, false
		}
	}
	st.lbs.del(u.Label)
	return v, true
}

// groupLabels keeps (by) or drops (without) the grouping labels.
func groupLabels(b *labels.ScratchBuilder, lbls labels.Labels, g *Grouping) labels.Labels {
	b.Reset()
	lbls.Range(func(l labels.Label) {
		if contains(g.Labels, l.Name) != g.Without {
			b.Add(l.Name, l.Value)
		}
	})
	return b.Labels()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
