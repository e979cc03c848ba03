package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/siltlog/silt/search/logql"
)

// Rule languages of a group (FORMAT.md).
const (
	LangPromQL = "promql"
	LangLogQL  = "logql"
)

// rulesFile is a tenant's rules file as written (FORMAT.md).
type rulesFile struct {
	Groups []groupFile `yaml:"groups"`
}

type groupFile struct {
	Name     string     `yaml:"name"`
	Interval string     `yaml:"interval"`
	Lang     string     `yaml:"lang"`
	Rules    []ruleFile `yaml:"rules"`
}

type ruleFile struct {
	Record string            `yaml:"record"`
	Alert  string            `yaml:"alert"`
	Expr   string            `yaml:"expr"`
	Labels map[string]string `yaml:"labels"`
}

// groupSpec is a parsed, checked rule group.
type groupSpec struct {
	Name     string
	Interval time.Duration
	Lang     string
	Rules    []ruleSpec
}

type ruleSpec struct {
	Record string
	Expr   string
	Labels labels.Labels
	prom   parser.Expr
	logs   logql.SampleExpr
}

// parseRules decodes and checks a rules file; errors name the group and rule.
func parseRules(data []byte, defaultInterval time.Duration) ([]groupSpec, error) {
	var f rulesFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode: %w", err)
	}
	seen := map[string]bool{}
	out := make([]groupSpec, 0, len(f.Groups))
	for i, g := range f.Groups {
		if g.Name == "" {
			return nil, fmt.Errorf("group %d: name is missing", i+1)
		}
		if seen[g.Name] {
			return nil, fmt.Errorf("group %q: name used twice", g.Name)
		}
		seen[g.Name] = true
		spec, err := parseGroup(g, defaultInterval)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", g.Name, err)
		}
		out = append(out, spec)
	}
	return out, nil
}

func parseGroup(g groupFile, defaultInterval time.Duration) (groupSpec, error) {
	spec := groupSpec{Name: g.Name, Interval: defaultInterval, Lang: g.Lang}
	if g.Interval != "" {
		d, err := model.ParseDuration(g.Interval)
		if err != nil || d <= 0 {
			return spec, fmt.Errorf("interval %q is not a positive duration", g.Interval)
		}
		spec.Interval = time.Duration(d)
	}
	switch spec.Lang {
	case "":
		spec.Lang = LangPromQL
	case LangPromQL, LangLogQL:
	default:
		return spec, fmt.Errorf("lang %q: want promql or logql", g.Lang)
	}
	if len(g.Rules) == 0 {
		return spec, errors.New("no rules")
	}
	for i, r := range g.Rules {
		rs, err := parseRule(r, spec.Lang)
		if err != nil {
			return spec, fmt.Errorf("rule %d (%s): %w", i+1, r.Record+r.Alert, err)
		}
		spec.Rules = append(spec.Rules, rs)
	}
	return spec, nil
}

func parseRule(r ruleFile, lang string) (ruleSpec, error) {
	switch {
	case r.Alert != "":
		return ruleSpec{}, errors.New("alerting rules are not supported: silt evaluates recording rules only")
	case r.Record == "":
		return ruleSpec{}, errors.New("record is missing")
	case !model.LegacyValidation.IsValidMetricName(r.Record):
		return ruleSpec{}, fmt.Errorf("record %q is not a valid metric name", r.Record)
	case r.Expr == "":
		return ruleSpec{}, errors.New("expr is missing")
	}
	rs := ruleSpec{Record: r.Record, Expr: r.Expr}
	b := labels.NewScratchBuilder(len(r.Labels))
	for k, v := range r.Labels {
		if !model.LegacyValidation.IsValidLabelName(k) || k == model.MetricNameLabel {
			return rs, fmt.Errorf("label name %q is not valid here", k)
		}
		b.Add(k, v)
	}
	b.Sort()
	rs.Labels = b.Labels()
	var err error
	if lang == LangLogQL {
		rs.logs, err = logql.ParseSampleExpr(r.Expr)
	} else {
		rs.prom, err = parser.ParseExpr(r.Expr)
	}
	if err != nil {
		return rs, fmt.Errorf("expr: %w", err)
	}
	return rs, nil
}
