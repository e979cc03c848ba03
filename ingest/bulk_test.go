package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

var bulkNDJSON = http.Header{"Content-Type": {"application/x-ndjson"}}

func TestBulkRoundTrip(t *testing.T) {
	ts := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	rfc, ms := ts.Format(time.RFC3339Nano), ts.UnixMilli()
	body := strings.Join([]string{
		`{"index":{"_index":"app-logs","_id":"a1"}}`,
		`{"@timestamp":"` + rfc + `","message":"first","host":{"name":"h1"},"log":{"level":"info"},"n":12345678901234567890,"ok":true,"tags":["x","y"],"none":null}`,
		``,
		`{"create":{}}`,
		`{"@timestamp":` + bulkInt(ms) + `,"msg":"second","service.name":"api","host.name":"h1"}`,
		`   `,
		`{"index":{"_index":"app-logs"}}`,
		`{"@timestamp":"` + rfc + `","log":"third from log","message":{"not":"a string"}}`,
		`{"index":{}}`,
		`{"@timestamp":"` + rfc + `","level":"warn","count":3}`,
		`{"delete":{"_index":"app-logs","_id":"gone"}}`,
		`{"update":{"_id":"u1"}}`,
		`{"doc":{"a":1}}`,
		``,
	}, "\n")
	ns := ts.UnixNano()
	want := []string{
		`{host="h1", index="app-logs"} ` + bulkInt(ns) + ` "first" {log.level=info n=12345678901234567890 ok=true tags=["x","y"]}`,
		`{host="h1", index="url-index", service_name="api"} ` + bulkInt(ns) + ` "second" {}`,
		`{index="app-logs"} ` + bulkInt(ns) + ` "third from log" {message.not=a string}`,
		`{index="url-index"} ` + bulkInt(ns) + ` "{\"@timestamp\":\"` + rfc + `\",\"level\":\"warn\",\"count\":3}" {}`,
	}
	for _, tc := range []struct {
		name   string
		path   string
		header http.Header
		gzip   bool
	}{
		{"plain", "/url-index/_bulk", bulkNDJSON, false},
		{"gzip", "/url-index/_bulk", http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Content-Encoding": {"gzip"}}, true},
		{"no content type", "/url-index/_bulk", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRWServer(t)
			b := []byte(body)
			if tc.gzip {
				b = gzipped(t, b)
			}
			code, hdr, resp := s.post(tc.path, tc.header, b)
			if code != http.StatusOK || hdr.Get("X-Elastic-Product") != "Elasticsearch" {
				t.Fatalf("status %d, headers %v: %s", code, hdr, resp)
			}
			checkBulkItems(t, resp, []string{
				"index app-logs a1 201", "create url-index * 201", "index app-logs * 201", "index url-index * 201",
				"delete app-logs gone 400", "update url-index u1 400",
			})
			rwDiffLines(t, s.logDump(), want)
		})
	}
}

func bulkInt(v int64) string { b, _ := json.Marshal(v); return string(b) }

