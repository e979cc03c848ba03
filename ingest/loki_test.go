package ingest

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/snappy"
)

// lokiProto marshals streams as a logproto PushRequest, uncompressed.
func lokiProto(t testing.TB, streams ...push.Stream) []byte {
	t.Helper()
	b, err := (&push.PushRequest{Streams: streams}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lokiJSONValue is one entry of a JSON push body: [ns, line] or [ns, line, md].
func lokiJSONValue(ts int64, line string, md map[string]string) []any {
	v := []any{fmt.Sprint(ts), line}
	if md != nil {
		v = append(v, md)
	}
	return v
}

func lokiJSON(t testing.TB, streams ...map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"streams": streams})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLokiPushRoundTrip(t *testing.T) {
	base := time.Now().Add(-time.Minute).UnixNano()
	t1, t2, t3 := base+1, base+1_000_000_007, base+2_000_000_123
	sm := push.LabelsAdapter{{Name: "trace_id", Value: "abc"}, {Name: "user", Value: "ünï"}}
	pbStreams := []push.Stream{
		{Labels: `{app="api", host="a1"}`, Entries: []push.Entry{
			{Timestamp: time.Unix(0, t1), Line: "first line"},
			{Timestamp: time.Unix(0, t2), Line: "second ✓ line", StructuredMetadata: sm},
		}},
		{Labels: `{host="b2",job="batch"}`, Entries: []push.Entry{{Timestamp: time.Unix(0, t3), Line: "job line"}}},
	}
	pbWant := []testRecord{
		{Key: `{app="api", host="a1", service_name="api"}`, Value: "first line", Timestamp: t1},
		{Key: `{app="api", host="a1", service_name="api"}`, Value: "second ✓ line", Timestamp: t2, Headers: []string{"trace_id=abc", "user=ünï"}},
		{Key: `{host="b2", job="batch", service_name="batch"}`, Value: "job line", Timestamp: t3},
	}
	jsonBody := lokiJSON(t,
		map[string]any{"stream": map[string]string{"app": "web", "service_name": "shop"}, "values": [][]any{
			lokiJSONValue(t1, "plain", nil),
			lokiJSONValue(t2, "with metadata \"quoted\" \u00e9", map[string]string{"trace_id": "abc", "span": "1"}),
		}},
		map[string]any{"stream": map[string]string{"env": "prod"}, "values": [][]any{lokiJSONValue(t3, "no service", nil)}},
	)
	jsonWant := []testRecord{
		{Key: `{app="web", service_name="shop"}`, Value: "plain", Timestamp: t1},
		{Key: `{app="web", service_name="shop"}`, Value: "with metadata \"quoted\" é", Timestamp: t2, Headers: []string{"span=1", "trace_id=abc"}},
		{Key: `{env="prod", service_name="unknown_service"}`, Value: "no service", Timestamp: t3},
	}
	pb := lokiProto(t, pbStreams...)
	tests := []struct {
		name    string
		body    []byte
		headers []string
		want    []testRecord
	}{
		{"protobuf snappy without Content-Encoding", snappy.Encode(nil, pb), []string{"Content-Type", contentProtobuf}, pbWant},
		{"protobuf with Content-Encoding snappy", snappy.Encode(nil, pb), []string{"Content-Type", contentProtobuf, "Content-Encoding", "snappy"}, pbWant},
		{"protobuf snappy inside gzip", gzipped(t, snappy.Encode(nil, pb)), []string{"Content-Type", contentProtobuf, "Content-Encoding", "gzip"}, pbWant},
		{"json", jsonBody, []string{"Content-Type", contentJSON}, jsonWant},
		{"json with charset", jsonBody, []string{"Content-Type", "application/json; charset=utf-8"}, jsonWant},
		{"json gzip", gzipped(t, jsonBody), []string{"Content-Type", contentJSON, "Content-Encoding", "gzip"}, jsonWant},
		{"json snappy", snappy.Encode(nil, jsonBody), []string{"Content-Type", contentJSON, "Content-Encoding", "snappy"}, jsonWant},
		{
			"both label spacing styles are one stream",
			snappy.Encode(nil, lokiProto(t,
				push.Stream{Labels: `{service_name="s", a="1"}`, Entries: []push.Entry{{Timestamp: time.Unix(0, t1), Line: "x"}}},
				push.Stream{Labels: ` { a = "1" ,service_name="s"} `, Entries: []push.Entry{{Timestamp: time.Unix(0, t2), Line: "y"}}},
			)),
			[]string{"Content-Type", contentProtobuf},
			[]testRecord{{Key: `{a="1", service_name="s"}`, Value: "x", Timestamp: t1}, {Key: `{a="1", service_name="s"}`, Value: "y", Timestamp: t2}},
		},
		{
			"escaped label values",
			snappy.Encode(nil, lokiProto(t, push.Stream{Labels: `{name="a\"b\\c\nd"}`, Entries: []push.Entry{{Timestamp: time.Unix(0, t1), Line: ""}}})),
			[]string{"Content-Type", contentProtobuf},
			[]testRecord{{Key: `{name="a\"b\\c\nd", service_name="a\"b\\c\nd"}`, Value: "", Timestamp: t1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			code, body := ts.post(t, lokiPushPath, tc.body, tc.headers...)
			if code != http.StatusNoContent || body != "" {
				t.Fatalf("push: %d %q, want 204 and no body", code, body)
			}
			got := testRecords(ts.readAll(t, DefaultTenant, "logs"))
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("records:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestLokiPushTenant(t *testing.T) {
	ts := newTestServer(t, nil, withAuth())
	now := time.Now().UnixNano()
	body := lokiJSON(t, map[string]any{"stream": map[string]string{"app": "a"}, "values": [][]any{lokiJSONValue(now, "for t1", nil)}})
	if code, msg := ts.post(t, lokiPushPath, body, "Content-Type", contentJSON, TenantHeader, "t1"); code != http.StatusNoContent {
		t.Fatalf("push: %d %s", code, msg)
	}
	if got := ts.readAll(t, "t1", "logs"); len(got) != 1 || string(got[0].Value) != "for t1" {
		t.Fatalf("tenant t1 has %+v", testRecords(got))
	}
	if got := ts.readAll(t, "t2", "logs"); len(got) != 0 {
		t.Fatalf("tenant t2 sees %+v", testRecords(got))
	}
}

// badInputCase is a request that must be refused with nothing written.
type badInputCase struct {
	name     string
	path     string
	headers  []string
	body     []byte
	cfg      func(*Config)
	auth     bool
	wantCode int
	wantText string
}

// runBadInputCases posts each case (to defaultPath when it names no path) and
// checks the answer and that nothing was written.
func runBadInputCases(t *testing.T, defaultPath string, tests []badInputCase) {
	t.Helper()
	for _, tc := range tests {
		if tc.path == "" {
			tc.path = defaultPath
		}
		t.Run(tc.name, func(t *testing.T) {
			var opts []testServerOption
			if tc.auth {
				opts = append(opts, withAuth())
			}
			ts := newTestServer(t, tc.cfg, opts...)
			code, body := ts.post(t, tc.path, tc.body, tc.headers...)
			if code != tc.wantCode || !strings.Contains(body, tc.wantText) {
				t.Fatalf("got %d %q, want %d containing %q", code, body, tc.wantCode, tc.wantText)
			}
			tenant := DefaultTenant
			for i := 0; i+1 < len(tc.headers); i += 2 {
				if tc.headers[i] == TenantHeader {
					tenant = tc.headers[i+1]
				}
			}
			if got := ts.readAll(t, tenant, "logs"); len(got) != 0 {
				t.Fatalf("a refused request wrote %d records: %+v", len(got), testRecords(got))
			}
		})
	}
}

func TestLokiPushBadInput(t *testing.T) {
	now := time.Now()
	entry := func(line string) []push.Entry { return []push.Entry{{Timestamp: now, Line: line}} }
	pbBody := func(streams ...push.Stream) []byte { return snappy.Encode(nil, lokiProto(t, streams...)) }
	pbHeaders := []string{"Content-Type", contentProtobuf}
	jsonHeaders := []string{"Content-Type", contentJSON}
	valid := lokiProto(t, push.Stream{Labels: `{app="a"}`, Entries: entry("a line that makes the message long enough")})
	manyLabels := make([]string, 10_000)
	for i := range manyLabels {
		manyLabels[i] = fmt.Sprintf("l%d=\"v\"", i)
	}
	snappyBomb := append(binary.AppendUvarint(nil, 1<<31), 0, 0, 0, 0)
	smallMax := func(c *Config) { c.MaxRequestBytes, c.MaxInflightBytes = 1<<20, 4<<20 }
	jsonValue := func(v string) []byte {
		return []byte(`{"streams":[{"stream":{"app":"a"},"values":[` + v + `]}]}`)
	}
	nowNs := fmt.Sprint(now.UnixNano())
	runBadInputCases(t, lokiPushPath, []badInputCase{
		{name: "truncated protobuf", body: snappy.Encode(nil, valid[:len(valid)-5]), headers: pbHeaders, wantCode: 400, wantText: "decoding the protobuf push request"},
		{name: "invalid snappy", body: []byte("this is not snappy at all"), headers: pbHeaders, wantCode: 400, wantText: "snappy body"},
		{name: "snappy bomb", body: snappyBomb, headers: pbHeaders, wantCode: 413, wantText: "snappy body decompresses to 2147483648 bytes"},
		{name: "gzip bomb", body: gzipped(t, make([]byte, 8<<20)), headers: []string{"Content-Type", contentJSON, "Content-Encoding", "gzip"}, cfg: smallMax, wantCode: 413, wantText: "gzip body decompresses to over 1048576 bytes"},
		{name: "line over the limit", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: entry(strings.Repeat("x", 101))}), headers: pbHeaders, cfg: func(c *Config) { c.Limits.MaxLineSize = 100 }, wantCode: 400, wantText: "line of 101 bytes is over the limit of 100"},
		{name: "invalid UTF-8 line", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: entry("bad \xff byte")}), headers: pbHeaders, wantCode: 400, wantText: "not valid UTF-8"},
		{name: "invalid UTF-8 metadata", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: []push.Entry{{Timestamp: now, Line: "x", StructuredMetadata: push.LabelsAdapter{{Name: "k", Value: "\xc3"}}}}}), headers: pbHeaders, wantCode: 400, wantText: `structured metadata "k" is not valid UTF-8`},
		{name: "10000 labels", body: pbBody(push.Stream{Labels: "{" + strings.Join(manyLabels, ", ") + "}", Entries: entry("x")}), headers: pbHeaders, wantCode: 400, wantText: "labels, over the limit of 15"},
		{name: "bad label name", body: pbBody(push.Stream{Labels: `{1app="a"}`, Entries: entry("x")}), headers: pbHeaders, wantCode: 400, wantText: `stream 0: labels "{1app=\"a\"}": invalid label name "1app"`},
		{name: "unparsable labels", body: pbBody(push.Stream{Labels: `app="a"`, Entries: entry("x")}), headers: pbHeaders, wantCode: 400, wantText: "want {name=\"value\", ...}"},
		{name: "no labels", body: pbBody(push.Stream{Labels: `{}`, Entries: entry("x")}), headers: pbHeaders, wantCode: 400, wantText: "stream 0: a stream needs at least one label"},
		{name: "missing tenant with auth", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: entry("x")}), headers: pbHeaders, auth: true, wantCode: 401, wantText: "no org id"},
		{name: "timestamp far in the future", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: []push.Entry{{Timestamp: now.Add(time.Hour), Line: "x"}}}), headers: pbHeaders, wantCode: 400, wantText: "in the future"},
		{name: "timestamp too old", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: []push.Entry{{Timestamp: now.Add(-30 * 24 * time.Hour), Line: "x"}}}), headers: pbHeaders, wantCode: 400, wantText: "is older than 168h0m0s"},
		{name: "zero timestamp", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: []push.Entry{{Line: "x"}}}), headers: pbHeaders, wantCode: 400, wantText: "stream 0, entry 0: timestamp 0001-01-01T00:00:00Z is not after 1970"},
		{name: "timestamp past 2262", body: pbBody(push.Stream{Labels: `{app="a"}`, Entries: []push.Entry{{Timestamp: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Line: "x"}}}), headers: pbHeaders, wantCode: 400, wantText: "is past 2262"},
		{name: "one bad stream refuses all", body: pbBody(push.Stream{Labels: `{app="good"}`, Entries: entry("ok")}, push.Stream{Labels: `{app="bad"}`, Entries: []push.Entry{{Timestamp: now.Add(time.Hour), Line: "x"}}}), headers: pbHeaders, wantCode: 400, wantText: "in the future"},
		{name: "empty body", body: nil, headers: pbHeaders, wantCode: 400, wantText: "empty request body"},
		{name: "wrong content type", body: []byte("hello"), headers: []string{"Content-Type", "text/plain"}, wantCode: 415, wantText: `unsupported Content-Type "text/plain"`},
		{name: "no content type", body: snappy.Encode(nil, valid), wantCode: 415, wantText: "send application/x-protobuf"},
		{name: "unsupported content encoding", body: snappy.Encode(nil, valid), headers: []string{"Content-Type", contentProtobuf, "Content-Encoding", "br"}, wantCode: 415, wantText: `unsupported Content-Encoding "br"`},
		{name: "malformed JSON", body: []byte(`{"streams":[{"stream":{"app":"a"},"values":[["1","x"]]}`), headers: jsonHeaders, wantCode: 400, wantText: "decoding the JSON push request"},
		{name: "JSON not an object", body: []byte(`[1,2]`), headers: jsonHeaders, wantCode: 400, wantText: "decoding the JSON push request"},
		{name: "JSON unknown top-level field", body: []byte(`{"streams":[],"foo":1}`), headers: jsonHeaders, wantCode: 400, wantText: `unknown field "foo"`},
		{name: "JSON without streams", body: []byte(`{}`), headers: jsonHeaders, wantCode: 400, wantText: `"streams" must be an array`},
		{name: "JSON legacy format", body: []byte(`{"streams":[{"labels":"{app=\"a\"}","entries":[]}]}`), headers: jsonHeaders, wantCode: 400, wantText: `stream 0: unknown field "entries"; the v1 push format is`},
		{name: "JSON non-string label value", body: []byte(`{"streams":[{"stream":{"app":1},"values":[]}]}`), headers: jsonHeaders, wantCode: 400, wantText: `stream 0: "stream" must be an object of string label values`},
		{name: "JSON wrong value arity", body: jsonValue(`["` + nowNs + `","ok"],["` + nowNs + `"]`), headers: jsonHeaders, wantCode: 400, wantText: "stream 0, value 1: has 1 elements"},
		{name: "JSON four elements", body: jsonValue(`["` + nowNs + `","x",{},"y"]`), headers: jsonHeaders, wantCode: 400, wantText: "stream 0, value 0: has 4 elements"},
		{name: "JSON value not an array", body: jsonValue(`"x"`), headers: jsonHeaders, wantCode: 400, wantText: "stream 0, value 0: want"},
		{name: "JSON non-string timestamp", body: jsonValue(`[` + nowNs + `,"x"]`), headers: jsonHeaders, wantCode: 400, wantText: "stream 0, value 0: the timestamp must be a string"},
		{name: "JSON non-integer timestamp", body: jsonValue(`["2024-01-01T00:00:00Z","x"]`), headers: jsonHeaders, wantCode: 400, wantText: "is not an integer count of nanoseconds"},
		{name: "JSON non-string line", body: jsonValue(`["` + nowNs + `",{"a":1}]`), headers: jsonHeaders, wantCode: 400, wantText: "stream 0, value 0: the log line must be a string"},
		{name: "JSON non-object metadata", body: jsonValue(`["` + nowNs + `","x",["a"]]`), headers: jsonHeaders, wantCode: 400, wantText: "stream 0, value 0: structured metadata must be an object"},
		{name: "JSON non-string metadata value", body: jsonValue(`["` + nowNs + `","x",{"a":1}]`), headers: jsonHeaders, wantCode: 400, wantText: "structured metadata must be an object of string values"},
		{name: "JSON invalid UTF-8", body: jsonValue(`["` + nowNs + "\",\"bad \xff\"]"), headers: jsonHeaders, wantCode: 400, wantText: "not valid UTF-8"},
		{name: "JSON bad label name", body: []byte(`{"streams":[{"stream":{"a-b":"x"},"values":[["` + nowNs + `","x"]]}]}`), headers: jsonHeaders, wantCode: 400, wantText: `invalid label name "a-b"`},
	})
}

