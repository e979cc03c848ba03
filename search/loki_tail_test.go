package search

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/websocket"

	"github.com/siltlog/silt/ingest"
)

// TestLokiTailWebSocket tails a stream over WebSocket while lines are pushed
// and checks that each arrives once, in order.
func TestLokiTailWebSocket(t *testing.T) {
	s, _ := fixture(t)
	a := NewAPI(s, func(*http.Request) (string, error) { return "t1", nil })
	e := echo.New()
	for _, r := range a.Routes() {
		e.Add(r.Method, strings.NewReplacer("{", ":", "}", "").Replace(r.Path), echo.WrapHandler(r.Handler))
	}
	srv := httptest.NewServer(e)
	defer srv.Close()

	url := "ws" + strings.TrimPrefix(srv.URL, "http") + `/loki/api/v1/tail?query=` + `%7Bapp%3D%22tailed%22%7D`
	ws, err := websocket.Dial(url, "", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	var icfg ingest.Config
	icfg.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	d := ingest.NewDistributor(icfg, s.store, ingest.NewMetrics(nil), nil)
	const n = 30
	go func() {
		for i := 0; i < n; i++ {
			req := &ingest.PushRequest{Tenant: "t1", Streams: []ingest.Stream{{
				Labels:  ingest.Labels{{Name: "app", Value: "tailed"}},
				Entries: []ingest.Entry{{Timestamp: time.Now().UnixNano(), Line: fmt.Sprintf("line %02d", i)}},
			}}}
			if err := d.Push(context.Background(), req); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var got []string
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	for len(got) < n {
		var raw []byte
		if err := websocket.Message.Receive(ws, &raw); err != nil {
			t.Fatalf("after %d lines: %v", len(got), err)
		}
		var msg struct {
			Streams []struct {
				Stream map[string]string `json:"stream"`
				Values [][2]string       `json:"values"`
			} `json:"streams"`
		}
		if err := json.Unmarshal(raw, &msg); err != nil {
			t.Fatal(err)
		}
		for _, st := range msg.Streams {
			if st.Stream["app"] != "tailed" {
				t.Fatalf("stream %v", st.Stream)
			}
			for _, v := range st.Values {
				got = append(got, v[1])
			}
		}
	}
	for i, line := range got {
		if want := fmt.Sprintf("line %02d", i); line != want {
			t.Fatalf("line %d = %q, want %q (all: %v)", i, line, want, got)
		}
	}
}

func TestLokiTailBadQuery(t *testing.T) {
	srv := apiServer(t)
	resp, err := http.Get(srv.URL + "/loki/api/v1/tail?query=%7Bapp%3D%7D")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d", resp.StatusCode)
	}
}
