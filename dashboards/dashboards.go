// Package dashboards holds silt's Grafana dashboards (JSON, provisioned by
// deploy/grafana) and reads their queries back for the tests that check
// them: every PromQL expression must parse and select only metrics silt
// exports, every LogQL expression must parse with silt's LogQL parser.
package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Files are the dashboards, one JSON file each.
//
//go:embed *.json
var Files embed.FS

// Query languages of a target, by its data source type.
const (
	PromQL = "prometheus"
	LogQL  = "loki"
)

// Query is one target of one panel.
type Query struct {
	Dashboard, Panel string
	Lang             string // PromQL or LogQL
	Raw              string // as written, with Grafana variables
	Expr             string // variables substituted, ready to parse
}

// Dashboard is what the tests need of a dashboard file.
type Dashboard struct {
	File, Title string
	Panels      int
	Queries     []Query
}

// panelJSON is the part of a Grafana panel this package reads; a generic
// decode (not a strict schema) so no panel kind is silently dropped.
type panelJSON struct {
	Title      string          `json:"title"`
	Type       string          `json:"type"`
	Datasource *datasourceJSON `json:"datasource"`
	Targets    []struct {
		Expr       string          `json:"expr"`
		Datasource *datasourceJSON `json:"datasource"`
	} `json:"targets"`
	Panels []panelJSON `json:"panels"` // a collapsed row's panels
}

type datasourceJSON struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Load decodes every dashboard.
func Load() ([]Dashboard, error) {
	names, err := fs.Glob(Files, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Dashboard
	for _, name := range names {
		data, err := Files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var d struct {
			Title  string      `json:"title"`
			Panels []panelJSON `json:"panels"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		db := Dashboard{File: name, Title: d.Title}
		db.walk(d.Panels)
		out = append(out, db)
	}
	return out, nil
}

func (db *Dashboard) walk(panels []panelJSON) {
	for _, p := range panels {
		db.walk(p.Panels)
		if p.Type == "row" {
			continue
		}
		db.Panels++
		for _, t := range p.Targets {
			ds := t.Datasource
			if ds == nil {
				ds = p.Datasource
			}
			lang := ""
			if ds != nil {
				lang = ds.Type
			}
			db.Queries = append(db.Queries, Query{Dashboard: db.File, Panel: p.Title, Lang: lang, Raw: t.Expr, Expr: Substitute(t.Expr)})
		}
	}
}

// variables are Grafana's built-in variables and the dashboards' own, with
// values that make a valid query.
var variables = map[string]string{
	"__rate_interval": "1m", "__interval": "15s", "__auto": "1m", "__range": "1h",
	"__interval_ms": "15000", "__range_s": "3600",
	"job": ".*", "tenant": ".*", "service": ".+",
}

var variableRE = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// Substitute replaces Grafana variables ($x, ${x}, ${x:fmt}) with values that
// parse; an unknown variable is left as is, so the query fails to parse.
func Substitute(expr string) string {
	return variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := variables[name]; ok {
			return v
		}
		return m
	})
}

// MetricNames returns the metric names a PromQL expression selects.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name != "" {
				seen[name] = true
			}
		}
		return nil
	})
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// BaseName is the metric family of a series name in /metrics output: a
// histogram's x_bucket, x_sum and x_count are all x.
func BaseName(series string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if b, ok := strings.CutSuffix(series, s); ok {
			return b
		}
	}
	return series
}