// TestLokiProtobufMetadataOrder checks that protobuf structured metadata keeps
// the order the client sent.
func TestLokiProtobufMetadataOrder(t *testing.T) {
	now := time.Now()
	md := push.LabelsAdapter{{Name: "z", Value: "1"}, {Name: "a", Value: "2"}}
	req, err := decodeLokiProtobuf(lokiProto(t, push.Stream{Labels: `{app="a"}`, Entries: []push.Entry{{Timestamp: now, Line: "x", StructuredMetadata: md}}}))
	if err != nil {
		t.Fatal(err)
	}
	got := req.Streams[0].Entries[0].Metadata
	if len(got) != 2 || got[0].Key != "z" || got[1].Key != "a" {
		t.Fatalf("protobuf metadata order must be kept as sent, got %+v", got)
	}
}

func FuzzLokiProtobuf(f *testing.F) {
	now := time.Unix(1700000000, 123)
	f.Add(lokiProto(f, push.Stream{Labels: `{app="a", host="h"}`, Entries: []push.Entry{
		{Timestamp: now, Line: "line"},
		{Timestamp: now, Line: "md", StructuredMetadata: push.LabelsAdapter{{Name: "k", Value: "v"}}},
	}}))
	f.Add(lokiProto(f, push.Stream{Labels: `{a="1",b="2"}`}, push.Stream{Labels: `{}`}))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLokiRequest(t, decodeLokiProtobuf, data)
		if dec, err := DecodeSnappy(data, 1<<20); err == nil {
			checkLokiRequest(t, decodeLokiProtobuf, dec)
		}
	})
}

