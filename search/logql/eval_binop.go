package logql

import (
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/labels"
)

// evalBinOp evaluates both sides and combines them at every step.
func (ev *evaluator) evalBinOp(e *BinOpExpr) (value, error) {
	l, err := ev.eval(e.LHS)
	if err != nil {
		return value{}, err
	}
	r, err := ev.eval(e.RHS)
	if err != nil {
		return value{}, err
	}
	switch {
	case l.scalar && r.scalar:
		out := value{scalar: true, s: make([]float64, ev.n)}
		for i := range out.s {
			v, keep := applyOp(e.Op, l.s[i], r.s[i])
			if isComparison(e.Op) && !keep {
				v = 0
			}
			out.s[i] = v
		}
		return out, nil
	case l.scalar || r.scalar:
		return ev.scalarVector(e, l, r), nil
	}
	out := value{v: make([][]sample, ev.n)}
	for i := range out.v {
		if out.v[i], err = vectorBinOp(e, l.v[i], r.v[i]); err != nil {
			return value{}, err
		}
	}
	return out, nil
}

// applyOp returns the arithmetic result, or for comparisons 1/0 and
// whether the comparison holds.
func applyOp(op string, a, b float64) (float64, bool) {
	switch op {
	case "+":
		return a + b, true
	case "-":
		return a - b, true
	case "*":
		return a * b, true
	case "/":
		if b == 0 {
			return math.NaN(), true
		}
		return a / b, true
	case "%":
		if b == 0 {
			return math.NaN(), true
		}
		return math.Mod(a, b), true
	case "^":
		return math.Pow(a, b), true
	}
	var ok bool
	switch op {
	case "==":
		ok = a == b
	case "!=":
		ok = a != b
	case ">":
		ok = a > b
	case ">=":
		ok = a >= b
	case "<":
		ok = a < b
	case "<=":
		ok = a <= b
	}
	if ok {
		return 1, true
	}
	return 0, false
}

// scalarVector applies a scalar to every sample; a comparison without bool
// filters and keeps the vector's value.
func (ev *evaluator) scalarVector(e *BinOpExpr, l, r value) value {
	out := value{v: make([][]sample, ev.n)}
	for i := 0; i < ev.n; i++ {
		vec, sc := l.v, r.s
		if l.scalar {
			vec, sc = r.v, l.s
		}
		res := make([]sample, 0, len(vec[i]))
		for _, s := range vec[i] {
			a, b := s.v, sc[i]
			if l.scalar {
				a, b = sc[i], s.v
			}
			v, keep := applyOp(e.Op, a, b)
			if isComparison(e.Op) && !e.ReturnBool {
				if !keep {
					continue
				}
				v = s.v
			}
			res = append(res, sample{lbls: s.lbls, v: v})
		}
		out.v[i] = res
	}
	return out
}

// signature is the part of a sample's labels that vector matching compares.
func signature(lbls labels.Labels, m *VectorMatching, buf []byte) []byte {
	if m == nil {
		return lbls.Bytes(buf)
	}
	if m.On {
		return lbls.BytesWithLabels(buf, m.Labels...)
	}
	return lbls.BytesWithoutLabels(buf, m.Labels...)
}

func vectorBinOp(e *BinOpExpr, lhs, rhs []sample) ([]sample, error) {
	if isSetOp(e.Op) {
		return setOp(e, lhs, rhs), nil
	}
	card := ""
	if e.Matching != nil {
		card = e.Matching.Card
	}
	many, one := lhs, rhs
	if card == "group_right" {
		many, one = rhs, lhs
	}
	oneBySig := map[string]sample{}
	var buf []byte
	for _, s := range one {
		buf = signature(s.lbls, e.Matching, buf[:0])
		if _, dup := oneBySig[string(buf)]; dup {
			return nil, fmt.Errorf("found duplicate series for the match group %s on the %s side of the operation; many-to-many matching not allowed: matching labels must be unique on one side", s.lbls.String(), side(card == "group_right"))
		}
		oneBySig[string(buf)] = s
	}
	seen := map[string]bool{}
	var out []sample
	for _, s := range many {
		buf = signature(s.lbls, e.Matching, buf[:0])
		o, ok := oneBySig[string(buf)]
		if !ok {
			continue
		}
		if card == "" {
			if seen[string(buf)] {
				return nil, fmt.Errorf("found duplicate series for the match group %s on the left side of the operation; use group_left/group_right for many-to-one matching", s.lbls.String())
			}
			seen[string(buf)] = true
		}
		l, r := s, o
		if card == "group_right" {
			l, r = o, s
		}
		v, keep := applyOp(e.Op, l.v, r.v)
		if isComparison(e.Op) && !e.ReturnBool {
			if !keep {
				continue
			}
			v = l.v
		}
		out = append(out, sample{lbls: resultLabels(s.lbls, o.lbls, e.Matching), v: v})
	}
	return out, nil
}

func side(right bool) string {
	if right {
		return "left"
	}
	return "right"
}

// resultLabels: one-to-one keeps the matched labels (on) or drops the
// ignored ones; group_left/right keeps the many side's labels plus the
// included labels of the one side.
func resultLabels(many, one labels.Labels, m *VectorMatching) labels.Labels {
	if m == nil {
		return many
	}
	lb := labels.NewBuilder(many)
	if m.Card == "" {
		if m.On {
			lb.Keep(m.Labels...)
		} else {
			lb.Del(m.Labels...)
		}
		return lb.Labels()
	}
	for _, n := range m.Include {
		if v := one.Get(n); v != "" {
			lb.Set(n, v)
		} else {
			lb.Del(n)
		}
	}
	return lb.Labels()
}

func setOp(e *BinOpExpr, lhs, rhs []sample) []sample {
	var buf []byte
	rsig := map[string]bool{}
	for _, s := range rhs {
		buf = signature(s.lbls, e.Matching, buf[:0])
		rsig[string(buf)] = true
	}
	var out []sample
	switch e.Op {
	case "and", "unless":
		for _, s := range lhs {
			buf = signature(s.lbls, e.Matching, buf[:0])
			if rsig[string(buf)] == (e.Op == "and") {
				out = append(out, s)
			}
		}
	case "or":
		lsig := map[string]bool{}
		for _, s := range lhs {
			buf = signature(s.lbls, e.Matching, buf[:0])
			lsig[string(buf)] = true
			out = append(out, s)
		}
		for _, s := range rhs {
			buf = signature(s.lbls, e.Matching, buf[:0])
			if !lsig[string(buf)] {
				out = append(out, s)
			}
		}
	}
	return out
}
