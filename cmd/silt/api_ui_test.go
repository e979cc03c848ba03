package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/ui"
)

// TestRootServesBrowsersAndElasticsearch: GET / sends a browser to the UI
// and still answers an Elasticsearch client's version probe.
func TestRootServesBrowsersAndElasticsearch(t *testing.T) {
	ts := startServer(t)
	noRedirect := &http.Client{
		Transport:     ts.http.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tc := range []struct {
		method, accept string
		status         int
		want           string // in the Location header (redirect) or body
	}{
		{http.MethodGet, "text/html,application/xhtml+xml,*/*;q=0.8", http.StatusFound, ui.Prefix},
		{http.MethodGet, "application/json", http.StatusOK, `"tagline":"You Know, for Search"`},
		{http.MethodGet, "application/vnd.elasticsearch+json; compatible-with=8", http.StatusOK, `"number":"8.11.0"`},
		{http.MethodGet, "", http.StatusOK, `"tagline":"You Know, for Search"`},
		{http.MethodHead, "text/html", http.StatusOK, ""},
	} {
		req, _ := http.NewRequest(tc.method, ts.url+"/", nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := string(body)
		if tc.status == http.StatusFound {
			got = resp.Header.Get("Location")
		}
		if resp.StatusCode != tc.status || !strings.Contains(got, tc.want) {
			t.Errorf("%s / Accept %q: %d %q, want %d with %q", tc.method, tc.accept, resp.StatusCode, got, tc.status, tc.want)
		}
	}
	code, body := ts.do(t, http.MethodGet, ui.Prefix+"search", "", "")
	if code != http.StatusOK || !strings.Contains(body, "<title>silt</title>") {
		t.Errorf("GET /ui/search: %d %.100q", code, body)
	}
}

func TestClusterAPI(t *testing.T) {
	ts := startServer(t)
	var c clusterJSON
	ts.getJSON(t, "/api/v1/cluster", &c)
	if c.Mode != "single-node" || c.Tenant != "fake" || c.AuthEnabled || len(c.Nodes) != 1 {
		t.Fatalf("cluster: %+v", c)
	}
	n := c.Nodes[0]
	if n.State != "ACTIVE" || n.Address != ts.app.http.Addr() || len(n.Leader) != 8 || n.Leader[0] != "logs/0" || len(n.Follower) != 0 {
		t.Errorf("node: %+v", n)
	}
	if _, err := time.Parse(time.RFC3339, n.Heartbeat); err != nil {
		t.Errorf("heartbeat %q: %v", n.Heartbeat, err)
	}
	auth := startServer(t, "-auth.enabled")
	if code, _ := auth.do(t, http.MethodGet, "/api/v1/cluster", "", ""); code != http.StatusUnauthorized {
		t.Errorf("cluster without a tenant under auth: %d, want 401", code)
	}
	auth.getJSON(t, "/api/v1/cluster", &c, "X-Scope-OrgID", "team-a")
	if !c.AuthEnabled || c.Tenant != "team-a" {
		t.Errorf("cluster under auth: %+v", c)
	}
}

// TestLocateAPI finds the partition and offset of pushed lines by timestamp,
// line and stream, as the UI's context and permalinks need them.
func TestLocateAPI(t *testing.T) {
	ts := startServer(t)
	base := time.Now().Add(-time.Minute).UnixNano()
	var values []string
	for i := 0; i < 50; i++ {
		// Two lines share each timestamp; the line tells them apart.
		values = append(values, fmt.Sprintf(`["%d","line %d"]`, base+int64(i/2), i))
	}
	body := `{"streams":[{"stream":{"app":"loc","host":"h1"},"values":[` + strings.Join(values, ",") + `]},` +
		`{"stream":{"app":"loc","host":"h2"},"values":[["` + fmt.Sprint(base) + `","line 0"]]}]}`
	if code, resp := ts.do(t, http.MethodPost, "/loki/api/v1/push", "application/json", body); code != http.StatusNoContent {
		t.Fatalf("push: %d %s", code, resp)
	}
	for _, tc := range []struct {
		name, ts, line, labels string
		status                 int
		host                   string // of the stream located
	}{
		{"stream labels", fmt.Sprint(base), "line 0", `{app="loc", host="h1", service_name="loc"}`, 200, "h1"},
		{"second at the same time", fmt.Sprint(base), "line 1", `{service_name="loc",host="h1",app="loc"}`, 200, "h1"},
		{"last", fmt.Sprint(base + 24), "line 49", `{app="loc", host="h1", service_name="loc"}`, 200, "h1"},
		{"other stream, same time and line", fmt.Sprint(base), "line 0", `{app="loc", host="h2", service_name="loc"}`, 200, "h2"},
		{"some of the labels", fmt.Sprint(base), "line 0", `{host="h2"}`, 200, "h2"},
		{"no labels", fmt.Sprint(base + 10), "line 20", ``, 200, "h1"},
		{"wrong time", fmt.Sprint(base + 1), "line 0", `{app="loc", host="h1"}`, 404, ""},
		{"unknown line", fmt.Sprint(base), "nope", `{app="loc", host="h1"}`, 404, ""},
		{"wrong stream", fmt.Sprint(base), "line 1", `{host="h2"}`, 404, ""},
		{"bad ts", "yesterday", "line 0", ``, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"ts": {tc.ts}, "line": {tc.line}, "labels": {tc.labels}}
			code, resp := ts.do(t, http.MethodGet, "/api/v1/locate?"+q.Encode(), "", "")
			if code != tc.status {
				t.Fatalf("%d %s, want %d", code, resp, tc.status)
			}
			if code != http.StatusOK {
				return
			}
			var pos locateJSON
			ts.getJSON(t, "/api/v1/locate?"+q.Encode(), &pos)
			var page consumeResponse
			ts.getJSON(t, fmt.Sprintf("/api/v1/topics/%s/partitions/%d/records?offset=%d&limit=1", pos.Topic, pos.Partition, pos.Offset), &page)
			if len(page.Records) != 1 || *page.Records[0].Value != tc.line || fmt.Sprint(page.Records[0].Timestamp) != tc.ts {
				t.Errorf("located %+v holds %+v", pos, page.Records)
			}
			if tc.host != "" && !strings.Contains(*page.Records[0].Key, `host="`+tc.host+`"`) {
				t.Errorf("located a record of stream %s, want host %s", *page.Records[0].Key, tc.host)
			}
		})
	}
}
