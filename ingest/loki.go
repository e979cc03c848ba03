package ingest

import (
	"encoding/json"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/grafana/loki/pkg/push"

	"github.com/siltlog/silt/segments"
)

// Loki push API: POST /loki/api/v1/push, as Promtail, Alloy, Fluent Bit's loki
// output and Grafana's loki-client-go send it.
//
//   - application/x-protobuf: a snappy block of a logproto PushRequest. Clients
//     compress it without saying so in Content-Encoding; when a client does send
//     "Content-Encoding: snappy", that snappy is the one the Handler already
//     undid (as in Loki, the body is not snappy twice). Any other
//     Content-Encoding (gzip, ...) wraps the snappy block.
//   - application/json: {"streams":[{"stream":{...},"values":[["<ns>","line"{,{metadata}}]]}]},
//     optionally compressed by Content-Encoding.
//
// Each stream gets a service_name label when it has none, as Loki 3 does.
const (
	lokiProtocol    = "loki"
	lokiPushPath    = "/loki/api/v1/push"
	contentProtobuf = "application/x-protobuf"
	contentJSON     = "application/json"
)

// ServiceNameLabel is the label Loki 3 adds to every stream that lacks it.
const (
	ServiceNameLabel = "service_name"
	UnknownService   = "unknown_service"
)

// serviceNameSources are the labels service_name is taken from, first present
// first: Loki's default -validation.discover-service-name.
var serviceNameSources = []string{
	"service", "app", "application", "app_name", "name", "app_kubernetes_io_name",
	"container", "container_name", "k8s_container_name", "component", "workload", "job", "k8s_job_name",
}

func lokiRoutes(d *Distributor) []Route {
	return []Route{{Method: http.MethodPost, Path: lokiPushPath, Handler: d.Handler(lokiProtocol, d.decodeLoki, NoContent)}}
}

func (d *Distributor) decodeLoki(r *http.Request, body []byte) (*PushRequest, error) {
	switch mt := MediaType(r); mt {
	case contentProtobuf:
		if r.Header.Get("Content-Encoding") != "snappy" {
			var err error
			if body, err = DecodeSnappy(body, d.MaxRequestBytes()); err != nil {
				return nil, err
			}
		}
		return decodeLokiProtobuf(body)
	case contentJSON:
		return decodeLokiJSON(body)
	default:
		return nil, Errorf(http.StatusUnsupportedMediaType, ReasonBadRequest,
			"unsupported Content-Type %q for the Loki push API: send %s (a snappy-compressed logproto.PushRequest) or %s",
			r.Header.Get("Content-Type"), contentProtobuf, contentJSON)
	}
}

// decodeLokiProtobuf decodes an uncompressed logproto.PushRequest. Lines alias body.
func decodeLokiProtobuf(body []byte) (*PushRequest, error) {
	var pr push.PushRequest
	if err := pr.Unmarshal(body); err != nil {
		return nil, BadRequest("decoding the protobuf push request (after snappy): %v", err)
	}
	req := &PushRequest{Streams: make([]Stream, 0, len(pr.Streams))}
	for i, ps := range pr.Streams {
		ls, err := lokiStreamLabels(i, ps.Labels)
		if err != nil {
			return nil, err
		}
		s := Stream{Labels: ls, Entries: make([]Entry, len(ps.Entries))}
		for j, pe := range ps.Entries {
			ts, err := lokiTime(i, j, pe.Timestamp)
			if err != nil {
				return nil, err
			}
			md, err := lokiMetadata(i, j, pe.StructuredMetadata)
			if err != nil {
				return nil, err
			}
			s.Entries[j] = Entry{Timestamp: ts, Line: pe.Line, Metadata: md}
		}
		req.Streams = append(req.Streams, s)
	}
	return req, nil
}

