package logql

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var testData = []Entry{
	ent(sec(10), `app="api",host="h1"`, `level=info method=GET status=200 latency=15ms size=1KB msg="ok"`),
	ent(sec(20), `app="api",host="h1"`, `level=error method=POST status=500 latency=250ms size=2KB msg="boom"`),
	ent(sec(30), `app="api",host="h2"`, `level=info method=GET status=404 latency=5ms size=512B msg="not found"`),
	ent(sec(40), `app="api",host="h2"`, `level=warn method=GET status=200 latency=1.5s size=3KB msg="slow"`),
	ent(sec(50), `app="api",host="h1"`, `level=error method=GET status=503 latency=2s size=10B msg="unavailable"`),
	ent(sec(15), `app="web",host="h1"`, `{"level":"info","status":200,"req":{"path":"/","dur":0.5},"tags":["a","b"]}`),
	ent(sec(25), `app="web",host="h1"`, `{"level":"error","status":500,"req":{"path":"/x","dur":1.5}}`),
	ent(sec(35), `app="web",host="h2"`, `not json at all`),
	ent(sec(12), `app="raw"`, `2024-01-01 INFO starting server`),
	ent(sec(22), `app="raw"`, `2024-01-01 ERROR connection refused`),
	ent(sec(32), `app="raw"`, "\x1b[31mWARN\x1b[0m disk almost full"),
	ent(sec(42), `app="raw"`, `something happened`, "trace_id", "abc"),
	ent(sec(45), `app="otel",service_name="svc"`, `hello`, "severity", "DEBUG"),
	ent(sec(55), `app="packed"`, `{"_entry":"inner line","pod":"p1","n":3}`),
}

type evalCase struct {
	name  string
	query string
	// kind: "log" (range [0,100s) unless set), "instant" (at end, default
	// 60s) or "range" (start..end by step).
	kind            string
	start, end      float64 // seconds
	step, interval  time.Duration
	limit           int
	dir             Direction
	want            string
	wantErrContains string
}

func runCase(t *testing.T, tc evalCase) (Result, error) {
	t.Helper()
	eng := NewEngine(&memQuerier{entries: testData}, EngineOpts{})
	p := QueryParams{Query: tc.query, Limit: tc.limit, Direction: tc.dir, Step: tc.step, Interval: tc.interval}
	switch tc.kind {
	case "log":
		p.Start, p.End = sec(tc.start), sec(tc.end)
		if tc.end == 0 {
			p.End = sec(100)
		}
	case "instant":
		p.Instant = true
		p.Start, p.End = sec(tc.end), sec(tc.end)
		if tc.end == 0 {
			p.Start, p.End = sec(60), sec(60)
		}
	case "range":
		p.Start, p.End = sec(tc.start), sec(tc.end)
	}
	return eng.Query(context.Background(), p)
}

func renderResult(r Result) string {
	var parts []string
	switch r.Type {
	case ResultStreams:
		for _, s := range r.Streams {
			var lines []string
			for _, e := range s.Entries {
				lines = append(lines, e.Line)
			}
			parts = append(parts, s.Labels.String()+": "+strings.Join(lines, " | "))
		}
	case ResultVector:
		for _, s := range r.Vector {
			parts = append(parts, fmt.Sprintf("%s=%g", s.Labels.String(), s.V))
		}
	case ResultMatrix:
		for _, s := range r.Matrix {
			var pts []string
			for _, p := range s.Points {
				pts = append(pts, fmt.Sprintf("%d:%g", p.T/1000, p.V))
			}
			parts = append(parts, s.Labels.String()+"=["+strings.Join(pts, " ")+"]")
		}
	case ResultScalar:
		return fmt.Sprintf("scalar %g", r.Scalar.V)
	}
	return strings.Join(parts, "; ")
}

// dumpEval, when set by TestMain-less helper runs, collects results instead
// of comparing them (used only while writing new cases).
var dumpEval map[string]string

func TestEval(t *testing.T) {
	if os.Getenv("LOGQL_DUMP_EVAL") != "" {
		dumpEval = map[string]string{}
		defer func() {
			b, _ := json.MarshalIndent(dumpEval, "", " ")
			_ = os.WriteFile(os.Getenv("LOGQL_DUMP_EVAL"), b, 0o644)
			dumpEval = nil
		}()
	}
	for _, tc := range evalCases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := runCase(t, tc)
			if tc.wantErrContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrContains) {
					t.Fatalf("err = %v, want one containing %q (result %s)", err, tc.wantErrContains, renderResult(r))
				}
				return
			}
			if err != nil {
				t.Fatalf("Query(%q): %v", tc.query, err)
			}
			got := renderResult(r)
			if dumpEval != nil {
				dumpEval[tc.name] = got
				return
			}
			if got != tc.want {
				t.Fatalf("Query(%q)\n got  %s\n want %s", tc.query, got, tc.want)
			}
		})
	}
}

func TestPushdownAndCancel(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  []LineFilter
	}{
		{"filters before parser", `{app="api"} |= "a" != "b" | logfmt |= "c"`, []LineFilter{{"|=", "a"}, {"!=", "b"}, {"|=", "c"}}},
		{"stops at line_format", `{app="api"} |~ "x" | line_format "{{.a}}" |= "y"`, []LineFilter{{"|~", "x"}}},
		{"or alternatives are not pushed", `{app="api"} |= "a" or "b" !~ "c"`, []LineFilter{{"!~", "c"}}},
		{"metric query", `count_over_time({app="api"} |= "boom" [1m])`, []LineFilter{{"|=", "boom"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mq := &memQuerier{entries: testData}
			eng := NewEngine(mq, EngineOpts{})
			if _, err := eng.Query(context.Background(), QueryParams{Query: tc.query, End: sec(100)}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(mq.lastSel.LineFilters) != fmt.Sprint(tc.want) {
				t.Fatalf("pushdown = %v, want %v", mq.lastSel.LineFilters, tc.want)
			}
		})
	}
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		eng := NewEngine(&memQuerier{entries: testData}, EngineOpts{})
		_, err := eng.Query(ctx, QueryParams{Query: `sum(count_over_time({app="api"}[1m]))`, Instant: true, End: sec(60)})
		if err == nil {
			t.Fatal("want context error")
		}
	})
	t.Run("max entries limit", func(t *testing.T) {
		eng := NewEngine(&memQuerier{entries: testData}, EngineOpts{MaxEntriesLimit: 10})
		_, err := eng.Query(context.Background(), QueryParams{Query: `{app="api"}`, End: sec(100), Limit: 11})
		if err == nil || !strings.Contains(err.Error(), "max entries limit") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("categories", func(t *testing.T) {
		eng := NewEngine(&memQuerier{entries: testData}, EngineOpts{})
		r, err := eng.Query(context.Background(), QueryParams{Query: `{app="raw"} |= "happened" | regexp "(?P<word>\\w+)"`, End: sec(100)})
		if err != nil || len(r.Streams) != 1 {
			t.Fatalf("%v %v", r, err)
		}
		s := r.Streams[0]
		e := s.Entries[0]
		if s.StreamLabels.String() != `{app="raw"}` || e.Metadata.String() != `{trace_id="abc"}` || e.Parsed.String() != `{word="something"}` {
			t.Fatalf("stream %s metadata %s parsed %s", s.StreamLabels, e.Metadata, e.Parsed)
		}
	})
}
