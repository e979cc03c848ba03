package search

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenBase is the fixed time of the golden data: 2024-05-01T12:00:00Z.
var goldenBase = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// goldenServer serves the Loki API over fixed data at fixed times, with "now"
// an hour after the data, so every answer is the same on every run:
//
//	{app="api",env="prod"}  logfmt lines every 20s for 5 minutes, levels info/error, trace_id metadata
//	{app="db",env="prod"}   JSON lines every 60s, levels warn/info
//	{app="api",env="dev"}   plain access lines every 30s
func goldenServer(t *testing.T) string {
	t.Helper()
	s, d := emptySearcher(t, 2)
	base := goldenBase.UnixNano()
	sec := int64(time.Second)
	api := ingest.Stream{Labels: ingest.Labels{{Name: "app", Value: "api"}, {Name: "env", Value: "prod"}}}
	for i := 0; i < 15; i++ {
		level, msg := "info", "request served"
		if i%5 == 4 {
			level, msg = "error", "upstream timeout"
		}
		api.Entries = append(api.Entries, ingest.Entry{
			Timestamp: base + int64(i)*20*sec,
			Line:      fmt.Sprintf(`level=%s msg="%s" path=/v1/items/%d duration=%dms`, level, msg, i%3, 10+i*7),
			Metadata:  []segments.Header{{Key: "trace_id", Value: []byte(fmt.Sprintf("t%02d", i%4))}},
		})
	}
	db := ingest.Stream{Labels: ingest.Labels{{Name: "app", Value: "db"}, {Name: "env", Value: "prod"}}}
	for i := 0; i < 5; i++ {
		level := []string{"warn", "info"}[i%2]
		db.Entries = append(db.Entries, ingest.Entry{
			Timestamp: base + int64(i)*60*sec + 5*sec,
			Line:      fmt.Sprintf(`{"level":"%s","msg":"query done","rows":%d,"slow":%t}`, level, i*100, i%2 == 0),
		})
	}
	dev := ingest.Stream{Labels: ingest.Labels{{Name: "app", Value: "api"}, {Name: "env", Value: "dev"}}}
	for i := 0; i < 10; i++ {
		dev.Entries = append(dev.Entries, ingest.Entry{
			Timestamp: base + int64(i)*30*sec + 7*sec,
			Line:      fmt.Sprintf("GET /health %d %dus", []int{200, 200, 503}[i%3], 100+i),
		})
	}
	req := &ingest.PushRequest{Tenant: "t1", Streams: []ingest.Stream{api, db, dev}}
	if err := d.Push(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	a := NewAPI(s, func(*http.Request) (string, error) { return "t1", nil })
	a.now = func() time.Time { return goldenBase.Add(time.Hour) }
	e := echo.New()
	for _, r := range a.Routes() {
		e.Add(r.Method, strings.NewReplacer("{", ":", "}", "").Replace(r.Path), echo.WrapHandler(r.Handler))
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL
}

// goldenCase is one request to the Loki API and what its answer must be.
type goldenCase struct {
	name       string // also the golden file: testdata/golden/<name>.json
	method     string
	path       string
	form       url.Values
	header     []string
	status     int
	envelope   bool   // {"status":"success","data":...}
	resultType string // data.resultType, when the answer has one
}

func goldenCases() []goldenCase {
	ns := func(d time.Duration) string { return fmt.Sprint(goldenBase.Add(d).UnixNano()) }
	rng := func(kv ...string) url.Values {
		v := url.Values{"start": {ns(-time.Minute)}, "end": {ns(10 * time.Minute)}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	const v1 = "/loki/api/v1"
	// The context of the api line at +2m (i=6), as Grafana asks for it.
	line := 2 * time.Minute
	return []goldenCase{
		{"query_health_check", "GET", v1 + "/query", url.Values{"query": {"vector(1)+vector(1)"}}, nil, 200, true, "vector"},
		{"query_instant_vector", "GET", v1 + "/query", url.Values{"query": {`sum by (app) (count_over_time({env="prod"}[5m]))`}, "time": {ns(5 * time.Minute)}}, nil, 200, true, "vector"},
		{"query_range_streams", "GET", v1 + "/query_range", rng("query", `{app="api"} |= "timeout"`, "limit", "5"), nil, 200, true, "streams"},
		{"query_range_streams_categorized", "GET", v1 + "/query_range", rng("query", `{app="db"} | json | rows > 100`, "limit", "5"),
			[]string{"X-Loki-Response-Encoding-Flags", "categorize-labels"}, 200, true, "streams"},
		{"query_range_matrix", "GET", v1 + "/query_range", rng("query", `sum by (env) (count_over_time({app="api"}[1m]))`, "step", "60"), nil, 200, true, "matrix"},
		{"query_range_logs_volume", "GET", v1 + "/query_range",
			rng("query", `sum by (level, detected_level) (count_over_time({env="prod"} | drop __error__ [1m]))`, "step", "60"), nil, 200, true, "matrix"},
		{"query_range_context_backward", "GET", v1 + "/query_range", url.Values{
			"query": {`{app="api",env="prod"}`}, "direction": {"backward"}, "limit": {"3"},
			"start": {ns(line - 2*time.Hour)}, "end": {ns(line)}}, nil, 200, true, "streams"},
		{"query_range_context_forward", "GET", v1 + "/query_range", url.Values{
			"query": {`{app="api",env="prod"}`}, "direction": {"forward"}, "limit": {"3"},
			"start": {ns(line)}, "end": {ns(line + 2*time.Hour)}}, nil, 200, true, "streams"},
		{"query_range_parse_error", "GET", v1 + "/query_range", rng("query", `{app="api"} |= `), nil, 400, false, ""},
		{"labels", "GET", v1 + "/labels", rng(), nil, 200, true, ""},
		{"label_values", "GET", v1 + "/label/app/values", rng(), nil, 200, true, ""},
		{"label_values_selected", "GET", v1 + "/label/env/values", rng("query", `{app="db"}`), nil, 200, true, ""},
		{"series_get", "GET", v1 + "/series", rng("match[]", `{app="api"}`), nil, 200, true, ""},
		{"series_post_form", "POST", v1 + "/series", url.Values{"start": {ns(-time.Minute)}, "end": {ns(10 * time.Minute)},
			"match[]": {`{app="db"}`, `{env="dev"}`}}, nil, 200, true, ""},
		{"index_stats", "GET", v1 + "/index/stats", rng("query", `{env="prod"}`), nil, 200, false, ""},
		{"index_volume", "GET", v1 + "/index/volume", rng("query", `{app=~".+"}`), nil, 200, true, "vector"},
		{"index_volume_range", "GET", v1 + "/index/volume_range", rng("query", `{env="prod"}`, "step", "120"), nil, 200, true, "matrix"},
		{"detected_labels", "GET", v1 + "/detected_labels", rng("query", `{env=~".+"}`), nil, 200, false, ""},
		{"detected_fields", "GET", v1 + "/detected_fields", rng("query", `{env="prod"}`), nil, 200, false, ""},
		{"detected_field_values", "GET", v1 + "/detected_field/level/values", rng("query", `{env="prod"}`), nil, 200, false, ""},
		{"patterns", "GET", v1 + "/patterns", rng("query", `{app="api"}`, "step", "60s"), nil, 200, true, ""},
		{"format_query", "GET", v1 + "/format_query", url.Values{"query": {`{app="api"}|="a"   |  logfmt|level="error"`}}, nil, 200, true, ""},
	}
}

// TestLokiGolden pins the answer of every Loki endpoint silt serves (except
// /tail, see loki_tail_test.go, and /status/buildinfo, served by cmd/silt and
// pinned there) to a golden file. Run with -update to rewrite them after an
// intended change, and review the diff.
func TestLokiGolden(t *testing.T) {
	srv := goldenServer(t)
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			status, ctype, body := goldenRequest(t, srv, tc)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			doc := map[string]any{"request": tc.method + " " + tc.path + "?" + tc.form.Encode(), "status": status}
			if strings.HasPrefix(ctype, "application/json") {
				v := decodeGolden(t, body)
				checkEnvelope(t, v, tc)
				doc["body"] = normalizeGolden(v, "")
			} else {
				doc["body"] = string(body)
			}
			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".json"), doc)
		})
	}
}

