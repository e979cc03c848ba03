package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/segments"
)

const (
	defaultConsumeLimit = 1000
	maxConsumeLimit     = 10000
)

// recordJSON is one consumed record. Key and value are JSON strings when they
// are valid UTF-8; otherwise key_base64 / value_base64 carry them instead.
type recordJSON struct {
	Partition   *int              `json:"partition,omitempty"` // set by the CLI's json output only
	Offset      int64             `json:"offset"`
	Timestamp   int64             `json:"timestamp"`
	Time        string            `json:"time"`
	Key         *string           `json:"key,omitempty"`
	KeyBase64   *string           `json:"key_base64,omitempty"`
	Value       *string           `json:"value,omitempty"`
	ValueBase64 *string           `json:"value_base64,omitempty"`
	Headers     map[string]string `json:"headers,omitempty"`
}

// consumeResponse is the body of GET .../partitions/{p}/records.
type consumeResponse struct {
	Records        []recordJSON `json:"records"`
	NextOffset     int64        `json:"next_offset"`
	HighWatermark  int64        `json:"high_watermark"`
	LogStartOffset int64        `json:"log_start_offset"`
}

// consumeQuery is the parsed query string of a consume request.
type consumeQuery struct {
	offset, timeNs int64
	hasOffset      bool
	hasTime        bool
	limit          int
	wait           time.Duration
	// follow streams records as they arrive (api_follow.go): ?follow=true
	// for Server-Sent Events, or a WebSocket upgrade of the same path.
	follow bool
}

func (a *api) parseConsumeQuery(c echo.Context) (consumeQuery, error) {
	q := consumeQuery{limit: defaultConsumeLimit}
	var err error
	if s := c.QueryParam("offset"); s != "" {
		if q.offset, err = strconv.ParseInt(s, 10, 64); err != nil {
			return q, fmt.Errorf("invalid offset %q: want an integer", s)
		}
		q.hasOffset = true
	}
	if s := c.QueryParam("time"); s != "" {
		if q.timeNs, err = parseTimestamp(s); err != nil {
			return q, fmt.Errorf("time: %w", err)
		}
		q.hasTime = true
	}
	if q.hasOffset && q.hasTime {
		return q, errors.New("set offset or time, not both")
	}
	if s := c.QueryParam("limit"); s != "" {
		if q.limit, err = strconv.Atoi(s); err != nil || q.limit < 1 || q.limit > maxConsumeLimit {
			return q, fmt.Errorf("invalid limit %q: want an integer from 1 to %d", s, maxConsumeLimit)
		}
	}
	if s := c.QueryParam("wait"); s != "" {
		if q.wait, err = parseWait(s); err != nil || q.wait < 0 {
			return q, fmt.Errorf("invalid wait %q: want a duration such as 5s or 500ms", s)
		}
		if q.wait > a.cfg.Server.MaxLongPollWait {
			return q, fmt.Errorf("wait %s is longer than the maximum %s (-server.max-long-poll-wait)", q.wait, a.cfg.Server.MaxLongPollWait)
		}
	}
	return q, parseFollow(c.Request(), &q)
}

// parseWait accepts a Go duration or plain seconds.
func parseWait(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	return time.ParseDuration(s)
}

func (a *api) handleConsume(c echo.Context) error {
	topic := c.Param("topic")
	p, err := strconv.Atoi(c.Param("partition"))
	if err != nil {
		return httpErrorf(http.StatusBadRequest, "invalid partition %q: want a non-negative integer", c.Param("partition"))
	}
	q, err := a.parseConsumeQuery(c)
	if err != nil {
		return httpErrorf(http.StatusBadRequest, "%v", err)
	}
	l, err := a.store.Partition(tenantOf(c), topic, p)
	if err != nil {
		return err
	}
	offset := l.StartOffset()
	switch {
	case q.hasOffset:
		offset = q.offset
	case q.hasTime:
		if offset, err = l.OffsetForTime(q.timeNs); err != nil {
			return fmt.Errorf("find offset for time %d: %w", q.timeNs, err)
		}
	}
	outOfRange := func() error {
		return httpErrorf(http.StatusRequestedRangeNotSatisfiable,
			"offset %d is out of range: partition %d of topic %q has offsets %d (log start offset) to %d (high watermark)",
			offset, p, topic, l.StartOffset(), l.NextOffset())
	}
	if q.follow {
		if offset < l.StartOffset() || offset > l.NextOffset() {
			return outOfRange()
		}
		return a.follow(c, l, offset, q.limit)
	}
	recs, err := a.readWait(c, l, offset, q)
	if errors.Is(err, segments.ErrOffsetOutOfRange) {
		return outOfRange()
	}
	if err != nil {
		return fmt.Errorf("read %s/%d at offset %d: %w", topic, p, offset, err)
	}
	resp := consumeResponse{Records: make([]recordJSON, 0, len(recs)), NextOffset: offset}
	for i := range recs {
		resp.Records = append(resp.Records, toRecordJSON(&recs[i]))
		resp.NextOffset = recs[i].Offset + 1
	}
	resp.HighWatermark, resp.LogStartOffset = l.NextOffset(), l.StartOffset()
	return c.JSON(http.StatusOK, resp)
}

// readWait reads from offset; with a wait it long-polls the log's Changed
// channel until records arrive, the wait ends, the client goes away or the
// server shuts down. Offsets past the high watermark are out of range.
func (a *api) readWait(c echo.Context, l *segments.Log, offset int64, q consumeQuery) ([]segments.Record, error) {
	var timeout <-chan time.Time
	if q.wait > 0 {
		t := time.NewTimer(q.wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		changed := l.Changed() // before Read, so no append is missed
		if offset > l.NextOffset() {
			return nil, segments.ErrOffsetOutOfRange
		}
		recs, err := l.Read(offset, q.limit)
		if err != nil || len(recs) > 0 || q.wait == 0 {
			return skipBelow(recs, offset), err
		}
		select {
		case <-changed:
		case <-timeout:
			return nil, nil
		case <-c.Request().Context().Done():
			return nil, nil
		case <-a.draining:
			return nil, nil
		}
	}
}

// skipBelow drops records before offset, in case a read starts at the
// beginning of the batch that holds offset.
func skipBelow(recs []segments.Record, offset int64) []segments.Record {
	for len(recs) > 0 && recs[0].Offset < offset {
		recs = recs[1:]
	}
	return recs
}

func toRecordJSON(r *segments.Record) recordJSON {
	out := recordJSON{
		Offset:    r.Offset,
		Timestamp: r.Timestamp,
		Time:      time.Unix(0, r.Timestamp).UTC().Format(time.RFC3339Nano),
	}
	out.Value, out.ValueBase64 = textOrBase64(r.Value)
	if r.Key != nil {
		out.Key, out.KeyBase64 = textOrBase64(r.Key)
	}
	if len(r.Headers) > 0 {
		out.Headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			out.Headers[h.Key] = string(h.Value)
		}
	}
	return out
}

func textOrBase64(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}
