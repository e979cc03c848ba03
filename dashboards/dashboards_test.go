package dashboards

import (
	"strings"
	"testing"

	"github.com/siltlog/silt/search/logql"
)

// TestDashboardsParse: both dashboards decode with panels and targets,
// every PromQL expression parses with Prometheus' parser and selects
// silt's (or the Go and process collectors') metrics, every LogQL
// expression parses with silt's LogQL parser. The live check against a
// running silt's /metrics is cmd/silt's TestDashboardsAgainstSilt.
func TestDashboardsParse(t *testing.T) {
	dbs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"silt-overview.json": true, "silt-logs.json": true}
	for _, db := range dbs {
		delete(want, db.File)
		if db.Panels == 0 || len(db.Queries) == 0 {
			t.Errorf("%s: %d panels, %d queries", db.File, db.Panels, len(db.Queries))
		}
		for _, q := range db.Queries {
			switch q.Lang {
			case PromQL:
				names, err := MetricNames(q.Expr)
				if err != nil {
					t.Errorf("%s / %s: %q: %v", db.File, q.Panel, q.Expr, err)
					continue
				}
				if len(names) == 0 {
					t.Errorf("%s / %s: %q selects no metric by name", db.File, q.Panel, q.Expr)
				}
				for _, n := range names {
					if !strings.HasPrefix(n, "silt_") && !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
						t.Errorf("%s / %s: metric %s is not silt's", db.File, q.Panel, n)
					}
				}
			case LogQL:
				if _, err := logql.ParseExpr(q.Expr); err != nil {
					t.Errorf("%s / %s: %q: %v", db.File, q.Panel, q.Expr, err)
				}
			default:
				t.Errorf("%s / %s: target of data source type %q", db.File, q.Panel, q.Lang)
			}
		}
	}
	for f := range want {
		t.Errorf("dashboard %s is missing", f)
	}
}

func TestSubstitute(t *testing.T) {
	for in, want := range map[string]string{
		`rate(x{job=~"$job"}[$__rate_interval])`: `rate(x{job=~".*"}[1m])`,
		`{service_name=~"${service}"}`:           `{service_name=~".+"}`,
		`{a="${service:regex}"}`:                 `{a=".+"}`,
		`x[$unknown]`:                            `x[$unknown]`,
	} {
		if got := Substitute(in); got != want {
			t.Errorf("Substitute(%q) = %q, want %q", in, got, want)
		}
	}
}
