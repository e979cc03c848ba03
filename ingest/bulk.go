package ingest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/siltlog/silt/segments"
)

// Elasticsearch bulk receiver: /_bulk and /{index}/_bulk take NDJSON
// action/source pairs, as Filebeat, Logstash, Fluent Bit, Vector and rsyslog's
// omelasticsearch send them, and answer as Elasticsearch 8 does. GET /,
// /_license and /_cat/health answer the probes those clients make first.

// BulkConfig is the Elasticsearch bulk receiver's configuration.
type BulkConfig struct {
	// StreamFields are the document fields that become stream labels, besides
	// index: "field" (label named SanitizeLabelName(field)) or "field=label".
	StreamFields string `yaml:"stream_fields"`
}

// DefaultBulkStreamFields are low-cardinality ECS fields: the host and the service.
const DefaultBulkStreamFields = "host.name=host,service.name=service_name"

// RegisterFlags registers the bulk receiver's flags.
func (c *BulkConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.StreamFields, "ingest.bulk.stream-fields", DefaultBulkStreamFields,
		"Comma-separated document fields (dotted paths) that become stream labels of Elasticsearch bulk documents, besides index; field=label renames. Keep them low-cardinality.")
}

// Validate reports a field list that cannot be used.
func (c *BulkConfig) Validate() error {
	_, err := parseBulkStreamFields(c.StreamFields)
	return err
}

// bulkStreamField maps a flattened document field to a stream label.
type bulkStreamField struct{ field, label string }

func parseBulkStreamFields(s string) ([]bulkStreamField, error) {
	var out []bulkStreamField
	seen := map[string]bool{"index": true}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		field, label, renamed := strings.Cut(item, "=")
		if !renamed {
			label = SanitizeLabelName(field)
		}
		field, label = strings.TrimSpace(field), strings.TrimSpace(label)
		switch {
		case field == "":
			return nil, fmt.Errorf("ingest.bulk.stream-fields: empty field name in %q", item)
		case !validLabelName(label):
			return nil, fmt.Errorf("ingest.bulk.stream-fields: %q is not a valid label name", label)
		case seen[label]:
			return nil, fmt.Errorf("ingest.bulk.stream-fields: label %q is used twice (index is built in)", label)
		}
		seen[label] = true
		out = append(out, bulkStreamField{field: field, label: label})
	}
	return out, nil
}

// Message fields, in order of preference; the first one with a string value is
// the line.
var bulkMessageFields = []string{"message", "msg", "log", "_msg"}

const bulkTimestampField = "@timestamp"

// bulkReceiver serves the bulk endpoint of one distributor.
type bulkReceiver struct {
	d      *Distributor
	fields []bulkStreamField
}

func bulkRoutes(d *Distributor) []Route {
	fields, err := parseBulkStreamFields(d.cfg.Bulk.StreamFields)
	if err != nil {
		panic(err) // Config.Validate rejects bad stream fields first
	}
	b := &bulkReceiver{d: d, fields: fields}
	bulk := http.HandlerFunc(b.serveBulk)
	return []Route{
		{Method: http.MethodPost, Path: "/_bulk", Handler: bulk},
		{Method: http.MethodPut, Path: "/_bulk", Handler: bulk},
		{Method: http.MethodPost, Path: "/{index}/_bulk", Handler: bulk},
		{Method: http.MethodPut, Path: "/{index}/_bulk", Handler: bulk},
		{Method: http.MethodGet, Path: "/", Handler: http.HandlerFunc(esRoot)},
		{Method: http.MethodHead, Path: "/", Handler: http.HandlerFunc(esRoot)},
		{Method: http.MethodGet, Path: "/_license", Handler: http.HandlerFunc(esLicense)},
		{Method: http.MethodGet, Path: "/_cat/health", Handler: http.HandlerFunc(esCatHealth)},
	}
}

// bulkItem is the outcome of one action, in request order.
type bulkItem struct {
	action, index, id string
	err               *Error // a per-item failure (unsupported action)
}

func (b *bulkReceiver) serveBulk(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var items []bulkItem
	decode := func(r *http.Request, body []byte) (*PushRequest, error) {
		switch mt := MediaType(r); mt {
		case "", "application/json", "application/x-ndjson",
			"application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson":
		default:
			return nil, Errorf(http.StatusUnsupportedMediaType, ReasonBadRequest,
				"Content-Type header [%s] is not supported: send application/x-ndjson", r.Header.Get("Content-Type"))
		}
		req, its, err := decodeBulk(b.fields, bulkURLIndex(r), body)
		items = its
		return req, err
	}
	respond := func(w http.ResponseWriter, _ *PushRequest, err error) {
		writeBulkResponse(w, time.Since(start), items, err)
	}
	b.d.Handler("bulk", decode, respond).ServeHTTP(w, r)
}

