package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

const omkafkaModule = "/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so"

// omkafkaLines go through rsyslogd's omkafka into silt's Kafka listener and
// must come out of the Loki query API byte for byte.
var omkafkaLines = []string{
	"first line",
	`quote " backslash \ bracket ] brace }`,
	"héllo wörld ✓ 日本語",
	"key=value level=info msg=\"something happened\"",
	strings.Repeat("long-", 600),
	"last line",
}

// TestRsyslogOmkafkaE2E runs rsyslogd with omkafka producing to an
// in-process silt's Kafka listener, sends it syslog lines over TCP, and reads
// them back as the stream {topic="syslog"} with the Loki query API.
func TestRsyslogOmkafkaE2E(t *testing.T) {
	bin := testtool.Require(t, "rsyslogd")
	testtool.RequireFile(t, omkafkaModule)
	ts := startServer(t)
	port := startOmkafkaRsyslog(t, bin, ts.app.kafka.Addr().String())

	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	for i, line := range omkafkaLines {
		if _, err := fmt.Fprintf(c, "<165>1 %s client.example myapp 42 MSG%d - %s\n", sent, i, line); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	var got []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = ts.topicLines(t, "syslog")
		if len(got) >= len(omkafkaLines) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(got) != len(omkafkaLines) {
		t.Fatalf("after 30s silt has %d lines, want %d: %q", len(got), len(omkafkaLines), got)
	}
	for i := range got {
		if got[i] != omkafkaLines[i] {
			t.Errorf("line %d = %q, want %q", i, got[i], omkafkaLines[i])
		}
	}
}

// topicLines returns the lines of the stream {topic="<topic>"} of the last
// hour, oldest first, from the Loki query API.
func (ts *testServer) topicLines(t *testing.T, topic string) []string {
	t.Helper()
	q := url.Values{"query": {fmt.Sprintf("{topic=%q}", topic)}, "since": {"1h"}, "direction": {"forward"}, "limit": {"1000"}}
	code, body := ts.do(t, http.MethodGet, "/loki/api/v1/query_range?"+q.Encode(), "", "")
	if code != http.StatusOK {
		t.Fatalf("query_range: %d %s", code, body)
	}
	var resp struct {
		Data struct {
			Result []struct {
				Values [][]json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("query_range: decode %s: %v", body, err)
	}
	var lines []string
	for _, s := range resp.Data.Result {
		for _, v := range s.Values {
			var line string
			if len(v) < 2 || json.Unmarshal(v[1], &line) != nil {
				t.Fatalf("query_range: bad value %s", body)
			}
			lines = append(lines, line)
		}
	}
	return lines
}

// startOmkafkaRsyslog runs rsyslogd in the foreground with its own config,
// pid file and work directory: imptcp on a free 127.0.0.1 port, and omkafka
// producing each message's MSG to the topic syslog at broker. It returns the
// input port; rsyslogd is killed at cleanup.
func startOmkafkaRsyslog(t *testing.T, bin, broker string) int {
	t.Helper()
	dir := t.TempDir()
	portFile := filepath.Join(dir, "imptcp.port")
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imptcp")
module(load="omkafka")
template(name="msgonly" type="string" string="%%msg%%")
input(type="imptcp" address="127.0.0.1" port="0" listenPortFileName=%q ruleset="tokafka")
ruleset(name="tokafka") {
	action(type="omkafka" broker=[%q] topic="syslog" template="msgonly"
		confParam=["queue.buffering.max.ms=50"])
}
`, dir, portFile, broker)
	return testtool.RunRsyslogd(t, bin, dir, conf, portFile)
}
