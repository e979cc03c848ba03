package search

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

type lokiResponse struct {
	Status string `json:"status"`
	Data   struct {
		ResultType    string          `json:"resultType"`
		Result        json.RawMessage `json:"result"`
		EncodingFlags []string        `json:"encodingFlags"`
	} `json:"data"`
}

func getQuery(t *testing.T, srv string, path string, form url.Values, header ...string) (int, lokiResponse, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv+path+"?"+form.Encode(), nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var lr lokiResponse
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(body, &lr); err != nil {
			t.Fatalf("response %s: %v", body, err)
		}
	}
	return resp.StatusCode, lr, string(body)
}

// TestLokiQueryAPI pins the response shapes of /query and /query_range that
// Grafana reads, including its health check and logs-volume query.
func TestLokiQueryAPI(t *testing.T) {
	srv := apiServer(t).URL
	day := url.Values{"since": {"24h"}}
	with := func(kv ...string) url.Values {
		v := url.Values{}
		for k, vs := range day {
			v[k] = vs
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	t.Run("grafana health check", func(t *testing.T) {
		code, lr, body := getQuery(t, srv, "/loki/api/v1/query", url.Values{"query": {"vector(1)+vector(1)"}})
		if code != 200 || lr.Data.ResultType != "vector" {
			t.Fatalf("%d %s", code, body)
		}
		var res []struct {
			Value [2]any `json:"value"`
		}
		if err := json.Unmarshal(lr.Data.Result, &res); err != nil || len(res) != 1 || res[0].Value[1] != "2" {
			t.Fatalf("result %s: %v", lr.Data.Result, err)
		}
	})
	t.Run("log query, newest first, limit", func(t *testing.T) {
		code, lr, body := getQuery(t, srv, "/loki/api/v1/query_range", with("query", `{app="HDFS"} |= "PacketResponder"`, "limit", "7"))
		if code != 200 || lr.Data.ResultType != "streams" {
			t.Fatalf("%d %s", code, body)
		}
		var streams []struct {
			Stream map[string]string `json:"stream"`
			Values [][]string        `json:"values"`
		}
		if err := json.Unmarshal(lr.Data.Result, &streams); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range streams {
			if s.Stream["app"] != "HDFS" {
				t.Fatalf("stream %v", s.Stream)
			}
			for _, v := range s.Values {
				if !strings.Contains(v[1], "PacketResponder") {
					t.Fatalf("line %q", v[1])
				}
				n++
			}
		}
		if n != 7 {
			t.Fatalf("%d entries, want the limit 7", n)
		}
	})
	t.Run("metric query matrix", func(t *testing.T) {
		code, lr, body := getQuery(t, srv, "/loki/api/v1/query_range", with("query", `sum by (host) (count_over_time({app="HDFS"}[1h]))`, "step", "3600"))
		if code != 200 || lr.Data.ResultType != "matrix" || !strings.Contains(string(lr.Data.Result), `"host":"h0"`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("logs volume", func(t *testing.T) {
		q := `sum by (level, detected_level) (count_over_time({app="HDFS"} | drop __error__ [1m]))`
		code, lr, body := getQuery(t, srv, "/loki/api/v1/query_range", with("query", q, "step", "60"))
		if code != 200 || lr.Data.ResultType != "matrix" || !strings.Contains(string(lr.Data.Result), `"detected_level"`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("categorize labels", func(t *testing.T) {
		code, lr, body := getQuery(t, srv, "/loki/api/v1/query_range", with("query", `{app="HDFS"} | pattern "<date> <time> <pid> <lvl> <rest>"`, "limit", "1"),
			"X-Loki-Response-Encoding-Flags", "categorize-labels")
		if code != 200 || len(lr.Data.EncodingFlags) != 1 || !strings.Contains(string(lr.Data.Result), `"parsed":{`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("parse error names the position", func(t *testing.T) {
		code, _, body := getQuery(t, srv, "/loki/api/v1/query_range", with("query", `{app="HDFS"} |= `))
		if code != 400 || !strings.Contains(body, "parse error at line 1, col") {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("empty query", func(t *testing.T) {
		if code, _, body := getQuery(t, srv, "/loki/api/v1/query", url.Values{}); code != 400 || !strings.Contains(body, "query is empty") {
			t.Fatalf("%d %s", code, body)
		}
	})
}

// TestLokiIndexAPI pins /index/stats, /index/volume, /index/volume_range and
// /format_query.
func TestLokiIndexAPI(t *testing.T) {
	srv := apiServer(t).URL
	day := url.Values{"since": {"24h"}}
	get := func(path string, kv ...string) (int, string) {
		v := url.Values{"since": day["since"]}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		resp, err := http.Get(srv + path + "?" + v.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/loki/api/v1/index/stats", "query", `{app="HDFS"}`); code != 200 ||
		!strings.Contains(body, `"streams":2,"chunks":2,"entries":2000,`) {
		t.Fatalf("index/stats: %d %s", code, body)
	}
	if code, body := get("/loki/api/v1/index/volume", "query", `{app=~"HDFS|Spark"}`); code != 200 ||
		!strings.Contains(body, `"resultType":"vector"`) || !strings.Contains(body, `{"metric":{"app":"HDFS"},"value":[`) {
		t.Fatalf("index/volume: %d %s", code, body)
	}
	if code, body := get("/loki/api/v1/index/volume", "query", `{app="HDFS"}`, "targetLabels", "host", "limit", "1"); code != 200 ||
		strings.Count(body, `"metric"`) != 1 || !strings.Contains(body, `"host":"h`) {
		t.Fatalf("index/volume by host, limit 1: %d %s", code, body)
	}
	if code, body := get("/loki/api/v1/index/volume_range", "query", `{app="HDFS"}`, "step", "3600"); code != 200 ||
		!strings.Contains(body, `"resultType":"matrix"`) || !strings.Contains(body, `"values":[[`) {
		t.Fatalf("index/volume_range: %d %s", code, body)
	}
	if code, body := get("/loki/api/v1/format_query", "query", `{app="x"}|="a"   |  json`); code != 200 ||
		!strings.Contains(body, `"data":"{app=\"x\"} |= \"a\" | json"`) {
		t.Fatalf("format_query: %d %s", code, body)
	}
	if code, body := get("/loki/api/v1/index/stats", "query", `{app=}`); code != 400 {
		t.Fatalf("bad selector: %d %s", code, body)
	}
}
