package search

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/prometheus/model/labels"
	"go.uber.org/goleak"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// bleve starts its analysis workers once, at package init, for the process.
// The 4M-line benchmark keeps its store across sub-benchmarks; it is closed
// before goroutines are checked.
func TestMain(m *testing.M) {
	code := m.Run()
	closeLoghub4M()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// pushed is one line pushed in a fixture, for brute-force comparison.
type pushed struct {
	ts     int64
	line   string
	labels labels.Labels
}

// fixture pushes the loghub lines (or synthetic ones when the corpus is absent)
// as streams {app=<file>, host=h<k>} with timestamps 1 ms apart, out of order
// by up to 50 ms, through the real distributor.
func fixture(t *testing.T) (*Searcher, []pushed) {
	t.Helper()
	var tcfg topics.Config
	tcfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	seg := segments.DefaultConfig()
	seg.SegmentBytes = 1 << 20 // several segments, some compacted
	seg.HotBytes = 1 << 20
	store := topics.NewStore(t.TempDir(), tcfg, seg, slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), store) })
	var icfg ingest.Config
	icfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	d := ingest.NewDistributor(icfg, store, ingest.NewMetrics(nil), nil)

	base := time.Now().Add(-time.Hour).UnixNano()
	var all []pushed
	for fi, f := range corpusFiles(t) {
		app := strings.TrimSuffix(filepath.Base(f.name), "_2k.log")
		req := &ingest.PushRequest{Tenant: "t1"}
		for h := 0; h < 2; h++ {
			ls := ingest.Labels{{Name: "app", Value: app}, {Name: "host", Value: fmt.Sprintf("h%d", h)}}
			s := ingest.Stream{Labels: ls}
			for i, line := range f.lines {
				if i%2 != h {
					continue
				}
				ts := base + int64(i)*1e6 - int64((i*7919+fi)%50)*1e6
				s.Entries = append(s.Entries, ingest.Entry{Timestamp: ts, Line: line})
				all = append(all, pushed{ts, line, labels.FromStrings("app", app, "host", fmt.Sprintf("h%d", h))})
			}
			req.Streams = append(req.Streams, s)
		}
		if err := d.Push(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	return NewSearcher(Config{MaxSelectEntries: 1 << 20}, store), all
}

type corpusFile struct {
	name  string
	lines []string
}

func corpusFiles(t testing.TB) []corpusFile {
	files, _ := filepath.Glob("../../shared/data/loghub/*.log")
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the loghub corpus is missing (../shared/data/loghub)")
		}
		t.Skip("the loghub corpus is missing (../shared/data/loghub)")
	}
	var out []corpusFile
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, l := range strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
		out = append(out, corpusFile{f, lines})
	}
	return out
}

func TestSelectLogsMatchesBruteForce(t *testing.T) {
	s, all := fixture(t)
	minTs, maxTs := all[0].ts, all[0].ts
	for _, p := range all {
		minTs, maxTs = min(minTs, p.ts), max(maxTs, p.ts)
	}
	mid := minTs + (maxTs-minTs)/2
	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	re := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchRegexp, n, v) }
	cases := []struct {
		name    string
		m       []*labels.Matcher
		start   int64
		end     int64
		filters []logql.LineFilter
	}{
		{"one app, all time", []*labels.Matcher{eq("app", "HDFS")}, minTs, maxTs + 1, nil},
		{"regex apps, second half", []*labels.Matcher{re("app", "Open.*")}, mid, maxTs + 1, nil},
		{"host and word", []*labels.Matcher{eq("host", "h1")}, minTs, mid, []logql.LineFilter{{Op: "|=", Value: "ERROR"}}},
		{"not word", []*labels.Matcher{re("app", ".+")}, minTs, maxTs + 1, []logql.LineFilter{{Op: "!=", Value: "INFO"}}},
		{"regex filter", []*labels.Matcher{re("app", "Linux|Apache")}, minTs, maxTs + 1, []logql.LineFilter{{Op: "|~", Value: `\d+\.\d+\.\d+\.\d+`}}},
		{"empty window", []*labels.Matcher{eq("app", "HDFS")}, maxTs + 1, maxTs + 2, nil},
	}
	for _, tc := range cases {
		for _, dir := range []logql.Direction{logql.Forward, logql.Backward} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, dir), func(t *testing.T) {
				it, err := s.Querier("t1").SelectLogs(context.Background(), logql.SelectParams{
					Matchers: tc.m, Start: tc.start, End: tc.end, Direction: dir, LineFilters: tc.filters})
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int{}
				var prev int64
				n := 0
				for ; it.Next(); n++ {
					e := it.At()
					if n > 0 && ((dir == logql.Forward && e.Timestamp < prev) || (dir == logql.Backward && e.Timestamp > prev)) {
						t.Fatalf("entry %d out of order", n)
					}
					prev = e.Timestamp
					got[e.Labels.String()+e.Line+fmt.Sprint(e.Timestamp)]++
				}
				want := bruteForce(all, tc.m, tc.start, tc.end, tc.filters)
				if n != len(want) {
					t.Fatalf("selected %d entries, brute force %d", n, len(want))
				}
				for k, c := range want {
					if got[k] != c {
						t.Fatalf("entry %q: selected %d times, want %d", k, got[k], c)
					}
				}
			})
		}
	}
}

func bruteForce(all []pushed, ms []*labels.Matcher, start, end int64, fs []logql.LineFilter) map[string]int {
	keep, _ := compileFilters(fs)
	out := map[string]int{}
next:
	for _, p := range bruteSelect(all, ms, start, end) {
		for _, f := range keep {
			if !f([]byte(p.line)) {
				continue next
			}
		}
		out[p.labels.String()+p.line+fmt.Sprint(p.ts)]++
	}
	return out
}

func TestSelectLogsRefusesHugeSelections(t *testing.T) {
	s, _ := fixture(t)
	s.cfg.MaxSelectEntries = 10
	it, err := s.Querier("t1").SelectLogs(context.Background(), logql.SelectParams{
		Matchers: []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "app", ".+")},
		Start:    0, End: 1 << 62})
	if err == nil {
		for it.Next() {
		}
		err = it.Err()
	}
	if err == nil || !strings.Contains(err.Error(), "max-select-entries") {
		t.Fatalf("err = %v", err)
	}
}
