package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// bleve starts its analysis workers once, at package init, for the process.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}

// testServer is an in-process silt server on a free port with its own data
// directory.
type testServer struct {
	url  string
	dir  string
	app  *App
	http *http.Client
	// stop shuts the server down (once) and returns App.Run's error.
	stop func() error
}

// startServer runs the real App with args added to a free port, a temp data
// directory and quiet logs; it stops at the end of the test.
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	dir := t.TempDir()
	base := []string{"-server.http-listen-address=127.0.0.1:0", "-syslog.listen-address=127.0.0.1:0", "-kafka.listen-address=127.0.0.1:0", "-storage.data-dir=" + dir, "-log.level=warn"}
	sa, err := parseServerArgs(append(base, args...), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	app, err := newApp(sa.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !app.healthy.Load() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("server not ready after 10s: %v", <-done)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts := &testServer{url: "http://" + app.http.Addr(), dir: dir, app: app, http: &http.Client{Transport: &http.Transport{}},
		stop: sync.OnceValue(func() error { cancel(); return <-done })}
	t.Cleanup(func() {
		if err := ts.stop(); err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
		ts.http.CloseIdleConnections()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	})
	return ts
}

// do sends a request and returns the status and body.
func (ts *testServer) do(t *testing.T, method, path, contentType, body string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// getJSON fetches path, requires 200 and decodes the body into out.
func (ts *testServer) getJSON(t *testing.T, path string, out any, header ...string) {
	t.Helper()
	code, body := ts.do(t, http.MethodGet, path, "", "", header...)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("GET %s: decode %q: %v", path, body, err)
	}
}

// totalRecords sums the end offsets of every partition of tenant's topics.
func (ts *testServer) totalRecords(t *testing.T, header ...string) int64 {
	t.Helper()
	var list topicListJSON
	ts.getJSON(t, "/api/v1/topics", &list, header...)
	var n int64
	for _, tp := range list.Topics {
		for _, p := range tp.Partitions {
			n += p.EndOffset - p.StartOffset
		}
	}
	return n
}

// runCLI runs a silt command in-process against ts.
func (ts *testServer) runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{args[0], "-addr", ts.url}, args[1:]...)
	code = run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// errorText decodes an error response; "" if body is not {"error": "..."}.
func errorText(body string) string {
	var eb errorBody
	if json.Unmarshal([]byte(body), &eb) != nil {
		return ""
	}
	return eb.Error
}
