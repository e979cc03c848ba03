package search

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// emptySearcher returns a Searcher over a new store whose logs topic has the
// given partitions, and a distributor to push into it that takes entries of
// any age.
func emptySearcher(t *testing.T, partitions int) (*Searcher, *ingest.Distributor) {
	t.Helper()
	var tcfg topics.Config
	tcfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	tcfg.BuiltinPartitions = partitions
	store := topics.NewStore(t.TempDir(), tcfg, segments.DefaultConfig(), slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), store) })
	var icfg ingest.Config
	icfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	icfg.Limits.RejectOldSamplesMaxAge = 0 // fixed past timestamps make stable answers
	return NewSearcher(Config{MaxSelectEntries: 1 << 20}, store), ingest.NewDistributor(icfg, store, ingest.NewMetrics(nil), nil)
}

func serveAPI(t *testing.T, s *Searcher) string {
	a := NewAPI(s, func(*http.Request) (string, error) { return "t1", nil })
	e := echo.New()
	for _, r := range a.Routes() {
		e.Add(r.Method, strings.NewReplacer("{", ":", "}", "").Replace(r.Path), echo.WrapHandler(r.Handler))
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

// getJSON GETs path with form and decodes a 200 answer into out; it returns
// the status and body.
func getJSON(t *testing.T, base, path string, form url.Values, out any) (int, string) {
	t.Helper()
	resp, err := http.Get(base + path + "?" + form.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
	}
	return resp.StatusCode, string(body)
}

type searchPage struct {
	Entries []struct {
		Timestamp string            `json:"timestamp"`
		Labels    map[string]string `json:"labels"`
		Line      string            `json:"line"`
		Metadata  map[string]string `json:"metadata"`
	} `json:"entries"`
	NextCursor string `json:"next_cursor"`
}

// TestSearchPagination pages through 100,000 matching lines of four streams,
// ten lines per timestamp, 1000 at a time: each line comes exactly once,
// newest first, and non-matching lines never. The -race -short run pages
// through 10,000 lines, as each page scans the partitions again.
func TestSearchPagination(t *testing.T) {
	s, d := emptySearcher(t, 4)
	const streams, perTS = 4, 10
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	base := time.Now().Add(-time.Hour).UnixNano()
	req := &ingest.PushRequest{Tenant: "t1"}
	for k := 0; k < streams; k++ {
		req.Streams = append(req.Streams, ingest.Stream{Labels: ingest.Labels{{Name: "app", Value: "pg"}, {Name: "shard", Value: fmt.Sprint(k)}}})
	}
	for i := 0; i < n; i++ {
		st := &req.Streams[i%streams]
		ts := base + int64(i/perTS)*int64(time.Millisecond)
		st.Entries = append(st.Entries, ingest.Entry{Timestamp: ts, Line: fmt.Sprintf("match line %d", i)},
			ingest.Entry{Timestamp: ts, Line: fmt.Sprintf("other line %d", i)})
	}
	if err := d.Push(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	srv := serveAPI(t, s)
	seen := make([]bool, n)
	form := url.Values{"query": {`{app="pg"} |= "match"`}, "since": {"2h"}, "limit": {"1000"}}
	prev, total, pages := int64(1<<62), 0, 0
	for ; ; pages++ {
		var page searchPage
		if status, body := getJSON(t, srv, "/api/v1/search", form, &page); status != 200 {
			t.Fatalf("page %d: %d %s", pages, status, body)
		}
		for _, e := range page.Entries {
			var i int
			if _, err := fmt.Sscanf(e.Line, "match line %d", &i); err != nil || i < 0 || i >= n {
				t.Fatalf("unexpected line %q", e.Line)
			}
			if seen[i] {
				t.Fatalf("line %d returned twice (page %d)", i, pages)
			}
			seen[i] = true
			var ts int64
			fmt.Sscan(e.Timestamp, &ts)
			if ts > prev {
				t.Fatalf("page %d: entry at %d after one at %d: not newest first", pages, ts, prev)
			}
			prev = ts
		}
		total += len(page.Entries)
		if page.NextCursor == "" {
			break
		}
		if len(page.Entries) != 1000 {
			t.Fatalf("page %d has %d entries and a cursor", pages, len(page.Entries))
		}
		form.Set("cursor", page.NextCursor)
	}
	if total != n {
		t.Fatalf("paged %d entries in %d pages, want %d", total, pages, n)
	}
}

func nativeFixture(t *testing.T) (string, int64) {
	s, d := emptySearcher(t, 1)
	base := time.Now().Add(-time.Hour).Truncate(time.Hour).Add(-time.Hour).UnixNano()
	min := int64(time.Minute)
	req := &ingest.PushRequest{Tenant: "t1", Streams: []ingest.Stream{
		{Labels: ingest.Labels{{Name: "app", Value: "api"}}, Entries: []ingest.Entry{
			{Timestamp: base, Line: "level=error msg=boom", Metadata: []segments.Header{{Key: "trace", Value: []byte("a")}}},
			{Timestamp: base + min, Line: "level=info msg=ok", Metadata: []segments.Header{{Key: "trace", Value: []byte("b")}}},
			{Timestamp: base + 6*min, Line: "level=error msg=again", Metadata: []segments.Header{{Key: "trace", Value: []byte("a")}}},
		}},
		{Labels: ingest.Labels{{Name: "app", Value: "db"}}, Entries: []ingest.Entry{
			{Timestamp: base + 2*min, Line: "level=error msg=disk"},
		}},
	}}
	if err := d.Push(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	return serveAPI(t, s), base
}

func TestNativeEndpoints(t *testing.T) {
	srv, base := nativeFixture(t)
	rng := func(q string, kv ...string) url.Values {
		v := url.Values{"query": {q}, "start": {fmt.Sprint(base)}, "end": {fmt.Sprint(base + int64(time.Hour))}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	cases := []struct {
		name, path string
		form       url.Values
		status     int
		want       string // JSON of the answer, or a substring of the error
	}{
		{"search pipeline", "/api/v1/search", rng(`{app=~".+"} | logfmt | level="error" | line_format "{{.msg}}"`, "limit", "2"), 200,
			`"line":"again"`},
		{"search bad query", "/api/v1/search", rng(`{app=}`), 400, "parse error at line 1"},
		{"search bad limit", "/api/v1/search", rng(`{app="api"}`, "limit", "0"), 400, "limit must be"},
		{"search bad cursor", "/api/v1/search", rng(`{app="api"}`, "cursor", "!!"), 400, "cursor"},
		{"hits", "/api/v1/hits", rng(`{app=~".+"} |= "error"`), 200,
			fmt.Sprintf(`{"hits":[{"labels":{},"timestamps":["%s","%s"],"values":[2,1]}],"total":3}`,
				time.Unix(0, base).UTC().Format(time.RFC3339Nano), time.Unix(0, base+5*int64(time.Minute)).UTC().Format(time.RFC3339Nano))},
		{"hits by app", "/api/v1/hits", rng(`{app=~".+"}`, "step", "1h", "by", "app"), 200,
			fmt.Sprintf(`{"hits":[{"labels":{"app":"api"},"timestamps":["%[1]s"],"values":[3]},{"labels":{"app":"db"},"timestamps":["%[1]s"],"values":[1]}],"total":4}`,
				time.Unix(0, base).UTC().Format(time.RFC3339Nano))},
		{"hits bad step", "/api/v1/hits", rng(`{app="api"}`, "step", "-1m"), 400, "step must be"},
		{"facets", "/api/v1/facets", rng(`{app=~".+"}`, "limit", "1"), 200,
			`{"facets":[{"field":"app","kind":"label","values":[{"value":"api","hits":3}]},{"field":"trace","kind":"metadata","values":[{"value":"a","hits":2}]}]}`},
		{"context", "/api/v1/context", url.Values{"topic": {"logs"}, "partition": {"0"}, "offset": {"1"}, "before": {"1"}, "after": {"1"}}, 200,
			`"offset":0`},
		{"context unknown topic", "/api/v1/context", url.Values{"topic": {"nope"}, "offset": {"0"}}, 404, "not found"},
		{"context bad offset", "/api/v1/context", url.Values{"offset": {"x"}}, 400, "offset must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := getJSON(t, srv, tc.path, tc.form, nil)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("%d %s\nwant %d with %s", status, body, tc.status, tc.want)
			}
		})
	}
}

// TestContextOrder checks that /context returns before+1+after records of a
// partition in offset order, fewer at its start.
func TestContextOrder(t *testing.T) {
	srv, _ := nativeFixture(t)
	var got struct {
		Records []struct {
			Offset int64  `json:"offset"`
			Line   string `json:"line"`
		} `json:"records"`
	}
	if status, body := getJSON(t, srv, "/api/v1/context", url.Values{"offset": {"1"}, "before": {"5"}, "after": {"1"}}, &got); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if len(got.Records) != 3 {
		t.Fatalf("got %+v, want offsets 0..2", got.Records)
	}
	for i, r := range got.Records {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}
