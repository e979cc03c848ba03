package main

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// maxLocateScan bounds the records one locate request reads per partition.
const maxLocateScan = 1_000_000

// locateJSON is the body of GET /api/v1/locate.
type locateJSON struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// handleLocate answers GET /api/v1/locate?ts=&line=&labels=[&topic=]: the
// topic, partition and offset of the record with that timestamp (ns) and line
// in the stream labels ({name="value", ...}). The web UI asks it for a search
// result's position, which /api/v1/context and permalinks need.
//
// A stream of the logs topic lives in the partition of its label set (as the
// distributor places it), so that partition is read first, from the first
// offset that may hold ts; the other partitions only when it is not there
// (labels that are a subset of the stream's, or a Kafka producer's record,
// whose key is not a label set). A record matches when its key has every
// label given.
func (a *api) handleLocate(c echo.Context) error {
	tenant := tenantOf(c)
	ts, err := strconv.ParseInt(c.QueryParam("ts"), 10, 64)
	if err != nil {
		return httpErrorf(http.StatusBadRequest, "ts must be a timestamp in nanoseconds, got %q", c.QueryParam("ts"))
	}
	line := []byte(c.QueryParam("line"))
	topic := c.QueryParam("topic")
	if topic == "" {
		topic = topics.TopicLogs
	}
	reg, err := a.store.Registry()
	if err != nil {
		return err
	}
	t, err := reg.Get(tenant, topic)
	if err != nil {
		return err
	}
	want, _ := ingest.ParseLabels(c.QueryParam("labels"))
	first := -1
	if len(want) > 0 && want.Normalize() == nil && topic == topics.TopicLogs {
		first = topics.KeyPartition(want.AppendString(nil), t.Partitions)
	}
	order := make([]int, 0, t.Partitions)
	if first >= 0 {
		order = append(order, first)
	}
	for p := 0; p < t.Partitions; p++ {
		if p != first {
			order = append(order, p)
		}
	}
	for _, p := range order {
		off, found, err := a.locateIn(c, tenant, topic, p, ts, line, want)
		if err != nil {
			return err
		}
		if found {
			return c.JSON(http.StatusOK, locateJSON{Topic: topic, Partition: p, Offset: off})
		}
	}
	return httpErrorf(http.StatusNotFound, "no record at %d with that line in topic %q (deleted by retention, or never written)", ts, topic)
}

// locateIn looks for the record of timestamp ts and value line whose key has
// the labels want in one partition.
func (a *api) locateIn(c echo.Context, tenant, topic string, p int, ts int64, line []byte, want ingest.Labels) (int64, bool, error) {
	l, err := a.store.Partition(tenant, topic, p)
	if err != nil {
		return 0, false, err
	}
	from, err := l.OffsetForTime(ts)
	if err != nil {
		return 0, false, err
	}
	found, read := int64(-1), 0
	_, err = l.Scan(c.Request().Context(), max(from, l.StartOffset()), func(r *segments.Record) error {
		if read++; read > maxLocateScan {
			return segments.ErrStopScan
		}
		if r.Timestamp == ts && bytes.Equal(r.Value, line) && keyHas(r.Key, want) {
			found = r.Offset
			return segments.ErrStopScan
		}
		return nil
	})
	if err != nil && !errors.Is(err, segments.ErrStopScan) {
		return 0, false, err
	}
	return found, found >= 0, nil
}

// keyHas reports whether a record key is a label set with every label of want.
func keyHas(key []byte, want ingest.Labels) bool {
	if len(want) == 0 {
		return true
	}
	have, err := ingest.ParseLabels(string(key))
	if err != nil {
		return false
	}
	values := make(map[string]string, len(have))
	for _, l := range have {
		values[l.Name] = l.Value
	}
	for _, l := range want {
		if v, ok := values[l.Name]; !ok || v != l.Value {
			return false
		}
	}
	return true
}
