package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCLIProduceConsumeTopics(t *testing.T) {
	ts := startServer(t, "-topics.builtin-partitions=2")
	code, out, errOut := ts.runCLI(t, "one\ntwo\n\nthree\n", "produce", "-topic", "logs", "-partition", "1", "-batch", "2")
	if code != 0 || !strings.Contains(out, `produced 3 records to topic "logs" in 2 request(s)`) ||
		!strings.Contains(out, "partition 1: offsets 0 to 2") {
		t.Fatalf("produce = %d %q %q", code, out, errOut)
	}
	if code, _, errOut = ts.runCLI(t, "four\n", "produce", "-topic", "logs", "-key", "k"); code != 0 {
		t.Fatalf("keyed produce = %d %q", code, errOut)
	}

	code, out, errOut = ts.runCLI(t, "", "consume", "-topic", "logs", "-partition", "1")
	if code != 0 || out != "one\ntwo\nthree\n" {
		t.Errorf("consume partition 1 = %d %q %q", code, out, errOut)
	}
	code, out, _ = ts.runCLI(t, "", "consume", "-topic", "logs", "-from-offset", "1", "-partition", "1", "-limit", "1", "-output", "json")
	var rec recordJSON
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.Offset != 1 || *rec.Value != "two" || *rec.Partition != 1 {
		t.Errorf("consume json = %d %q", code, out)
	}
	code, out, _ = ts.runCLI(t, "", "consume", "-topic", "logs")
	if lines := strings.Fields(out); code != 0 || len(lines) != 4 {
		t.Errorf("consume all partitions = %d %q, want 4 records", code, out)
	}
	code, out, _ = ts.runCLI(t, "", "consume", "-topic", "logs", "-from-time", time.Now().Add(time.Hour).Format(time.RFC3339))
	if code != 0 || out != "" {
		t.Errorf("consume from the future = %d %q, want nothing", code, out)
	}

	code, out, _ = ts.runCLI(t, "", "topics")
	// TENANT TOPIC PARTITION START LOCAL_START END HOT_BYTES HOT_SEGS ...
	if code != 0 || !strings.Contains(out, "TENANT") || !regexpLine(out, "fake logs 1 0 0 3") || !regexpLine(out, "fake metrics 1 0 0 0 0 0") {
		t.Errorf("topics = %d\n%s", code, out)
	}
	code, out, errOut = ts.runCLI(t, "", "topics", "-topic", "logs", "-set", "retention.ms=3600000", "-set", "local.retention.ms=-2")
	if code != 0 || !regexpLine(out, "retention.ms 3600000 topic") || !regexpLine(out, "local.retention.ms 3600000 topic") ||
		!regexpLine(out, "retention.bytes -1 default") {
		t.Errorf("topics -set = %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := ts.runCLI(t, "", "topics", "-topic", "logs", "-set", "retention.hours=1"); code != 1 || !strings.Contains(errOut, "unknown setting") {
		t.Errorf("topics -set unknown = %d %s", code, errOut)
	}
}

// regexpLine reports whether out has a line whose fields start with want's.
func regexpLine(out, want string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.Join(strings.Fields(line), " "), want) {
			return true
		}
	}
	return false
}

func TestCLIFollow(t *testing.T) {
	ts := startServer(t)
	done := make(chan string, 1)
	go func() {
		_, out, _ := ts.runCLI(t, "", "consume", "-topic", "logs", "-follow", "-limit", "2", "-wait", "1s")
		done <- out
	}()
	time.Sleep(100 * time.Millisecond)
	if code, _, errOut := ts.runCLI(t, "a\n", "produce", "-topic", "logs"); code != 0 {
		t.Fatal(errOut)
	}
	if code, _, errOut := ts.runCLI(t, "b\n", "produce", "-topic", "logs"); code != 0 {
		t.Fatal(errOut)
	}
	select {
	case out := <-done:
		if out != "a\nb\n" && out != "b\na\n" {
			t.Errorf("follow printed %q", out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consume -follow -limit 2 did not stop")
	}
}

func TestCLIUsageErrors(t *testing.T) {
	ts := startServer(t)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"produce without topic", []string{"produce"}, 2, "-topic is required"},
		{"consume without topic", []string{"consume"}, 2, "-topic is required"},
		{"offset and time", []string{"consume", "-topic", "logs", "-from-offset", "1", "-from-time", "0"}, 2, "not both"},
		{"bad output", []string{"consume", "-topic", "logs", "-output", "xml"}, 2, "-output must be raw or json"},
		{"bad partition", []string{"consume", "-topic", "logs", "-partition", "x"}, 2, `-partition must be a partition number or "all"`},
		{"bad time", []string{"consume", "-topic", "logs", "-from-time", "later"}, 2, "-from-time"},
		{"stray argument", []string{"topics", "extra"}, 2, `unexpected argument "extra"`},
		{"server error", []string{"consume", "-topic", "nope"}, 1, `404 Not Found: topic not found`},
		{"offset out of range", []string{"consume", "-topic", "logs", "-partition", "0", "-from-offset", "5"}, 1, "416"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var errOut string
			if tc.args[0] == "frobnicate" {
				var out strings.Builder
				code = run(tc.args, strings.NewReader(""), &out, &out)
				errOut = out.String()
			} else {
				code, _, errOut = ts.runCLI(t, "", tc.args...)
			}
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantErr) {
				t.Errorf("= %d %q, want %d containing %q", code, errOut, tc.wantCode, tc.wantErr)
			}
		})
	}
}