// bulkURLIndex returns the {index} of /{index}/_bulk, or "" for /_bulk. It
// reads the path itself so that any router can mount the route.
func bulkURLIndex(r *http.Request) string {
	if v := r.PathValue("index"); v != "" {
		return v
	}
	p := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/"), "/")
	p = strings.TrimSuffix(p, "_bulk")
	return strings.TrimSuffix(p, "/")
}

// bulkDecoder holds the state of one request's decoding.
type bulkDecoder struct {
	fields   []bulkStreamField
	urlIndex string
	req      *PushRequest
	streams  map[string]int // label string -> index in req.Streams
	items    []bulkItem
}

// decodeBulk decodes an NDJSON bulk body. Unsupported actions (delete, update)
// become failed items; anything malformed fails the whole request.
func decodeBulk(fields []bulkStreamField, urlIndex string, body []byte) (*PushRequest, []bulkItem, error) {
	bd := &bulkDecoder{fields: fields, urlIndex: urlIndex, req: &PushRequest{}, streams: map[string]int{}}
	lineNo := 0
	next := func() ([]byte, bool) { // the next non-blank line
		for len(body) > 0 {
			var line []byte
			line, body, _ = bytes.Cut(body, []byte{'\n'})
			lineNo++
			if line = bytes.TrimSpace(line); len(line) > 0 {
				return line, true
			}
		}
		return nil, false
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		action, meta, err := parseBulkAction(line, lineNo)
		if err != nil {
			return nil, nil, err
		}
		index := meta.Index
		if index == "" {
			index = urlIndex
		}
		switch action {
		case "index", "create":
			src, ok := next()
			if !ok {
				return nil, nil, BadRequest("bulk line %d: %s action without a source document on the next line", lineNo, action)
			}
			if index == "" {
				return nil, nil, BadRequest("bulk line %d: index is missing: name it in the URL (/{index}/_bulk) or in the action's _index", lineNo)
			}
			if err := bd.add(index, src, lineNo); err != nil {
				return nil, nil, err
			}
			bd.items = append(bd.items, bulkItem{action: action, index: index, id: bulkID(meta.ID)})
		case "update", "delete":
			if action == "update" {
				if _, ok := next(); !ok {
					return nil, nil, BadRequest("bulk line %d: update action without a body on the next line", lineNo)
				}
			}
			bd.items = append(bd.items, bulkItem{action: action, index: index, id: meta.ID,
				err: BadRequest("silt stores logs append-only: %s actions are not supported, use index or create", action)})
		default:
			return nil, nil, BadRequest("bulk line %d: malformed action/metadata line, expected one of [create, delete, index, update] but found [%s]", lineNo, action)
		}
	}
	if len(bd.items) == 0 {
		return nil, nil, BadRequest("bulk request holds no actions")
	}
	return bd.req, bd.items, nil
}

type bulkActionMeta struct {
	Index string `json:"_index"`
	ID    string `json:"_id"`
}

// parseBulkAction parses {"<action>": {"_index": ..., "_id": ...}}.
func parseBulkAction(line []byte, lineNo int) (string, bulkActionMeta, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return "", bulkActionMeta{}, BadRequest("bulk line %d: action is not a JSON object: %v", lineNo, err)
	}
	if len(m) != 1 {
		return "", bulkActionMeta{}, BadRequest("bulk line %d: malformed action/metadata line, expected one action but found %d keys", lineNo, len(m))
	}
	var meta bulkActionMeta
	for action, raw := range m {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return "", meta, BadRequest("bulk line %d: metadata of %s action: %v", lineNo, action, err)
		}
		return action, meta, nil
	}
	panic("unreachable")
}

// bulkField is one leaf of a flattened document.
type bulkField struct {
	key string
	val any // string, json.Number, bool, nil or []any
}