func lokiStreamLabels(i int, s string) (Labels, error) {
	ls, err := ParseLabels(s)
	if err != nil {
		return nil, BadRequest("stream %d: %v", i, err)
	}
	if len(ls) == 0 {
		return nil, Errorf(http.StatusBadRequest, ReasonInvalidLabels, "stream %d: a stream needs at least one label", i)
	}
	return withServiceName(ls), nil
}

// Nanosecond timestamps cover 1678 to 2262; anything outside cannot be stored.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// lokiTime converts an entry's timestamp. Loki entries always carry one, so a
// timestamp at or before the epoch (the zero value included) is refused as too
// old rather than taken as "now".
func lokiTime(i, j int, t time.Time) (int64, error) {
	switch {
	case t.After(maxTime):
		return 0, Errorf(http.StatusBadRequest, ReasonTooNew, "stream %d, entry %d: timestamp %s is past 2262", i, j, t.UTC().Format(time.RFC3339Nano))
	case t.Before(minTime) || t.UnixNano() <= 0:
		return 0, Errorf(http.StatusBadRequest, ReasonTooOld, "stream %d, entry %d: timestamp %s is not after 1970", i, j, t.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

func lokiMetadata(i, j int, md push.LabelsAdapter) ([]segments.Header, error) {
	if len(md) == 0 {
		return nil, nil
	}
	hs := make([]segments.Header, len(md))
	for k, l := range md {
		if !utf8.ValidString(l.Name) || !utf8.ValidString(l.Value) {
			return nil, Errorf(http.StatusBadRequest, ReasonInvalidUTF8, "stream %d, entry %d: structured metadata %q is not valid UTF-8", i, j, l.Name)
		}
		if l.Name == "" {
			return nil, BadRequest("stream %d, entry %d: structured metadata with an empty name", i, j)
		}
		hs[k] = segments.Header{Key: l.Name, Value: []byte(l.Value)}
	}
	return hs, nil
}

// withServiceName adds service_name to a stream that lacks it, from the first of
// serviceNameSources it has, else "unknown_service", as Loki 3 does.
func withServiceName(ls Labels) Labels {
	for _, l := range ls {
		if l.Name == ServiceNameLabel {
			return ls
		}
	}
	value := UnknownService
	for _, src := range serviceNameSources {
		if v, ok := ls.get(src); ok && v != "" {
			value = v
			break
		}
	}
	return append(ls, Label{Name: ServiceNameLabel, Value: value})
}

func (ls Labels) get(name string) (string, bool) {
	for _, l := range ls {
		if l.Name == name {
			return l.Value, true
		}
	}
	return "", false
}

// decodeLokiJSON decodes Loki's v1 JSON push body strictly: every deviation
// from the documented shape is a 400 naming the stream and value.
func decodeLokiJSON(body []byte) (*PushRequest, error) {
	if !utf8.Valid(body) {
		// encoding/json would quietly replace the bad bytes with U+FFFD.
		return nil, Errorf(http.StatusBadRequest, ReasonInvalidUTF8, "JSON push request: the body is not valid UTF-8 (at byte %d)", invalidUTF8At(body))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, BadRequest("decoding the JSON push request: %v; want {\"streams\":[{\"stream\":{...},\"values\":[[\"<ns>\",\"line\"]]}]}", err)
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		if k != "streams" {
			return nil, BadRequest("JSON push request: unknown field %q; want {\"streams\":[...]}", k)
		}
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(top["streams"], &raw); err != nil || raw == nil {
		return nil, BadRequest("JSON push request: \"streams\" must be an array of {\"stream\":{...},\"values\":[...]} objects")
	}
	req := &PushRequest{Streams: make([]Stream, 0, len(raw))}
	for i, rs := range raw {
		s, err := decodeLokiJSONStream(i, rs)
		if err != nil {
			return nil, err
		}
		req.Streams = append(req.Streams, s)
	}
	return req, nil
}

func decodeLokiJSONStream(i int, rs map[string]json.RawMessage) (Stream, error) {
	for _, k := range slices.Sorted(maps.Keys(rs)) {
		if k != "stream" && k != "values" {
			return Stream{}, BadRequest("stream %d: unknown field %q; the v1 push format is {\"stream\":{...},\"values\":[...]}", i, k)
		}
	}
	var labels map[string]string
	if err := json.Unmarshal(rs["stream"], &labels); err != nil || labels == nil {
		return Stream{}, BadRequest("stream %d: \"stream\" must be an object of string label values", i)
	}
	if len(labels) == 0 {
		return Stream{}, Errorf(http.StatusBadRequest, ReasonInvalidLabels, "stream %d: a stream needs at least one label", i)
	}
	ls := make(Labels, 0, len(labels)+1)
	for k, v := range labels {
		ls = append(ls, Label{Name: k, Value: v})
	}
	var values []json.RawMessage
	if err := json.Unmarshal(rs["values"], &values); err != nil || values == nil {
		return Stream{}, BadRequest("stream %d: \"values\" must be an array of [\"<ns>\", \"line\"] arrays", i)
	}
	s := Stream{Labels: withServiceName(ls), Entries: make([]Entry, len(values))}
	for j, v := range values {
		e, err := decodeLokiJSONValue(i, j, v)
		if err != nil {
			return Stream{}, err
		}
		s.Entries[j] = e
	}
	return s, nil
}

func decodeLokiJSONValue(i, j int, raw json.RawMessage) (Entry, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return Entry{}, BadRequest("stream %d, value %d: want [\"<ns>\", \"line\"] or [\"<ns>\", \"line\", {metadata}], got %.64s", i, j, raw)
	}
	if len(parts) != 2 && len(parts) != 3 {
		return Entry{}, BadRequest("stream %d, value %d: has %d elements; want [\"<ns>\", \"line\"] or [\"<ns>\", \"line\", {metadata}]", i, j, len(parts))
	}
	var tsText, line string
	if !isJSONString(parts[0]) || json.Unmarshal(parts[0], &tsText) != nil {
		return Entry{}, BadRequest("stream %d, value %d: the timestamp must be a string of nanoseconds since the epoch, got %.64s", i, j, parts[0])
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return Entry{}, BadRequest("stream %d, value %d: timestamp %q is not an integer count of nanoseconds since the epoch", i, j, tsText)
	}
	if ts <= 0 {
		return Entry{}, Errorf(http.StatusBadRequest, ReasonTooOld, "stream %d, value %d: timestamp %q is not after 1970", i, j, tsText)
	}
	if !isJSONString(parts[1]) || json.Unmarshal(parts[1], &line) != nil {
		return Entry{}, BadRequest("stream %d, value %d: the log line must be a string, got %.64s", i, j, parts[1])
	}
	e := Entry{Timestamp: ts, Line: line}
	if len(parts) == 3 {
		var md map[string]string
		if err := json.Unmarshal(parts[2], &md); err != nil || md == nil {
			return Entry{}, BadRequest("stream %d, value %d: structured metadata must be an object of string values, got %.64s", i, j, parts[2])
		}
		for k, v := range md {
			if k == "" {
				return Entry{}, BadRequest("stream %d, value %d: structured metadata with an empty name", i, j)
			}
			e.Metadata = append(e.Metadata, segments.Header{Key: k, Value: []byte(v)})
		}
		sortHeaders(e.Metadata)
	}
	return e, nil
}

// isJSONString reports whether raw (as json.RawMessage holds it: no leading
// space) is a JSON string.
func isJSONString(raw json.RawMessage) bool { return len(raw) > 0 && raw[0] == '"' }

// sortHeaders orders metadata from a JSON object by name, so that the stored
// record does not depend on map iteration order.
func sortHeaders(hs []segments.Header) {
	slices.SortFunc(hs, func(a, b segments.Header) int { return strings.Compare(a.Key, b.Key) })
}

// invalidUTF8At returns the offset of the first byte of b that is not part of
// valid UTF-8, or len(b).
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(b)
}
