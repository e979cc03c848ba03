package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

const followPath = "/api/v1/topics/logs/partitions/0/records"

// sseEvent is one Server-Sent Event, or a comment when comment is set.
type sseEvent struct {
	id, event, data, comment string
}

// readSSE reads one event or comment block.
func readSSE(r *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return ev, nil
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "":
			ev.comment = value
		case "id":
			ev.id = value
		case "event":
			ev.event = value
		case "data":
			ev.data += value
		}
	}
}

// produceLines appends values r<from>..r<to-1> to partition 0 of logs, in
// batches of batch records, pausing between them.
func produceLines(t *testing.T, ts *testServer, from, to, batch int, pause time.Duration) {
	for i := from; i < to; i += batch {
		var b strings.Builder
		for j := i; j < min(i+batch, to); j++ {
			fmt.Fprintf(&b, "r%d\n", j)
		}
		if code, body := ts.do(t, http.MethodPost, "/api/v1/topics/logs/records?partition=0", "text/plain", b.String()); code != http.StatusOK {
			t.Errorf("produce: %d %s", code, body)
			return
		}
		time.Sleep(pause)
	}
}

// openSSE starts a follow request and returns its events; it fails the test
// unless the answer is a 200 event stream.
func openSSE(t *testing.T, ctx context.Context, ts *testServer, query string, header ...string) (<-chan sseEvent, <-chan error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.url+followPath+"?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := ts.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("follow: %d %s %s", resp.StatusCode, ct, b)
	}
	events, done := make(chan sseEvent, 100), make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		for {
			ev, err := readSSE(br)
			if err != nil {
				done <- err
				close(events)
				return
			}
			events <- ev
		}
	}()
	return events, done
}

// checkFollowed reads records from next until want, each exactly once in
// offset order; it returns the keepalive comments seen.
func checkFollowed(t *testing.T, next func() (id string, rec recordJSON, comment string), from, want int) int {
	t.Helper()
	keepalives := 0
	for off := from; off < want; {
		id, rec, comment := next()
		if comment != "" {
			if comment == "keepalive" {
				keepalives++
			}
			continue
		}
		if rec.Offset != int64(off) || rec.Value == nil || *rec.Value != fmt.Sprintf("r%d", off) {
			t.Fatalf("got record %+v, want offset %d with value r%d", rec, off, off)
		}
		if id != "" && id != strconv.Itoa(off) {
			t.Fatalf("event id %q for offset %d", id, off)
		}
		off++
	}
	return keepalives
}

// TestConsumeFollowSSE follows a partition as Server-Sent Events from an
// offset while records are produced: each arrives once, in order, with its
// offset as event id; idle streams get keepalives; Last-Event-ID resumes.
func TestConsumeFollowSSE(t *testing.T) {
	ts := startServer(t, "-server.follow-keepalive=50ms")
	produceLines(t, ts, 0, 3, 3, 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, _ := openSSE(t, ctx, ts, "offset=1&follow=true&limit=7")
	const n = 120
	produced := make(chan struct{})
	go func() { produceLines(t, ts, 3, n, 9, 5*time.Millisecond); close(produced) }()
	timeout := time.After(20 * time.Second)
	next := func() (string, recordJSON, string) {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended early")
			}
			if ev.comment != "" {
				return "", recordJSON{}, ev.comment
			}
			var rec recordJSON
			if ev.event != "" || json.Unmarshal([]byte(ev.data), &rec) != nil {
				t.Fatalf("unexpected event %+v", ev)
			}
			return ev.id, rec, ""
		case <-timeout:
			t.Fatal("timed out waiting for records")
		}
		panic("unreachable")
	}
	checkFollowed(t, next, 1, n)
	<-produced
	// Nothing more comes but keepalives.
	idle := time.After(300 * time.Millisecond)
	keepalives := 0
	for done := false; !done; {
		select {
		case ev := <-events:
			if ev.comment != "keepalive" {
				t.Fatalf("after the last record: %+v", ev)
			}
			keepalives++
		case <-idle:
			done = true
		}
	}
	if keepalives == 0 {
		t.Error("no keepalive on an idle stream")
	}
	cancel()

	// A reconnecting EventSource sends the same URL and Last-Event-ID.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	events, _ = openSSE(t, ctx2, ts, "offset=1&follow=true", "Last-Event-ID", "100")
	checkFollowed(t, next, 101, n)
}