// add maps one source document to an entry of its stream.
func (bd *bulkDecoder) add(index string, src []byte, lineNo int) error {
	doc, err := parseBulkSource(src)
	if err != nil {
		return BadRequest("bulk line %d: source document: %v", lineNo, err)
	}
	flat := flattenBulk(nil, "", doc)
	sort.SliceStable(flat, func(i, j int) bool { return flat[i].key < flat[j].key })

	e := Entry{}
	used := make([]bool, len(flat))
	if i := bulkFind(flat, bulkTimestampField); i >= 0 {
		if e.Timestamp, err = parseBulkTimestamp(flat[i].val); err != nil {
			return BadRequest("bulk line %d: %s: %v", lineNo, bulkTimestampField, err)
		}
		used[i] = true
	}
	ls := Labels{{Name: "index", Value: index}}
	for _, f := range bd.fields {
		if i := bulkFind(flat, f.field); i >= 0 && !used[i] {
			if v := bulkString(flat[i].val); v != "" {
				ls = append(ls, Label{Name: f.label, Value: v})
				used[i] = true
			}
		}
	}
	msg := -1
	for _, name := range bulkMessageFields {
		if i := bulkFind(flat, name); i >= 0 && !used[i] {
			if _, ok := flat[i].val.(string); ok {
				msg = i
				break
			}
		}
	}
	if msg < 0 {
		e.Line = string(src) // no message field: the document is the line
	} else {
		e.Line = flat[msg].val.(string)
		used[msg] = true
		for i, f := range flat {
			if !used[i] && f.val != nil {
				e.Metadata = append(e.Metadata, segments.Header{Key: f.key, Value: []byte(bulkString(f.val))})
			}
		}
	}
	key := ls.String()
	si, ok := bd.streams[key]
	if !ok {
		si = len(bd.req.Streams)
		bd.streams[key] = si
		bd.req.Streams = append(bd.req.Streams, Stream{Labels: ls})
	}
	bd.req.Streams[si].Entries = append(bd.req.Streams[si].Entries, e)
	return nil
}

func parseBulkSource(src []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if doc == nil {
		return nil, errors.New("not a JSON object: null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON object")
	}
	return doc, nil
}

