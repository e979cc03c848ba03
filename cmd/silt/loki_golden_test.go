package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// TestLokiBuildInfoGolden pins the shape of /loki/api/v1/status/buildinfo,
// which Grafana's Loki data source reads (the Loki API's other answers are
// pinned in search/loki_golden_test.go). Values change with every build, so
// the golden file holds each value's JSON type; -update rewrites it.
func TestLokiBuildInfoGolden(t *testing.T) {
	ts := startServer(t)
	for _, path := range []string{"/loki/api/v1/status/buildinfo", "/api/v1/status/buildinfo"} {
		code, body := ts.do(t, http.MethodGet, path, "", "")
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: %s: %v", path, body, err)
		}
		data, ok := v["data"].(map[string]any)
		if v["status"] != "success" || !ok {
			t.Fatalf("%s: %s, want status success and a data object", path, body)
		}
		for k, x := range data {
			data[k] = fmt.Sprintf("<%T>", x)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		// Both paths answer the same, so they share one golden file.
		doc := map[string]any{"request": "GET /loki/api/v1/status/buildinfo (and /api/v1/status/buildinfo)", "status": code, "body": v}
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", "golden", "buildinfo.json")
		if *update {
			if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestLokiBuildInfoGolden -update to create it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from %s (if intended, rerun with -update):\ngot:\n%s\nwant:\n%s", path, golden, buf.Bytes(), want)
		}
	}
}
