package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// produceRequest is the JSON body of POST /api/v1/topics/{topic}/records.
type produceRequest struct {
	Records []produceRecord `json:"records"`
}

type produceRecord struct {
	Key         *string           `json:"key"`
	Value       *string           `json:"value"`
	ValueBase64 *string           `json:"value_base64"`
	Headers     map[string]string `json:"headers"`
	Timestamp   json.RawMessage   `json:"timestamp"`
	Partition   *int              `json:"partition"`
}

// produceResponse acknowledges durable records, one entry per partition.
type produceResponse struct {
	Offsets []producedRange `json:"offsets"`
}

type producedRange struct {
	Partition  int   `json:"partition"`
	BaseOffset int64 `json:"base_offset"`
	Count      int   `json:"count"`
}

// pendingRecord is a validated record with its requested partition (-1: none).
type pendingRecord struct {
	partition int
	rec       segments.Record
}

// handleProduce validates the whole request before writing anything, then
// appends each partition's records in one batch and answers only once every
// append has returned (the records are durable).
func (a *api) handleProduce(c echo.Context) error {
	tenant := tenantOf(c)
	t, err := a.topicOf(c, tenant)
	if err != nil {
		return err
	}
	body, err := a.readBody(c)
	if err != nil {
		return err
	}
	pending, err := parseProduceBody(c.Request(), body, time.Now().UnixNano())
	if err != nil {
		return httpErrorf(http.StatusBadRequest, "%v", err)
	}
	byPartition, err := a.assignPartitions(tenant, t, pending)
	if err != nil {
		return httpErrorf(http.StatusBadRequest, "%v", err)
	}
	return a.appendAll(c, tenant, t, byPartition)
}

func parseProduceBody(r *http.Request, body []byte, now int64) ([]pendingRecord, error) {
	ct := r.Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" {
		mt, err = echo.MIMEApplicationJSON, nil
	}
	if err != nil {
		return nil, fmt.Errorf("invalid Content-Type %q: %w", ct, err)
	}
	var recs []pendingRecord
	switch mt {
	case echo.MIMEApplicationJSON:
		recs, err = parseJSONRecords(body, now)
	case echo.MIMETextPlain:
		recs, err = parseTextRecords(r, body, now)
	default:
		return nil, fmt.Errorf("unsupported Content-Type %q: send application/json or text/plain", mt)
	}
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("request has no records")
	}
	return recs, nil
}

func parseJSONRecords(body []byte, now int64) ([]pendingRecord, error) {
	var req produceRequest
	if err := decodeStrictJSON(body, &req); err != nil {
		return nil, err
	}
	out := make([]pendingRecord, len(req.Records))
	for i, pr := range req.Records {
		p, err := pr.toRecord(now)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		out[i] = p
	}
	return out, nil
}

func (pr produceRecord) toRecord(now int64) (pendingRecord, error) {
	p := pendingRecord{partition: -1, rec: segments.Record{Timestamp: now}}
	switch {
	case pr.Value != nil && pr.ValueBase64 != nil:
		return p, fmt.Errorf("set value or value_base64, not both")
	case pr.Value != nil:
		p.rec.Value = []byte(*pr.Value)
	case pr.ValueBase64 != nil:
		v, err := base64.StdEncoding.DecodeString(*pr.ValueBase64)
		if err != nil {
			return p, fmt.Errorf("value_base64 is not valid base64: %w", err)
		}
		p.rec.Value = v
	default:
		return p, fmt.Errorf("missing value")
	}
	if pr.Key != nil {
		p.rec.Key = []byte(*pr.Key)
	}
	if pr.Partition != nil {
		if *pr.Partition < 0 {
			return p, fmt.Errorf("partition %d is negative", *pr.Partition)
		}
		p.partition = *pr.Partition
	}
	if len(pr.Timestamp) > 0 && string(pr.Timestamp) != "null" {
		ts, err := parseTimestampJSON(pr.Timestamp)
		if err != nil {
			return p, err
		}
		p.rec.Timestamp = ts
	}
	p.rec.Headers = sortedHeaders(pr.Headers)
	return p, nil
}

