package search

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func apiServer(t *testing.T) *httptest.Server {
	s, _ := fixture(t)
	return apiServerFor(t, s)
}

func apiServerFor(t testing.TB, s *Searcher) *httptest.Server {
	a := NewAPI(s, func(*http.Request) (string, error) { return "t1", nil })
	e := echo.New()
	for _, r := range a.Routes() {
		e.Add(r.Method, strings.NewReplacer("{", ":", "}", "").Replace(r.Path), echo.WrapHandler(r.Handler))
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv
}

// TestLokiLabelsAPI checks the shapes and contents Grafana reads from the
// labels, label values and series endpoints.
func TestLokiLabelsAPI(t *testing.T) {
	srv := apiServer(t)
	cases := []struct {
		name, method, path string
		form               url.Values
		status             int
		want               string // JSON of data, or an error substring
	}{
		{"labels", "GET", "/loki/api/v1/labels", url.Values{"since": {"24h"}}, 200, `["app","host"]`},
		{"labels with selector", "GET", "/loki/api/v1/labels", url.Values{"since": {"24h"}, "query": {`{app="HDFS"}`}}, 200, `["app","host"]`},
		{"label values", "GET", "/loki/api/v1/label/host/values", url.Values{"since": {"24h"}}, 200, `["h0","h1"]`},
		{"label values filtered", "GET", "/loki/api/v1/label/app/values", url.Values{"since": {"24h"}, "query": {`{app=~"HD.*"}`}}, 200, `["HDFS"]`},
		{"series", "GET", "/loki/api/v1/series", url.Values{"since": {"24h"}, "match[]": {`{app="HDFS",host="h1"}`}}, 200, `[{"app":"HDFS","host":"h1"}]`},
		{"series form post", "POST", "/loki/api/v1/series", url.Values{"since": {"24h"}, "match[]": {`{app="HDFS",host="h0"}`, `{app="Zookeeper",host="h0"}`}}, 200, `[{"app":"HDFS","host":"h0"},{"app":"Zookeeper","host":"h0"}]`},
		{"series without match", "GET", "/loki/api/v1/series", nil, 400, "at least one match[]"},
		{"bad selector", "GET", "/loki/api/v1/series", url.Values{"match[]": {`{app=}`}}, 400, "selector"},
		{"bad time", "GET", "/loki/api/v1/labels", url.Values{"start": {"yesterday"}}, 400, "start: cannot parse"},
		{"end before start", "GET", "/loki/api/v1/labels", url.Values{"start": {"2000"}, "end": {"1000"}}, 400, "before start"},
		{"nothing in range", "GET", "/loki/api/v1/labels", url.Values{"start": {"1000"}, "end": {"2000"}}, 200, `[]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var resp *http.Response
			var err error
			if tc.method == "POST" {
				resp, err = http.PostForm(srv.URL+tc.path, tc.form)
			} else {
				resp, err = http.Get(srv.URL + tc.path + "?" + tc.form.Encode())
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status != 200 {
				if !strings.Contains(string(body), tc.want) {
					t.Fatalf("error %q, want it to contain %q", body, tc.want)
				}
				return
			}
			var env struct {
				Status string          `json:"status"`
				Data   json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(body, &env); err != nil || env.Status != "success" {
				t.Fatalf("envelope %s: %v", body, err)
			}
			if string(env.Data) != tc.want {
				t.Fatalf("data %s, want %s", env.Data, tc.want)
			}
		})
	}
}
