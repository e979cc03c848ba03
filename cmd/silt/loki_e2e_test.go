package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLokiPushThenQuery pushes through the Loki push API and reads the lines
// back through the Loki query API of the same server, as Grafana would.
func TestLokiPushThenQuery(t *testing.T) {
	ts := startServer(t)
	now := time.Now().UnixNano()
	body := fmt.Sprintf(`{"streams":[{"stream":{"app":"shop","env":"prod"},"values":[["%d","order 1 paid"],["%d","order 2 failed"],["%d","order 3 paid"]]}]}`,
		now-3e9, now-2e9, now-1e9)
	if code, resp := ts.do(t, http.MethodPost, "/loki/api/v1/push", "application/json", body); code != http.StatusNoContent {
		t.Fatalf("push: %d %s", code, resp)
	}
	q := url.Values{"query": {`{app="shop"} |= "paid"`}, "since": {"1h"}, "direction": {"forward"}}
	code, resp := ts.do(t, http.MethodGet, "/loki/api/v1/query_range?"+q.Encode(), "", "")
	if code != http.StatusOK || !strings.Contains(resp, `"values":[["`+fmt.Sprint(now-3e9)+`","order 1 paid"],["`+fmt.Sprint(now-1e9)+`","order 3 paid"]]`) {
		t.Fatalf("query_range: %d %s", code, resp)
	}
	if code, resp := ts.do(t, http.MethodGet, "/loki/api/v1/label/env/values?since=1h", "", ""); code != 200 || !strings.Contains(resp, `"data":["prod"]`) {
		t.Fatalf("label values: %d %s", code, resp)
	}
	if code, resp := ts.do(t, http.MethodGet, "/loki/api/v1/status/buildinfo", "", ""); code != 200 || !strings.Contains(resp, `"version"`) {
		t.Fatalf("buildinfo: %d %s", code, resp)
	}
}