func sortedHeaders(m map[string]string) []segments.Header {
	if len(m) == 0 {
		return nil
	}
	hs := make([]segments.Header, 0, len(m))
	for k, v := range m {
		hs = append(hs, segments.Header{Key: k, Value: []byte(v)})
	}
	slices.SortFunc(hs, func(a, b segments.Header) int { return strings.Compare(a.Key, b.Key) })
	return hs
}

// parseTimestampJSON accepts an RFC 3339 string or integer nanoseconds (as a
// JSON number or string).
func parseTimestampJSON(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("invalid timestamp %s: %w", raw, err)
		}
	}
	return parseTimestamp(s)
}

// parseTimestamp parses RFC 3339 or integer nanoseconds since the Unix epoch.
func parseTimestamp(s string) (int64, error) {
	if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
		if ns < 0 {
			return 0, fmt.Errorf("invalid timestamp %q: must not be negative", s)
		}
		return ns, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("invalid timestamp %q: want RFC 3339 (2006-01-02T15:04:05Z) or integer nanoseconds since the Unix epoch", s)
	}
	if t.Before(time.Unix(0, 0)) {
		return 0, fmt.Errorf("invalid timestamp %q: before the Unix epoch", s)
	}
	return t.UnixNano(), nil
}

// parseTextRecords makes one record per non-empty line; ?key= and
// ?partition= apply to every line.
func parseTextRecords(r *http.Request, body []byte, now int64) ([]pendingRecord, error) {
	q := r.URL.Query()
	partition := -1
	if s := q.Get("partition"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 0 {
			return nil, fmt.Errorf("invalid partition %q: want a non-negative integer", s)
		}
		partition = p
	}
	var key []byte
	if q.Has("key") {
		key = []byte(q.Get("key"))
	}
	var out []pendingRecord
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		out = append(out, pendingRecord{partition: partition, rec: segments.Record{Timestamp: now, Key: key, Value: line}})
	}
	return out, nil
}

// assignPartitions checks explicit partitions against the topic and picks a
// partition for the others: key hash, else this request's round-robin turn.
func (a *api) assignPartitions(tenant string, t topics.Topic, recs []pendingRecord) (map[int][]segments.Record, error) {
	rr := -1
	out := map[int][]segments.Record{}
	for i, pr := range recs {
		if pr.partition >= t.Partitions {
			return nil, fmt.Errorf("record %d: partition %d does not exist: topic %q has partitions 0 to %d",
				i, pr.partition, t.Name, t.Partitions-1)
		}
		if pr.partition < 0 && len(pr.rec.Key) == 0 && rr < 0 {
			rr = a.picker.Next(tenant, t.Name, t.Partitions)
		}
		p := topics.Choose(pr.partition, pr.rec.Key, t.Partitions, rr)
		out[p] = append(out[p], pr.rec)
	}
	return out, nil
}

// appendAll opens every target partition first (so an open failure writes
// nothing), then appends partition by partition in ascending order.
func (a *api) appendAll(c echo.Context, tenant string, t topics.Topic, byPartition map[int][]segments.Record) error {
	parts := make([]int, 0, len(byPartition))
	for p := range byPartition {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	logs := make([]*segments.Log, len(parts))
	for i, p := range parts {
		l, err := a.store.Partition(tenant, t.Name, p)
		if err != nil {
			return err
		}
		logs[i] = l
	}
	resp := produceResponse{Offsets: make([]producedRange, 0, len(parts))}
	for i, p := range parts {
		recs := byPartition[p]
		base, err := logs[i].Append(c.Request().Context(), recs)
		if err != nil {
			return fmt.Errorf("append to %s/%s/%d (partitions before it in this response were written: %v): %w",
				tenant, t.Name, p, resp.Offsets, err)
		}
		resp.Offsets = append(resp.Offsets, producedRange{Partition: p, BaseOffset: base, Count: len(recs)})
	}
	return c.JSON(http.StatusOK, resp)
}