// flattenBulk appends the leaves of doc under dotted keys.
func flattenBulk(dst []bulkField, prefix string, doc map[string]any) []bulkField {
	for k, v := range doc {
		if prefix != "" {
			k = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok {
			dst = flattenBulk(dst, k, m)
			continue
		}
		dst = append(dst, bulkField{key: k, val: v})
	}
	return dst
}

// bulkFind returns the index of key in the sorted flat, or -1.
func bulkFind(flat []bulkField, key string) int {
	i := sort.Search(len(flat), func(i int) bool { return flat[i].key >= key })
	if i < len(flat) && flat[i].key == key {
		return i
	}
	return -1
}

// bulkString renders a leaf as metadata text: arrays as JSON.
func bulkString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Layouts of @timestamp, after RFC 3339: Elasticsearch's
// strict_date_optional_time without a zone means UTC.
var bulkTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999", "2006-01-02"}

// parseBulkTimestamp parses an RFC 3339 string or epoch milliseconds.
func parseBulkTimestamp(v any) (int64, error) {
	switch v := v.(type) {
	case string:
		for _, layout := range bulkTimeLayouts {
			if t, err := time.Parse(layout, v); err == nil {
				return t.UnixNano(), nil
			}
		}
		return 0, fmt.Errorf("%q is neither RFC 3339 nor epoch milliseconds", v)
	case json.Number:
		if ns, ok := bulkEpochMillis(v.String()); ok {
			return ns, nil
		}
		return 0, fmt.Errorf("%s is not epoch milliseconds", v)
	}
	return 0, fmt.Errorf("want an RFC 3339 string or epoch milliseconds, got %s", bulkString(v))
}

// bulkEpochMillis parses decimal epoch milliseconds, with up to 6 fraction
// digits kept exactly, into nanoseconds.
func bulkEpochMillis(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	ms, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || ms <= 0 || ms >= math.MaxInt64/1_000_000 || len(frac) > 6 {
		return 0, false
	}
	ns := ms * 1_000_000
	if frac != "" {
		f, err := strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
		if err != nil {
			return 0, false
		}
		ns += int64(f)
	}
	return ns, true
}

var bulkSeqNo atomic.Int64 // _seq_no of the items answered, as one shard would count them

// bulkID returns id, or a new random 20-character ID as Elasticsearch makes.
func bulkID(id string) string {
	if id != "" {
		return id
	}
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

type esShards struct {
	Total      int `json:"total"`
	Successful int `json:"successful"`
	Failed     int `json:"failed"`
}

type esItemResult struct {
	Index       string        `json:"_index"`
	ID          string        `json:"_id"`
	Version     int           `json:"_version,omitempty"`
	Result      string        `json:"result,omitempty"`
	Shards      *esShards     `json:"_shards,omitempty"`
	SeqNo       *int64        `json:"_seq_no,omitempty"`
	PrimaryTerm int           `json:"_primary_term,omitempty"`
	Status      int           `json:"status"`
	Error       *esErrorCause `json:"error,omitempty"`
}

type esErrorCause struct {
	RootCause []esErrorCause `json:"root_cause,omitempty"`
	Type      string         `json:"type"`
	Reason    string         `json:"reason"`
}

type esBulkResponse struct {
	Took   int64                     `json:"took"`
	Errors bool                      `json:"errors"`
	Items  []map[string]esItemResult `json:"items"`
}

// writeBulkResponse answers a bulk request: one item per action once the push
// is durable, else an Elasticsearch error for the whole request.
func writeBulkResponse(w http.ResponseWriter, took time.Duration, items []bulkItem, err error) {
	if err != nil {
		writeESError(w, err)
		return
	}
	resp := esBulkResponse{Took: took.Milliseconds(), Items: make([]map[string]esItemResult, len(items))}
	for i, it := range items {
		res := esItemResult{Index: it.index, ID: it.id}
		if it.err != nil {
			resp.Errors = true
			res.Status = it.err.Status
			res.Error = &esErrorCause{Type: esErrorType(it.err), Reason: it.err.Msg}
		} else {
			seq := bulkSeqNo.Add(1) - 1
			res.Version, res.Result, res.SeqNo, res.PrimaryTerm, res.Status = 1, "created", &seq, 1, http.StatusCreated
			res.Shards = &esShards{Total: 1, Successful: 1}
		}
		resp.Items[i] = map[string]esItemResult{it.action: res}
	}
	writeESJSON(w, http.StatusOK, resp)
}

// writeESError answers err as Elasticsearch does:
// {"error":{"root_cause":[...],"type":..,"reason":..},"status":N}.
func writeESError(w http.ResponseWriter, err error) {
	e := AsError(err)
	SetRetryAfter(w, e)
	cause := esErrorCause{Type: esErrorType(e), Reason: e.Msg}
	root := cause
	cause.RootCause = []esErrorCause{root}
	writeESJSON(w, e.Status, map[string]any{"error": cause, "status": e.Status})
}

func esErrorType(e *Error) string {
	switch e.Status {
	case http.StatusTooManyRequests:
		return "es_rejected_execution_exception" // Beats and Logstash retry it
	case http.StatusServiceUnavailable:
		return "unavailable_shards_exception"
	case http.StatusUnauthorized:
		return "security_exception"
	case http.StatusNotFound:
		return "index_not_found_exception"
	case http.StatusRequestEntityTooLarge:
		return "content_too_long_exception"
	case http.StatusUnsupportedMediaType:
		return "media_type_header_exception"
	}
	if e.Status >= 500 {
		return "exception"
	}
	if e.Reason == ReasonBadRequest {
		return "x_content_parse_exception"
	}
	return "illegal_argument_exception"
}

func writeESJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"type":"exception","reason":"encoding the response failed"},"status":500}`)
	}
	h := w.Header()
	h.Set("X-Elastic-Product", "Elasticsearch")
	h.Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// The Elasticsearch version silt presents: 8.x clients (Beats, the Go client)
// check the major version and the X-Elastic-Product header.
const (
	esVersion     = "8.11.0"
	esClusterName = "silt"
	esClusterUUID = "c2lsdC1sb2ctYXBwbGlhbmNl"
)

// esRoot answers GET / and HEAD / as an Elasticsearch 8 node's root.
func esRoot(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeESJSON(w, http.StatusOK, map[string]any{
		"name":         "silt",
		"cluster_name": esClusterName,
		"cluster_uuid": esClusterUUID,
		"version": map[string]any{
			"number":                              esVersion,
			"build_flavor":                        "default",
			"build_type":                          "tar",
			"build_hash":                          "silt",
			"build_date":                          "2023-11-04T10:04:57.184859352Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.8.0",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	})
}

// esLicense answers GET /_license: an active basic license, which is all Beats
// need to ship to Elasticsearch.
func esLicense(w http.ResponseWriter, _ *http.Request) {
	writeESJSON(w, http.StatusOK, map[string]any{"license": map[string]any{
		"status":               "active",
		"uid":                  "00000000-0000-0000-0000-000000000000",
		"type":                 "basic",
		"issue_date":           "2023-01-01T00:00:00.000Z",
		"issue_date_in_millis": 1672531200000,
		"max_nodes":            1000,
		"issued_to":            esClusterName,
		"issuer":               "elasticsearch",
		"start_date_in_millis": -1,
	}})
}

// esCatHealth answers GET /_cat/health, rsyslog omelasticsearch's health check.
func esCatHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	now := time.Now().UTC()
	_, _ = fmt.Fprintf(w, "%d %s %s green 1 1 - - 0 0 0 0 - 100.0%%\n", now.Unix(), now.Format("15:04:05"), esClusterName)
}
