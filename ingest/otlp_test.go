package ingest

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// otlpTestLogs builds two resources: one with stream attributes, scope and
// every kind of attribute; one without service.name.
func otlpTestLogs(ts time.Time) plog.Logs {
	logs := plog.NewLogs()
	rl := logs.ResourceLogs().AppendEmpty()
	res := rl.Resource().Attributes()
	res.PutStr("service.name", "checkout")
	res.PutStr("k8s.namespace.name", "shop")
	res.PutStr("k8s.pod.name", "checkout-7f9c")
	res.PutStr("host.name", "node-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/shop/checkout")
	sl.Scope().SetVersion("1.2.3")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Second)))
	lr.Body().SetStr("order placed")
	lr.SetSeverityText("INFO")
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	lr.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	lr.Attributes().PutInt("order.id", 42)
	lr.Attributes().PutBool("paid", true)
	lr.Attributes().PutEmptyMap("http").PutStr("method", "POST")
	lr.Attributes().PutEmptySlice("items").AppendEmpty().SetStr("book")
	lr2 := sl.LogRecords().AppendEmpty()
	lr2.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(2 * time.Second)))
	lr2.Body().SetEmptyMap().PutStr("event", "shipped")

	rl2 := logs.ResourceLogs().AppendEmpty()
	rl2.Resource().Attributes().PutStr("deployment.environment", "prod")
	lr3 := rl2.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr3.SetTimestamp(pcommon.NewTimestampFromTime(ts.Add(3 * time.Second)))
	lr3.Body().SetInt(7)
	return logs
}

func otlpTestWant(ts time.Time) []string {
	ns := func(d time.Duration) string { return strconv.FormatInt(ts.Add(d).UnixNano(), 10) }
	return []string{
		`{deployment_environment="prod", service_name="unknown_service"} ` + ns(3*time.Second) + ` "7" {}`,
		`{k8s_namespace_name="shop", service_name="checkout"} ` + ns(0) + ` "order placed" {k8s_pod_name=checkout-7f9c host_name=node-1 scope_name=github.com/shop/checkout scope_version=1.2.3 order_id=42 paid=true http_method=POST items=["book"] trace_id=0102030405060708090a0b0c0d0e0f10 span_id=0102030405060708 severity_text=INFO severity_number=9}`,
		`{k8s_namespace_name="shop", service_name="checkout"} ` + ns(2*time.Second) + ` "{\"event\":\"shipped\"}" {k8s_pod_name=checkout-7f9c host_name=node-1 scope_name=github.com/shop/checkout scope_version=1.2.3}`,
	}
}

func TestOTLPRoundTrip(t *testing.T) {
	ts := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	req := plogotlp.NewExportRequestFromLogs(otlpTestLogs(ts))
	pb, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	js, err := req.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// pdata writes 64-bit ints as strings; the same request with them as numbers.
	jsNumbers := regexp.MustCompile(`"(timeUnixNano|observedTimeUnixNano|intValue)":"(\d+)"`).ReplaceAllString(string(js), `"$1":$2`)
	if jsNumbers == string(js) || !strings.Contains(string(js), `"intValue":"42"`) {
		t.Fatalf("JSON did not change: %s", js)
	}
	for _, tc := range []struct {
		name, path, ct string
		body           []byte
		gzip           bool
	}{
		{"protobuf", "/v1/logs", "application/x-protobuf", pb, false},
		{"protobuf gzip", "/otlp/v1/logs", "application/x-protobuf", pb, true},
		{"json string ints", "/otlp/v1/logs", "application/json", js, false},
		{"json number ints", "/v1/logs", "application/json; charset=utf-8", []byte(jsNumbers), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRWServer(t)
			h := http.Header{"Content-Type": {tc.ct}}
			body := tc.body
			if tc.gzip {
				body = gzipped(t, body)
				h.Set("Content-Encoding", "gzip")
			}
			code, hdr, resp := s.post(tc.path, h, body)
			if code != http.StatusOK || hdr.Get("Content-Type") != otlpMediaTypeOf(tc.ct) {
				t.Fatalf("status %d, Content-Type %q: %s", code, hdr.Get("Content-Type"), resp)
			}
			er := plogotlp.NewExportResponse()
			if otlpMediaTypeOf(tc.ct) == otlpProtobuf {
				err = er.UnmarshalProto(resp)
			} else {
				err = er.UnmarshalJSON(resp)
			}
			if err != nil {
				t.Fatalf("response %q: %v", resp, err)
			}
			rwDiffLines(t, s.logDump(), otlpTestWant(ts))
		})
	}
}

// otlpMediaTypeOf strips parameters from a Content-Type.
func otlpMediaTypeOf(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(mt)
}

func TestOTLPErrorStatus(t *testing.T) {
	s := newRWServer(t, func(c *Config) { c.Limits.IngestionRateMB, c.Limits.IngestionBurstSizeMB = 1e-6, 1e-6 })
	pb, err := plogotlp.NewExportRequestFromLogs(otlpTestLogs(time.Now())).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	code, hdr, resp := s.post("/v1/logs", http.Header{"Content-Type": {otlpProtobuf}}, pb)
	var st spb.Status
	if err := proto.Unmarshal(resp, &st); err != nil || code != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" ||
		hdr.Get("Content-Type") != otlpProtobuf || !strings.Contains(st.Message, "rate limit") || st.Code != 8 {
		t.Fatalf("status %d, headers %v, body %q (%v)", code, hdr, resp, err)
	}
	if n := s.total(); n != 0 {
		t.Fatalf("%d records written", n)
	}
}

func fuzzOTLP(f *testing.F, mediaType string, seed func(plogotlp.ExportRequest) ([]byte, error)) {
	b, err := seed(plogotlp.NewExportRequestFromLogs(otlpTestLogs(time.Unix(1714557600, 0))))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeOTLP(mediaType, body)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			return
		}
		for _, s := range req.Streams {
			if len(s.Labels) == 0 || len(s.Entries) == 0 {
				t.Fatalf("stream %v with %d entries", s.Labels, len(s.Entries))
			}
		}
	})
}

func FuzzOTLPProtobuf(f *testing.F) {
	fuzzOTLP(f, otlpProtobuf, plogotlp.ExportRequest.MarshalProto)
}

func FuzzOTLPJSON(f *testing.F) {
	f.Add([]byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":1,"body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":"1"}}]}}}]}]}]}`))
	fuzzOTLP(f, otlpJSON, plogotlp.ExportRequest.MarshalJSON)
}