// checkBulkItems compares the response items as "action index id status"
// ("*" matches a generated 20-character id).
func checkBulkItems(t *testing.T, resp []byte, want []string) {
	t.Helper()
	var r struct {
		Took   *int64                                  `json:"took"`
		Errors bool                                    `json:"errors"`
		Items  []map[string]map[string]json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || r.Took == nil {
		t.Fatalf("response %s: %v", resp, err)
	}
	wantErrors := false
	if len(r.Items) != len(want) {
		t.Fatalf("%d items, want %d: %s", len(r.Items), len(want), resp)
	}
	for i, item := range r.Items {
		f := strings.Fields(want[i])
		wantErrors = wantErrors || f[3] != "201"
		res, ok := item[f[0]]
		if !ok || len(item) != 1 {
			t.Errorf("item %d: %v, want a %s item", i, item, f[0])
			continue
		}
		var index, id string
		var status int
		_ = json.Unmarshal(res["_index"], &index)
		_ = json.Unmarshal(res["_id"], &id)
		_ = json.Unmarshal(res["status"], &status)
		if index != f[1] || (f[2] == "*" && len(id) != 20) || (f[2] != "*" && id != f[2]) || bulkInt(int64(status)) != f[3] {
			t.Errorf("item %d: %s %s %d, want %s", i, index, id, status, want[i])
		}
		if status == 201 {
			for _, k := range []string{"_version", "result", "_seq_no", "_primary_term", "_shards"} {
				if res[k] == nil {
					t.Errorf("item %d has no %s: %v", i, k, item)
				}
			}
		} else if res["error"] == nil {
			t.Errorf("failed item %d has no error: %v", i, item)
		}
	}
	if r.Errors != wantErrors {
		t.Errorf("errors %v, want %v", r.Errors, wantErrors)
	}
}

func TestBulkStreamFieldsConfig(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: DefaultBulkStreamFields, want: "host.name=host service.name=service_name"},
		{in: " kubernetes.namespace , app = application ,", want: "kubernetes.namespace=kubernetes_namespace app=application"},
		{in: "", want: ""},
		{in: "a=index", err: "used twice"},
		{in: "a=x,b=x", err: "used twice"},
		{in: "a=1x", err: "not a valid label name"},
		{in: "=x", err: "empty field"},
	} {
		c := BulkConfig{StreamFields: tc.in}
		err := c.Validate()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		fields, _ := parseBulkStreamFields(tc.in)
		var got []string
		for _, f := range fields {
			got = append(got, f.field+"="+f.label)
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%q: %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestBulkTimestamps(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want int64
	}{
		{"2024-05-01T10:00:00Z", 1714557600e9},
		{"2024-05-01T10:00:00.123456789+02:00", 1714550400123456789},
		{"2024-05-01T10:00:00.5+0200", 1714550400500000000},
		{"2024-05-01T10:00:00", 1714557600e9},
		{"2024-05-01", 1714521600e9},
		{json.Number("1714557600123"), 1714557600123e6},
		{json.Number("1714557600123.5"), 1714557600123500000},
	} {
		got, err := parseBulkTimestamp(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%v: %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []any{"yesterday", json.Number("-5"), json.Number("1e30"), true, nil, []any{"x"}} {
		if _, err := parseBulkTimestamp(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestBulkESProbes(t *testing.T) {
	s := newRWServer(t)
	for _, tc := range []struct {
		method, path, want string
	}{
		{http.MethodGet, "/", `"number":"8.11.0"`},
		{http.MethodGet, "/", `"tagline":"You Know, for Search"`},
		{http.MethodGet, "/", `"build_flavor":"default"`},
		{http.MethodHead, "/", ""},
		{http.MethodGet, "/_license", `"type":"basic"`},
		{http.MethodGet, "/_cat/health", " green "},
	} {
		req, _ := http.NewRequest(tc.method, s.srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Elastic-Product") != "Elasticsearch" || !strings.Contains(buf.String(), tc.want) {
			t.Errorf("%s %s: %d %v %s, want %q", tc.method, tc.path, resp.StatusCode, resp.Header, buf.String(), tc.want)
		}
	}
}

func TestBulkPushErrors(t *testing.T) {
	s := newRWServer(t, func(c *Config) { c.Limits.MaxLineSize = 10 })
	body := "{\"index\":{\"_index\":\"x\"}}\n{\"message\":\"a line longer than ten bytes\"}\n"
	code, hdr, resp := s.post("/_bulk", bulkNDJSON, []byte(body))
	var r struct {
		Error struct {
			RootCause []map[string]string `json:"root_cause"`
			Type      string              `json:"type"`
			Reason    string              `json:"reason"`
		} `json:"error"`
		Status int `json:"status"`
	}
	if err := json.Unmarshal(resp, &r); err != nil || code != 400 || r.Status != 400 || hdr.Get("X-Elastic-Product") != "Elasticsearch" ||
		r.Error.Type != "illegal_argument_exception" || !strings.Contains(r.Error.Reason, "over the limit of 10") || len(r.Error.RootCause) != 1 {
		t.Fatalf("status %d: %s (%v)", code, resp, err)
	}

	// 429 and 503 carry Retry-After.
	s = newRWServer(t, func(c *Config) { c.Limits.IngestionRateMB, c.Limits.IngestionBurstSizeMB = 1e-6, 1e-6 })
	code, hdr, resp = s.post("/_bulk", bulkNDJSON, []byte("{\"index\":{\"_index\":\"x\"}}\n{\"message\":\"hello\"}\n"))
	if code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" || !strings.Contains(string(resp), "es_rejected_execution_exception") {
		t.Fatalf("status %d, headers %v: %s", code, hdr, resp)
	}
	if n := s.total(); n != 0 {
		t.Fatalf("%d records written", n)
	}
}

func FuzzBulk(f *testing.F) {
	f.Add([]byte(`{"index":{"_index":"a","_id":"1"}}` + "\n" + `{"@timestamp":"2024-05-01T10:00:00Z","message":"m","host":{"name":"h"}}` + "\n"))
	f.Add([]byte(`{"create":{}}` + "\n" + `{"@timestamp":1714557600123.5,"log":"x","a":[1,{"b":null}]}` + "\n\n" + `{"delete":{"_id":"x"}}` + "\n"))
	f.Add([]byte(`{"update":{}}` + "\n" + `{"doc":{}}` + "\n" + `{"index":{}}` + "\n" + `{}`))
	f.Add([]byte("\n\n{\"index\":1}\n[]"))
	fields, err := parseBulkStreamFields(DefaultBulkStreamFields)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, items, err := decodeBulk(fields, "fuzz", body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			return
		}
		lines, _ := req.Lines()
		ok := 0
		for _, it := range items {
			if it.err == nil {
				ok++
			}
		}
		if len(items) == 0 || ok != lines {
			t.Fatalf("%d items, %d stored, %d entries", len(items), ok, lines)
		}
		for _, s := range req.Streams {
			if len(s.Labels) == 0 || s.Labels[0].Name != "index" || s.Labels[0].Value == "" {
				t.Fatalf("stream labels %v", s.Labels)
			}
		}
	})
}
