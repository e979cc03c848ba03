package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// pushLoki pushes lines to stream {app=app} over the Loki push API, 1 ms apart.
func (ts *testServer) pushLoki(t *testing.T, app string, lines ...string) {
	t.Helper()
	now := time.Now().UnixNano()
	var values [][2]string
	for i, l := range lines {
		values = append(values, [2]string{fmt.Sprint(now + int64(i)*1e6), l})
	}
	body, _ := json.Marshal(map[string]any{"streams": []any{map[string]any{"stream": map[string]string{"app": app}, "values": values}}})
	if code, resp := ts.do(t, "POST", "/loki/api/v1/push", "application/json", string(body)); code != 204 {
		t.Fatalf("push: %d %s", code, resp)
	}
}

func TestCLIQuery(t *testing.T) {
	ts := startServer(t)
	ts.pushLoki(t, "web", "GET / 200", "GET /x 500", "POST /y 201")
	cases := []struct {
		name string
		args []string
		code int
		want string // stdout, or a substring of stderr when code != 0
	}{
		{"raw newest first", []string{`{app="web"}`, "-output", "raw"}, 0, "POST /y 201\nGET /x 500\nGET / 200\n"},
		{"flags first", []string{"-output", "raw", "-limit", "1", `{app="web"} |= "GET"`}, 0, "GET /x 500\n"},
		{"table", []string{`{app="web"} |= "500"`}, 0, `{app="web", service_name="web"}  GET /x 500`},
		{"json", []string{`{app="web"} |= "500"`, "-output", "json"}, 0, `"labels":{"app":"web","service_name":"web"},"line":"GET /x 500"}`},
		{"metric", []string{`sum(count_over_time({app="web"}[1h]))`, "-step", "1h", "-output", "raw"}, 0, "{}"},
		{"bad query", []string{`{app=}`}, 1, "parse error"},
		{"no query", []string{"-output", "raw"}, 2, "a LogQL query is required"},
		{"bad output", []string{`{app="web"}`, "-output", "xml"}, 2, "-output must be"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := ts.runCLI(t, "", append([]string{"query"}, tc.args...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %q %q", code, tc.code, out, errOut)
			}
			if (code == 0 && !strings.Contains(out, tc.want)) || (code != 0 && !strings.Contains(errOut, tc.want)) {
				t.Fatalf("stdout %q stderr %q, want %q", out, errOut, tc.want)
			}
		})
	}
}

func TestCLITail(t *testing.T) {
	ts := startServer(t)
	done := make(chan string, 1)
	go func() {
		_, out, errOut := ts.runCLI(t, "", "tail", `{app="job"} != "skip"`, "-limit", "2")
		done <- out + errOut
	}()
	time.Sleep(200 * time.Millisecond)
	ts.pushLoki(t, "job", "first", "skip me", "second")
	select {
	case out := <-done:
		if out != "first\nsecond\n" {
			t.Fatalf("tail printed %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tail -limit 2 did not stop")
	}
}

// TestCLIConsumeGroup checks that a group resumes where its last consume
// stopped, and that its commits are visible over the groups API.
func TestCLIConsumeGroup(t *testing.T) {
	ts := startServer(t, "-topics.builtin-partitions=1")
	if code, _, errOut := ts.runCLI(t, "a\nb\nc\n", "produce", "-topic", "logs"); code != 0 {
		t.Fatal(errOut)
	}
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"-limit", "2"}, "a\nb\n"},
		{nil, "c\n"},
		{nil, ""},
		{[]string{"-from-offset", "1", "-limit", "1"}, "b\n"}, // explicit offsets win
		{nil, "c\n"},
	}
	for i, s := range steps {
		code, out, errOut := ts.runCLI(t, "", append([]string{"consume", "-topic", "logs", "-group", "g"}, s.args...)...)
		if code != 0 || out != s.want {
			t.Fatalf("step %d: exit %d, printed %q (%s), want %q", i, code, out, errOut, s.want)
		}
	}
	var g groupJSON
	ts.getJSON(t, "/api/v1/groups/g", &g)
	if len(g.Offsets) != 1 || g.Offsets[0].Offset != 3 || *g.Offsets[0].Lag != 0 {
		t.Fatalf("group after consuming everything: %+v", g)
	}
}