func goldenRequest(t *testing.T, srv string, tc goldenCase) (int, string, []byte) {
	t.Helper()
	var req *http.Request
	var err error
	if tc.method == http.MethodPost {
		req, err = http.NewRequest(tc.method, srv+tc.path, strings.NewReader(tc.form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(tc.method, srv+tc.path+"?"+tc.form.Encode(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(tc.header); i += 2 {
		req.Header.Set(tc.header[i], tc.header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func decodeGolden(t *testing.T, body []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers as sent
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

// checkEnvelope checks what Grafana looks at first: status and resultType.
func checkEnvelope(t *testing.T, v any, tc goldenCase) {
	t.Helper()
	obj, _ := v.(map[string]any)
	if !tc.envelope {
		if _, ok := obj["status"]; ok {
			t.Errorf("answer has a status envelope; Loki sends this one without")
		}
		return
	}
	if obj["status"] != "success" {
		t.Fatalf("status %v, want success", obj["status"])
	}
	data, isObj := obj["data"].(map[string]any)
	if got := data["resultType"]; tc.resultType != "" && (!isObj || got != tc.resultType) {
		t.Fatalf("data.resultType %v, want %s", got, tc.resultType)
	}
}

// normalizeGolden zeroes what may change between runs: the timings of a
// stats object (keys ending in Time or Seconds), as Loki reports them.
func normalizeGolden(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if key == "stats" || strings.Contains(key, "stats.") {
				if strings.HasSuffix(k, "Time") || strings.HasSuffix(k, "Seconds") {
					x[k] = 0
					continue
				}
				x[k] = normalizeGolden(e, key+"."+k)
				continue
			}
			x[k] = normalizeGolden(e, k)
		}
	case []any:
		for i, e := range x {
			x[i] = normalizeGolden(e, key)
		}
	}
	return v
}

// compareGolden compares doc, indented, with the golden file, or rewrites
// the file with -update.
func compareGolden(t *testing.T, path string, doc any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep <_> and & readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestLokiGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("answer differs from %s (if intended, rerun with -update and review the diff):\n%s", path, lineDiff(string(want), string(got)))
	}
}

// lineDiff shows the first differing lines of want and got.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, w, g)
		}
	}
	return "(no line differs)"
}
