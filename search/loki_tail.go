package search

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/websocket"

	"github.com/siltlog/silt/search/logql"
)

// tailPoll is how often a tail looks for new entries.
const tailPoll = 500 * time.Millisecond

// tailMessage is one WebSocket frame of /tail, as Loki sends it.
type tailMessage struct {
	Streams        []map[string]any `json:"streams"`
	DroppedEntries []any            `json:"dropped_entries"`
}

// tail answers /loki/api/v1/tail over WebSocket: every new entry of a log
// query, from start (default now minus delay_for) on, until the client leaves.
func (a *API) tail(w http.ResponseWriter, r *http.Request) {
	tenant, err := a.tenant(r)
	if err == nil {
		err = r.ParseForm()
	}
	var p logql.QueryParams
	if err == nil {
		p, err = a.tailParams(r)
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	// Grafana and logcli send no browser Origin: accept any handshake.
	websocket.Server{
		Handshake: func(*websocket.Config, *http.Request) error { return nil },
		Handler:   func(ws *websocket.Conn) { a.tailLoop(r.Context(), ws, tenant, p) },
	}.ServeHTTP(w, r)
}

func (a *API) tailParams(r *http.Request) (logql.QueryParams, error) {
	p := logql.QueryParams{Query: r.Form.Get("query"), Direction: logql.Forward, Limit: 100}
	if p.Query == "" {
		return p, badRequest("query is empty: pass a LogQL log query in query=")
	}
	if _, err := logql.ParseLogSelector(p.Query); err != nil {
		return p, badRequest("query: %v", err)
	}
	delay := time.Duration(0)
	if v := r.Form.Get("delay_for"); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < 0 || secs > 5 {
			return p, badRequest("delay_for must be 0 to 5 seconds, got %q", v)
		}
		delay = time.Duration(secs) * time.Second
	}
	start, err := parseTime(r.Form.Get("start"), a.now().Add(-delay).UnixNano())
	if err != nil {
		return p, badRequest("start: %v", err)
	}
	p.Start = start
	if v := r.Form.Get("limit"); v != "" {
		if p.Limit, err = strconv.Atoi(v); err != nil || p.Limit <= 0 {
			return p, badRequest("limit must be a positive integer, got %q", v)
		}
	}
	return p, nil
}

// tailLoop polls for entries after the last one sent. Entries that share the
// last timestamp are remembered so none is sent twice.
func (a *API) tailLoop(ctx context.Context, ws *websocket.Conn, tenant string, p logql.QueryParams) {
	defer ws.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // the client closing its side ends the tail
		var discard []byte
		for websocket.Message.Receive(ws, &discard) == nil {
		}
		cancel()
	}()
	from := p.Start
	sentAtFrom := map[string]bool{}
	tick := time.NewTicker(tailPoll)
	defer tick.Stop()
	for {
		q := p
		q.Start, q.End = from, a.now().UnixNano()+1
		res, err := a.engine(tenant).Query(ctx, q)
		if err != nil {
			return
		}
		msg, last, sent := newTailEntries(res, from, sentAtFrom)
		if len(msg.Streams) > 0 {
			if websocket.JSON.Send(ws, msg) != nil {
				return
			}
			from, sentAtFrom = last, sent
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// newTailEntries keeps the entries not sent yet and returns them with the
// newest timestamp and the lines sent at it.
func newTailEntries(res logql.Result, from int64, sentAtFrom map[string]bool) (tailMessage, int64, map[string]bool) {
	msg := tailMessage{Streams: []map[string]any{}}
	last := from
	for _, s := range res.Streams {
		for _, e := range s.Entries {
			last = max(last, e.Timestamp)
		}
	}
	sent := map[string]bool{}
	for _, s := range res.Streams {
		var values [][]string
		for _, e := range s.Entries {
			id := s.Labels.String() + "\x00" + e.Line
			if e.Timestamp == from && sentAtFrom[id] {
				continue
			}
			if e.Timestamp == last {
				sent[id] = true
			}
			values = append(values, []string{strconv.FormatInt(e.Timestamp, 10), e.Line})
		}
		if len(values) > 0 {
			msg.Streams = append(msg.Streams, map[string]any{"stream": labelMap(s.Labels), "values": values})
		}
	}
	if last == from {
		for id := range sentAtFrom {
			sent[id] = true
		}
	}
	return msg, last, sent
}
