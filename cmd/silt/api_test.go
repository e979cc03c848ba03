package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

func TestReadyMetricsBuildInfo(t *testing.T) {
	ts := startServer(t)
	if code, body := ts.do(t, http.MethodGet, "/ready", "", ""); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/ready = %d %q, want 200 ready", code, body)
	}
	ts.do(t, http.MethodGet, "/api/v1/topics", "", "") // so the HTTP metrics have a series
	code, body := ts.do(t, http.MethodGet, "/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		"go_goroutines", "process_cpu_seconds_total", "silt_build_info{",
		`silt_http_requests_total{code="200",method="GET",route="/api/v1/topics"} 1`,
		"silt_http_request_duration_seconds_bucket", "silt_segments_",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	var bi struct {
		Status string            `json:"status"`
		Data   map[string]string `json:"data"`
	}
	ts.getJSON(t, "/api/v1/status/buildinfo", &bi)
	if bi.Status != "success" {
		t.Errorf("buildinfo status = %q", bi.Status)
	}
	for _, k := range []string{"version", "revision", "branch", "buildUser", "buildDate", "goVersion"} {
		if bi.Data[k] == "" {
			t.Errorf("buildinfo data.%s is empty: %v", k, bi.Data)
		}
	}
}

func TestReadyIsUnavailableWhenNotRunning(t *testing.T) {
	a := &api{ready: func() bool { return false }}
	req := httptest.NewRequest(http.MethodGet, "/ready", nil)
	rec := httptest.NewRecorder()
	if err := a.handleReady(echo.New().NewContext(req, rec)); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/ready while starting = %d, want 503", rec.Code)
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	ts := startServer(t)
	code, body := ts.do(t, http.MethodPost, "/api/v1/topics", "application/json", `{"name":"orders","partitions":2}`)
	if code != http.StatusCreated {
		t.Fatalf("create topic: %d %s", code, body)
	}
	jsonBody := `{"records":[
		{"key":"k1","value":"first","headers":{"h":"v"},"timestamp":"2024-01-02T03:04:05.000000006Z","partition":1},
		{"value":"second","timestamp":1704164646000000000,"partition":1},
		{"value_base64":"/w==","partition":1}]}`
	code, body = ts.do(t, http.MethodPost, "/api/v1/topics/orders/records", "application/json", jsonBody)
	if want := `{"offsets":[{"partition":1,"base_offset":0,"count":3}]}`; code != http.StatusOK || strings.TrimSpace(body) != want {
		t.Fatalf("produce JSON = %d %s, want 200 %s", code, body, want)
	}
	code, body = ts.do(t, http.MethodPost, "/api/v1/topics/orders/records?partition=1&key=kk", "text/plain", "third\r\n\nfourth\n")
	if want := `{"offsets":[{"partition":1,"base_offset":3,"count":2}]}`; code != http.StatusOK || strings.TrimSpace(body) != want {
		t.Fatalf("produce text = %d %s, want 200 %s", code, body, want)
	}

	var got consumeResponse
	ts.getJSON(t, "/api/v1/topics/orders/partitions/1/records?offset=0", &got)
	if got.NextOffset != 5 || got.HighWatermark != 5 || got.LogStartOffset != 0 || len(got.Records) != 5 {
		t.Fatalf("consume = %+v", got)
	}
	r0 := got.Records[0]
	if *r0.Key != "k1" || *r0.Value != "first" || r0.Headers["h"] != "v" ||
		r0.Timestamp != 1704164645000000006 || r0.Time != "2024-01-02T03:04:05.000000006Z" {
		t.Errorf("record 0 = %+v", r0)
	}
	if r2 := got.Records[2]; r2.Value != nil || r2.ValueBase64 == nil || *r2.ValueBase64 != "/w==" {
		t.Errorf("binary record 2 = %+v, want value_base64 /w==", r2)
	}
	if r3, r4 := got.Records[3], got.Records[4]; *r3.Value != "third" || *r4.Value != "fourth" || *r4.Key != "kk" {
		t.Errorf("text records = %+v %+v", r3, r4)
	}

	ts.getJSON(t, "/api/v1/topics/orders/partitions/1/records?offset=1&limit=2", &got)
	if len(got.Records) != 2 || got.Records[0].Offset != 1 || got.NextOffset != 3 {
		t.Errorf("offset=1&limit=2: %+v", got)
	}
}

func TestConsumeByTime(t *testing.T) {
	ts := startServer(t)
	var recs []string
	for i := range 5 {
		recs = append(recs, fmt.Sprintf(`{"value":"v%d","timestamp":%d,"partition":0}`, i, int64(i+1)*1e9))
	}
	if code, body := ts.do(t, http.MethodPost, "/api/v1/topics/logs/records", "application/json",
		`{"records":[`+strings.Join(recs, ",")+`]}`); code != http.StatusOK {
		t.Fatalf("produce: %d %s", code, body)
	}
	tests := []struct {
		time        string
		wantFirst   int64
		wantRecords int
	}{
		{"0", 0, 5},
		{"3000000000", 2, 3},
		{"1970-01-01T00:00:03.5Z", 3, 2},
		{"9000000000", 5, 0},
	}
	for _, tc := range tests {
		t.Run(tc.time, func(t *testing.T) {
			var got consumeResponse
			ts.getJSON(t, "/api/v1/topics/logs/partitions/0/records?time="+tc.time, &got)
			if len(got.Records) != tc.wantRecords {
				t.Fatalf("got %d records, want %d", len(got.Records), tc.wantRecords)
			}
			if len(got.Records) > 0 && got.Records[0].Offset != tc.wantFirst {
				t.Errorf("first offset %d, want %d", got.Records[0].Offset, tc.wantFirst)
			}
			if len(got.Records) == 0 && got.NextOffset != tc.wantFirst {
				t.Errorf("next_offset %d, want %d", got.NextOffset, tc.wantFirst)
			}
		})
	}
}

func TestConsumeLongPoll(t *testing.T) {
	ts := startServer(t)
	type result struct {
		resp    consumeResponse
		elapsed time.Duration
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		var got consumeResponse
		code, body := ts.do(t, http.MethodGet, "/api/v1/topics/logs/partitions/2/records?offset=0&wait=10s", "", "")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &got) != nil {
			t.Errorf("long poll: %d %s", code, body)
		}
		done <- result{got, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("long poll returned before any append: %+v", r.resp)
	default:
	}
	if code, body := ts.do(t, http.MethodPost, "/api/v1/topics/logs/records?partition=2", "text/plain", "wake\n"); code != http.StatusOK {
		t.Fatalf("produce: %d %s", code, body)
	}
	r := <-done
	if len(r.resp.Records) != 1 || *r.resp.Records[0].Value != "wake" || r.elapsed > 5*time.Second {
		t.Errorf("long poll = %+v after %v", r.resp, r.elapsed)
	}

	// With nothing to read, the wait elapses and the answer is empty.
	start = time.Now()
	var got consumeResponse
	ts.getJSON(t, "/api/v1/topics/logs/partitions/2/records?offset=1&wait=300ms", &got)
	if el := time.Since(start); len(got.Records) != 0 || got.NextOffset != 1 || el < 300*time.Millisecond {
		t.Errorf("timed-out poll = %+v after %v", got, el)
	}
}

func TestTopicsAPI(t *testing.T) {
	ts := startServer(t, "-topics.builtin-partitions=2")
	tests := []struct {
		name, body string
		wantCode   int
		wantText   string
	}{
		{"create", `{"name":"a","partitions":3,"retention_ms":60000}`, http.StatusCreated, `"partition_count":3`},
		{"exists", `{"name":"a"}`, http.StatusConflict, `already has topic "a"`},
		{"builtin exists", `{"name":"logs"}`, http.StatusConflict, `already has topic "logs"`},
		{"bad name", `{"name":"a/b"}`, http.StatusBadRequest, "illegal character '/'"},
		{"too many partitions", `{"name":"b","partitions":5000}`, http.StatusBadRequest, "partitions must be between 1 and 1024"},
		{"unknown field", `{"name":"c","partitons":2}`, http.StatusBadRequest, `unknown field "partitons"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do(t, http.MethodPost, "/api/v1/topics", "application/json", tc.body)
			msg := errorText(body)
			if code == http.StatusCreated {
				msg = body
			}
			if code != tc.wantCode || !strings.Contains(msg, tc.wantText) {
				t.Errorf("= %d %s, want %d containing %q", code, body, tc.wantCode, tc.wantText)
			}
		})
	}
	var list topicListJSON
	ts.getJSON(t, "/api/v1/topics", &list)
	var names []string
	for _, tp := range list.Topics {
		names = append(names, fmt.Sprintf("%s/%d", tp.Name, len(tp.Partitions)))
	}
	if got, want := strings.Join(names, " "), "a/3 logs/2 metrics/2"; list.Tenant != "fake" || got != want {
		t.Errorf("topics of %q = %s, want fake: %s", list.Tenant, got, want)
	}
}

func TestDeleteTopicAPI(t *testing.T) {
	ts := startServer(t)
	if code, body := ts.do(t, http.MethodPost, "/api/v1/topics", "application/json", `{"name":"doomed","partitions":2}`); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, body := ts.do(t, http.MethodPost, "/api/v1/topics/doomed/records", "application/json", `{"records":[{"value":"x"}]}`); code >= 300 {
		t.Fatalf("produce: %d %s", code, body)
	}
	tests := []struct {
		name, topic string
		wantCode    int
		wantText    string
	}{
		{"delete", "doomed", http.StatusNoContent, ""},
		{"again", "doomed", http.StatusNotFound, `no topic "doomed"`},
		{"builtin", "logs", http.StatusBadRequest, "cannot be deleted"},
		{"bad name", "a..b%2F", http.StatusBadRequest, "illegal character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do(t, http.MethodDelete, "/api/v1/topics/"+tc.topic, "", "")
			if code != tc.wantCode || !strings.Contains(errorText(body), tc.wantText) {
				t.Errorf("= %d %s, want %d containing %q", code, body, tc.wantCode, tc.wantText)
			}
		})
	}
	if code, _ := ts.do(t, http.MethodGet, "/api/v1/topics/doomed", "", ""); code != http.StatusNotFound {
		t.Errorf("GET deleted topic: %d, want 404", code)
	}
}