// TestConsumeFollowWebSocket follows a partition over WebSocket: one JSON
// text message per record, each once, in order; idle pings are harmless.
func TestConsumeFollowWebSocket(t *testing.T) {
	ts := startServer(t, "-server.follow-keepalive=20ms")
	produceLines(t, ts, 0, 5, 5, 0)
	wsURL := "ws" + strings.TrimPrefix(ts.url, "http") + followPath + "?offset=2"
	ws, err := websocket.Dial(wsURL, "", ts.url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	const n = 100
	produced := make(chan struct{})
	go func() { produceLines(t, ts, 5, n, 7, 5*time.Millisecond); close(produced) }()
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	next := func() (string, recordJSON, string) {
		var raw string
		if err := websocket.Message.Receive(ws, &raw); err != nil {
			t.Fatal(err)
		}
		var rec recordJSON
		if err := json.Unmarshal([]byte(raw), &rec); err != nil {
			t.Fatalf("message %q: %v", raw, err)
		}
		return "", rec, ""
	}
	checkFollowed(t, next, 2, n)
	<-produced
	time.Sleep(200 * time.Millisecond) // pinged while idle
	produceLines(t, ts, n, n+1, 1, 0)
	checkFollowed(t, next, n, n+1)
}

// TestConsumeFollowEndsAtShutdown checks that open follow streams end when
// the server shuts down, without holding the graceful shutdown up.
func TestConsumeFollowEndsAtShutdown(t *testing.T) {
	ts := startServer(t, "-server.graceful-shutdown-timeout=20s")
	events, sseDone := openSSE(t, context.Background(), ts, "follow=true")
	if ev := <-events; !strings.HasPrefix(ev.comment, "following from offset 0") {
		t.Fatalf("first event %+v", ev)
	}
	ws, err := websocket.Dial("ws"+strings.TrimPrefix(ts.url, "http")+followPath, "", ts.url)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	wsDone := make(chan error, 1)
	go func() {
		var raw string
		wsDone <- websocket.Message.Receive(ws, &raw)
	}()
	start := time.Now()
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("shutdown took %v with follow streams open", el)
	}
	for name, done := range map[string]<-chan error{"SSE": sseDone, "WebSocket": wsDone} {
		select {
		case err := <-done:
			if !errors.Is(err, io.EOF) {
				t.Errorf("%s stream ended with %v, want EOF", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s stream still open after shutdown", name)
		}
	}
}

// TestConsumeFollowRejectsBadInput checks that bad follow requests get a 4xx
// JSON error before any streaming starts, over SSE and WebSocket alike.
func TestConsumeFollowRejectsBadInput(t *testing.T) {
	ts := startServer(t)
	produceLines(t, ts, 0, 2, 2, 0)
	ws := []string{"Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}
	tests := []struct {
		name, query string
		header      []string
		wantCode    int
		wantText    string
	}{
		{"bad offset", "offset=x&follow=true", nil, 400, `invalid offset "x"`},
		{"bad offset websocket", "offset=x", ws, 400, `invalid offset "x"`},
		{"bad follow", "follow=maybe", nil, 400, `invalid follow "maybe"`},
		{"wait", "follow=true&wait=1s", nil, 400, "wait is for long polls"},
		{"bad Last-Event-ID", "follow=true", []string{"Last-Event-ID", "x"}, 400, `invalid Last-Event-ID "x"`},
		{"offset past high watermark", "offset=3&follow=true", nil, 416, "offset 3 is out of range"},
		{"Last-Event-ID past high watermark", "follow=true", []string{"Last-Event-ID", "5"}, 416, "offset 6 is out of range"},
		{"offset past high watermark websocket", "offset=9", ws, 416, "offset 9 is out of range"},
		{"limit", "follow=true&limit=0", nil, 400, "want an integer from 1 to 10000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.do(t, http.MethodGet, followPath+"?"+tc.query, "", "", tc.header...)
			if msg := errorText(body); code != tc.wantCode || !strings.Contains(msg, tc.wantText) {
				t.Errorf("= %d %s, want %d containing %q", code, body, tc.wantCode, tc.wantText)
			}
		})
	}
}
