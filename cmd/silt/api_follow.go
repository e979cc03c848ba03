package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/net/websocket"

	"github.com/siltlog/silt/segments"
)

// Follow mode of GET /api/v1/topics/{topic}/partitions/{p}/records streams a
// partition from an offset on, forever:
//
//   - with ?follow=true as Server-Sent Events (text/event-stream): one event per
//     record, "id: <offset>" and "data: <record JSON>" (the shape of one element
//     of a consume response's records); a ": keepalive" comment when idle; a
//     reconnecting EventSource sends Last-Event-ID and resumes after it;
//   - with a WebSocket upgrade of the same path: one JSON text message per
//     record, and a ping frame when idle.
//
// Records are read and written in batches of at most limit, each flushed once
// written, so a stream holds one batch in memory. A stream ends when the client
// goes away or the server shuts down; a read error (say retention deleted the
// next offset) ends it with an SSE "event: error" or a WebSocket {"error": ...}
// message.

// followWriteTimeout bounds one write to a follow client: a client that stops
// reading is dropped rather than holding a handler forever.
const followWriteTimeout = 30 * time.Second

// followFlushBytes flushes an SSE batch early once this much is buffered.
const followFlushBytes = 1 << 20

// parseFollow reads the follow parameters into q: follow=true or a WebSocket
// upgrade, and Last-Event-ID, which resumes after the offset it names.
func parseFollow(r *http.Request, q *consumeQuery) error {
	if s := r.URL.Query().Get("follow"); s != "" {
		f, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("invalid follow %q: want true or false", s)
		}
		q.follow = f
	}
	q.follow = q.follow || isWebSocketUpgrade(r)
	if !q.follow {
		return nil
	}
	if r.URL.Query().Get("wait") != "" {
		return errors.New("wait is for long polls: a follow stream waits for records by itself")
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 0 {
			return fmt.Errorf("invalid Last-Event-ID %q: want the offset of the last record received", s)
		}
		q.offset, q.hasOffset, q.hasTime = id+1, true, false
	}
	return nil
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// follow streams l from offset, which is within the log, until the client or
// the server goes away.
func (a *api) follow(c echo.Context, l *segments.Log, offset int64, limit int) error {
	if isWebSocketUpgrade(c.Request()) {
		a.followWebSocket(c, l, offset, limit)
		return nil
	}
	return a.followSSE(c, l, offset, limit)
}

// followLoop hands send every record from offset on, in batches of at most
// limit, and calls keepalive after -server.follow-keepalive without records. It returns
// nil when ctx ends or the server drains, or the first error of a read, send
// or keepalive.
func (a *api) followLoop(ctx context.Context, l *segments.Log, offset int64, limit int,
	send func([]segments.Record) error, keepalive func() error) error {
	every := a.cfg.Server.FollowKeepalive
	idle := time.NewTimer(every)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.draining:
			return nil
		default:
		}
		changed := l.Changed() // before Read, so no append is missed
		recs, err := l.Read(offset, limit)
		if err != nil {
			return fmt.Errorf("read at offset %d: %w", offset, err)
		}
		if recs = skipBelow(recs, offset); len(recs) > 0 {
			if err := send(recs); err != nil {
				return err
			}
			offset = recs[len(recs)-1].Offset + 1
			idle.Reset(every)
			continue
		}
		select {
		case <-changed:
		case <-idle.C:
			if err := keepalive(); err != nil {
				return err
			}
			idle.Reset(every)
		case <-ctx.Done():
			return nil
		case <-a.draining:
			return nil
		}
	}
}

// writeError marks an error of writing to the client, after which nothing
// more can be said to it.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }

// followSSE streams records as Server-Sent Events.
func (a *api) followSSE(c echo.Context, l *segments.Log, offset int64, limit int) error {
	w := c.Response()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }() // the connection may serve more requests

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	flush := func() error {
		_ = rc.SetWriteDeadline(time.Now().Add(followWriteTimeout))
		_, err := w.Write(buf.Bytes())
		buf.Reset()
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return writeError{err}
		}
		return nil
	}
	// A first comment, so the client sees the stream open before any record.
	fmt.Fprintf(&buf, ": following from offset %d\n\n", offset)
	err := flush()
	if err == nil {
		err = a.followLoop(c.Request().Context(), l, offset, limit, func(recs []segments.Record) error {
			for i := range recs {
				fmt.Fprintf(&buf, "id: %d\ndata: ", recs[i].Offset)
				_ = enc.Encode(toRecordJSON(&recs[i])) // one line: JSON escapes newlines
				buf.WriteByte('\n')
				if buf.Len() >= followFlushBytes {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return flush()
		}, func() error {
			buf.WriteString(": keepalive\n\n")
			return flush()
		})
	}
	var we writeError
	if err != nil && !errors.As(err, &we) {
		buf.WriteString("event: error\ndata: ")
		_ = enc.Encode(errorBody{Error: err.Error()})
		buf.WriteByte('\n')
		_ = flush()
	}
	return nil
}

// pingCodec sends a WebSocket ping frame.
var pingCodec = websocket.Codec{Marshal: func(any) ([]byte, byte, error) { return nil, websocket.PingFrame, nil }}

// followWebSocket streams records as WebSocket text messages, one per record.
func (a *api) followWebSocket(c echo.Context, l *segments.Log, offset int64, limit int) {
	websocket.Server{
		// Like the Loki tail: non-browser clients send no Origin; the tenant
		// comes from X-Scope-OrgID, not from cookies, so any origin may connect.
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler: func(ws *websocket.Conn) {
			defer ws.Close()
			ctx, cancel := context.WithCancel(c.Request().Context())
			defer cancel()
			go func() { // the client closing its side ends the stream
				var discard []byte
				for websocket.Message.Receive(ws, &discard) == nil {
				}
				cancel()
			}()
			send := func(codec websocket.Codec, v any) error {
				_ = ws.SetWriteDeadline(time.Now().Add(followWriteTimeout))
				if err := codec.Send(ws, v); err != nil {
					return writeError{err}
				}
				return nil
			}
			err := a.followLoop(ctx, l, offset, limit, func(recs []segments.Record) error {
				for i := range recs {
					if err := send(websocket.JSON, toRecordJSON(&recs[i])); err != nil {
						return err
					}
				}
				return nil
			}, func() error { return send(pingCodec, nil) })
			var we writeError
			if err != nil && !errors.As(err, &we) {
				_ = send(websocket.JSON, errorBody{Error: err.Error()})
			}
		},
	}.ServeHTTP(c.Response(), c.Request())
}
