package metrics

import (
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// ruleGroupStatus is a group in /api/v1/rules (Prometheus' shape).
type ruleGroupStatus struct {
	Name           string     `json:"name"`
	File           string     `json:"file"`
	Rules          []ruleJSON `json:"rules"`
	Interval       float64    `json:"interval"`
	Limit          int        `json:"limit"`
	EvaluationTime float64    `json:"evaluationTime"`
	LastEvaluation time.Time  `json:"lastEvaluation"`
}

// ruleJSON is a recording rule in /api/v1/rules.
type ruleJSON struct {
	Name           string        `json:"name"`
	Query          string        `json:"query"`
	Labels         labels.Labels `json:"labels"`
	Health         string        `json:"health"`
	LastError      string        `json:"lastError,omitempty"`
	EvaluationTime float64       `json:"evaluationTime"`
	LastEvaluation time.Time     `json:"lastEvaluation"`
	Type           string        `json:"type"`
}

// status lists tenant's groups as /api/v1/rules shows them.
func (r *Rules) status(tenant string) []ruleGroupStatus {
	out := []ruleGroupStatus{}
	for _, g := range r.Groups(tenant) {
		g.mu.Lock()
		gs := ruleGroupStatus{
			Name: g.spec.Name, File: g.file, Rules: []ruleJSON{}, Interval: g.spec.Interval.Seconds(),
			EvaluationTime: g.evalTook.Seconds(), LastEvaluation: g.lastEval,
		}
		for i, rs := range g.spec.Rules {
			st := g.rules[i]
			gs.Rules = append(gs.Rules, ruleJSON{
				Name: rs.Record, Query: rs.Expr, Labels: rs.Labels, Health: st.health, LastError: st.lastErr,
				EvaluationTime: st.took.Seconds(), LastEvaluation: st.lastEval, Type: "recording",
			})
		}
		g.mu.Unlock()
		out = append(out, gs)
	}
	return out
}
