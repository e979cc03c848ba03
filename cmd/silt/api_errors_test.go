package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestProduceRejectsBadInput checks status, message and that a rejected
// request wrote nothing, with auth enabled.
func TestProduceRejectsBadInput(t *testing.T) {
	ts := startServer(t, "-auth.enabled=true", "-server.max-request-body-bytes=1000")
	tenant := []string{"X-Scope-OrgID", "acme"}
	const path = "/api/v1/topics/logs/records"
	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		header      []string
		wantCode    int
		wantText    string
	}{
		{"bad JSON", path, "application/json", `{"records":[{"value":"a"}`, tenant, 400, "invalid JSON body"},
		{"trailing data", path, "application/json", `{"records":[{"value":"a"}]} x`, tenant, 400, "unexpected data after the JSON object"},
		{"unknown field", path, "application/json", `{"records":[{"valu":"a"}]}`, tenant, 400, `unknown field "valu"`},
		{"missing value", path, "application/json", `{"records":[{"value":"ok"},{"key":"k"}]}`, tenant, 400, "record 1: missing value"},
		{"no records", path, "application/json", `{"records":[]}`, tenant, 400, "request has no records"},
		{"partition out of range, after a good record", path, "application/json",
			`{"records":[{"value":"ok","partition":0},{"value":"bad","partition":4}]}`, tenant, 400,
			`record 1: partition 4 does not exist: topic "logs" has partitions 0 to 3`},
		{"negative partition", path, "application/json", `{"records":[{"value":"a","partition":-1}]}`, tenant, 400, "partition -1 is negative"},
		{"bad timestamp", path, "application/json", `{"records":[{"value":"a","timestamp":"yesterday"}]}`, tenant, 400, `invalid timestamp "yesterday": want RFC 3339`},
		{"bad base64", path, "application/json", `{"records":[{"value_base64":"!!"}]}`, tenant, 400, "value_base64 is not valid base64"},
		{"text partition out of range", path + "?partition=7", "text/plain", "a\n", tenant, 400, "partition 7 does not exist"},
		{"text bad partition", path + "?partition=x", "text/plain", "a\n", tenant, 400, `invalid partition "x"`},
		{"unsupported content type", path, "application/xml", "<a/>", tenant, 400, `unsupported Content-Type "application/xml"`},
		{"oversized body", path, "text/plain", strings.Repeat("x", 1001), tenant, 413, "request body exceeds the limit of 1000 bytes"},
		{"unknown topic", "/api/v1/topics/nope/records", "text/plain", "a\n", tenant, 404, `tenant "acme" has no topic "nope"`},
		{"invalid topic name", "/api/v1/topics/..%2Fx/records", "text/plain", "a\n", tenant, 400, "invalid topic name"},
		{"missing tenant", path, "text/plain", "a\n", nil, 401, "X-Scope-OrgID"},
		{"invalid tenant", path, "text/plain", "a\n", []string{"X-Scope-OrgID", "a|b"}, 400, "illegal character '|'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do(t, http.MethodPost, tc.path, tc.contentType, tc.body, tc.header...)
			if msg := errorText(body); code != tc.wantCode || !strings.Contains(msg, tc.wantText) {
				t.Errorf("= %d %s, want %d {\"error\": ...%q...}", code, body, tc.wantCode, tc.wantText)
			}
			if n := ts.totalRecords(t, tenant...); n != 0 {
				t.Errorf("rejected request wrote %d records", n)
			}
		})
	}
}

func TestConsumeRejectsBadInput(t *testing.T) {
	ts := startServer(t, "-server.max-long-poll-wait=10s")
	if code, body := ts.do(t, http.MethodPost, "/api/v1/topics/logs/records?partition=0", "text/plain", "a\nb\n"); code != 200 {
		t.Fatalf("produce: %d %s", code, body)
	}
	const p0 = "/api/v1/topics/logs/partitions/0/records"
	tests := []struct {
		name, path string
		wantCode   int
		wantText   string
	}{
		{"offset past high watermark", p0 + "?offset=3", 416, "offset 3 is out of range: partition 0 of topic \"logs\" has offsets 0 (log start offset) to 2 (high watermark)"},
		{"negative offset", p0 + "?offset=-1", 416, "offset -1 is out of range"},
		{"bad offset", p0 + "?offset=x", 400, `invalid offset "x"`},
		{"offset and time", p0 + "?offset=0&time=0", 400, "set offset or time, not both"},
		{"bad time", p0 + "?time=soon", 400, `time: invalid timestamp "soon"`},
		{"limit too high", p0 + "?limit=10001", 400, "want an integer from 1 to 10000"},
		{"limit zero", p0 + "?limit=0", 400, "want an integer from 1 to 10000"},
		{"wait too long", p0 + "?wait=1m", 400, "wait 1m0s is longer than the maximum 10s"},
		{"bad wait", p0 + "?wait=forever", 400, `invalid wait "forever"`},
		{"partition out of range", "/api/v1/topics/logs/partitions/4/records", 404, "topic \"logs\" has partitions 0..3, got 4"},
		{"bad partition", "/api/v1/topics/logs/partitions/x/records", 400, `invalid partition "x"`},
		{"unknown topic", "/api/v1/topics/nope/partitions/0/records", 404, "topic not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do(t, http.MethodGet, tc.path, "", "")
			if msg := errorText(body); code != tc.wantCode || !strings.Contains(msg, tc.wantText) {
				t.Errorf("= %d %s, want %d containing %q", code, body, tc.wantCode, tc.wantText)
			}
		})
	}
}

func TestTenantIsolationOverHTTP(t *testing.T) {
	ts := startServer(t, "-auth.enabled=true")
	for _, tenant := range []string{"alice", "bob"} {
		code, body := ts.do(t, http.MethodPost, "/api/v1/topics/logs/records?partition=0", "text/plain", "from "+tenant+"\n", "X-Scope-OrgID", tenant)
		if code != 200 {
			t.Fatalf("produce as %s: %d %s", tenant, code, body)
		}
	}
	for _, tenant := range []string{"alice", "bob"} {
		var got consumeResponse
		ts.getJSON(t, "/api/v1/topics/logs/partitions/0/records", &got, "X-Scope-OrgID", tenant)
		if len(got.Records) != 1 || *got.Records[0].Value != "from "+tenant {
			t.Errorf("%s reads %+v, want only its own record", tenant, got.Records)
		}
	}
}

func TestUnknownRoutes(t *testing.T) {
	ts := startServer(t)
	tests := []struct {
		method, path string
		wantCode     int
	}{
		{http.MethodGet, "/nope", http.StatusNotFound},
		{http.MethodDelete, "/api/v1/topics", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/topics/logs/records", http.StatusMethodNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			code, body := ts.do(t, tc.method, tc.path, "", "")
			if code != tc.wantCode || errorText(body) == "" {
				t.Errorf("= %d %s, want %d with a JSON error", code, body, tc.wantCode)
			}
		})
	}
}