func FuzzLokiJSON(f *testing.F) {
	f.Add(lokiJSON(f, map[string]any{"stream": map[string]string{"app": "a"}, "values": [][]any{
		lokiJSONValue(1700000000000000000, "line", nil),
		lokiJSONValue(1700000000000000001, "md", map[string]string{"trace_id": "abc"}),
	}}))
	f.Add([]byte(`{"streams":[]}`))
	f.Add([]byte(`{"streams":[{"stream":{},"values":[["1","x",{"a":"\ud800"}]]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkLokiRequest(t, decodeLokiJSON, data)
	})
}

// checkLokiRequest decodes data and checks what any accepted request must hold.
func checkLokiRequest(t *testing.T, decode func([]byte) (*PushRequest, error), data []byte) {
	req, err := decode(data)
	if err != nil {
		if e := AsError(err); e.Status != 400 {
			t.Fatalf("decode error %v has status %d, want 400", err, e.Status)
		}
		return
	}
	for i, s := range req.Streams {
		if len(s.Labels) == 0 {
			t.Fatalf("stream %d: accepted without labels", i)
		}
		if _, ok := s.Labels.get(ServiceNameLabel); !ok {
			t.Fatalf("stream %d: no service_name in %v", i, s.Labels)
		}
		for j, e := range s.Entries {
			if e.Timestamp <= 0 {
				t.Fatalf("stream %d, entry %d: timestamp %d accepted", i, j, e.Timestamp)
			}
		}
	}
}
