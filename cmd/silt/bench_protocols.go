package main

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// benchProtocol is how one push protocol encodes a batch of corpus lines.
type benchProtocol struct {
	name        string
	path        string // default URL path; "" for syslog (TCP)
	query       string // default query string
	contentType string
	// snappy: the body is snappy-compressed (a block, as Loki push and
	// remote_write use); contentEncoding is then sent as is.
	snappy          bool
	contentEncoding string
	gzipOK          bool // -gzip applies
	encode          func(e *benchEncoder, b benchBatch, dst []byte) ([]byte, error)
}

var benchProtocols = map[string]*benchProtocol{
	"jsonline": {name: "jsonline", path: "/api/v1/push/jsonline", query: "_stream_fields=app,host",
		contentType: "application/stream+json", gzipOK: true, encode: (*benchEncoder).encodeJSONLine},
	"loki": {name: "loki", path: "/loki/api/v1/push", contentType: "application/x-protobuf", snappy: true,
		encode: (*benchEncoder).encodeLokiProto},
	"loki-json": {name: "loki-json", path: "/loki/api/v1/push", contentType: "application/json", gzipOK: true,
		encode: (*benchEncoder).encodeLokiJSON},
	"bulk": {name: "bulk", path: "/_bulk", contentType: "application/x-ndjson", gzipOK: true,
		encode: (*benchEncoder).encodeBulk},
	"otlp": {name: "otlp", path: "/v1/logs", contentType: "application/x-protobuf", gzipOK: true,
		encode: (*benchEncoder).encodeOTLP},
	"syslog": {name: "syslog", encode: (*benchEncoder).encodeSyslog},
	"remote_write": {name: "remote_write", path: "/api/v1/write", contentType: "application/x-protobuf",
		snappy: true, contentEncoding: "snappy", encode: (*benchEncoder).encodeRemoteWrite},
}

// benchBatch is n consecutive corpus lines (wrapping around) starting at
// start; line j gets the timestamp t0+j ns, so a stream's entries keep order.
type benchBatch struct {
	c     *benchCorpus
	start int
	n     int
	t0    int64
}

func (b benchBatch) index(j int) int { return (b.start + j) % b.c.len() }
func (b benchBatch) ts(j int) int64  { return b.t0 + int64(j) }

// lineBytes is the bytes of the batch's log lines.
func (b benchBatch) lineBytes() int {
	n := 0
	for j := 0; j < b.n; j++ {
		i := b.index(j)
		n += int(b.c.offs[i+1] - b.c.offs[i])
	}
	return n
}

// benchEncoder turns batches into request bodies. It keeps scratch space
// between batches, so each goroutine has its own.
type benchEncoder struct {
	proto   *benchProtocol
	c       *benchCorpus
	gzip    bool
	gz      *gzip.Writer
	gzBuf   bytes.Buffer
	payload []byte

	jsonSuffix [][]byte  // per stream: `,"app":"..","host":".."}` + "\n"
	jsonLabels [][]byte  // per stream: `{"app":"..","host":".."}`
	groups     [][]int32 // per stream: the batch positions of its lines
	order      []int     // streams present in the batch, by first line
	loki       []push.Stream
	lokiLabels []string
	ts         tsFormatter
}

func newBenchEncoder(p *benchProtocol, c *benchCorpus, useGzip bool) *benchEncoder {
	e := &benchEncoder{proto: p, c: c, gzip: useGzip, groups: make([][]int32, len(c.streams))}
	for _, s := range c.streams {
		lab := append(appendJSONString([]byte(`{"app":`), s.app), `,"host":`...)
		lab = append(appendJSONString(lab, s.host), '}')
		e.jsonLabels = append(e.jsonLabels, lab)
		e.jsonSuffix = append(e.jsonSuffix, append(append([]byte{','}, lab[1:]...), '\n'))
		e.lokiLabels = append(e.lokiLabels, fmt.Sprintf(`{app=%q, host=%q}`, s.app, s.host))
	}
	if useGzip {
		e.gz, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed)
	}
	return e
}

// encode returns the body of b in dst (reused) and the size of its
// uncompressed payload. An uncompressed body is encoded straight into dst.
func (e *benchEncoder) encode(b benchBatch, dst []byte) (body []byte, payload int, err error) {
	if !e.proto.snappy && !e.gzip {
		body, err = e.proto.encode(e, b, dst[:0])
		if err != nil {
			return nil, 0, fmt.Errorf("encode %s batch: %w", e.proto.name, err)
		}
		return body, len(body), nil
	}
	e.payload, err = e.proto.encode(e, b, e.payload[:0])
	if err != nil {
		return nil, 0, fmt.Errorf("encode %s batch: %w", e.proto.name, err)
	}
	if e.proto.snappy {
		return snappy.Encode(dst[:cap(dst)], e.payload), len(e.payload), nil
	}
	e.gzBuf.Reset()
	e.gz.Reset(&e.gzBuf)
	if _, err := e.gz.Write(e.payload); err != nil {
		return nil, 0, err
	}
	if err := e.gz.Close(); err != nil {
		return nil, 0, err
	}
	return append(dst[:0], e.gzBuf.Bytes()...), len(e.payload), nil
}

// group fills e.groups and e.order with the batch's lines by stream.
func (e *benchEncoder) group(b benchBatch) {
	for _, s := range e.order {
		e.groups[s] = e.groups[s][:0]
	}
	e.order = e.order[:0]
	for j := 0; j < b.n; j++ {
		s := int(b.c.stream[b.index(j)])
		if len(e.groups[s]) == 0 {
			e.order = append(e.order, s)
		}
		e.groups[s] = append(e.groups[s], int32(j))
	}
}

// encodeJSONLine writes VictoriaLogs JSON lines.
func (e *benchEncoder) encodeJSONLine(b benchBatch, dst []byte) ([]byte, error) {
	for j := 0; j < b.n; j++ {
		i := b.index(j)
		dst = appendJSONString(append(dst, `{"_msg":`...), b.c.line(i))
		dst = append(e.ts.appendRFC3339(append(dst, `,"_time":"`...), b.ts(j), 9), '"')
		dst = append(dst, e.jsonSuffix[b.c.stream[i]]...)
	}
	return dst, nil
}

// benchBulkAction is the action line before every document.
const benchBulkAction = `{"index":{"_index":"silt-bench"}}` + "\n"

// encodeBulk writes an Elasticsearch bulk body of index actions.
func (e *benchEncoder) encodeBulk(b benchBatch, dst []byte) ([]byte, error) {
	for j := 0; j < b.n; j++ {
		i := b.index(j)
		dst = append(dst, benchBulkAction...)
		dst = append(e.ts.appendRFC3339(append(dst, `{"@timestamp":"`...), b.ts(j), 9), `","message":`...)
		dst = appendJSONString(dst, b.c.line(i))
		dst = append(dst, e.jsonSuffix[b.c.stream[i]]...)
	}
	return dst, nil
}

// encodeLokiJSON writes a Loki push request in JSON.
func (e *benchEncoder) encodeLokiJSON(b benchBatch, dst []byte) ([]byte, error) {
	e.group(b)
	dst = append(dst, `{"streams":[`...)
	for k, s := range e.order {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(append(dst, `{"stream":`...), e.jsonLabels[s]...), `,"values":[`...)
		for n, j := range e.groups[s] {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = append(strconv.AppendInt(append(dst, `["`...), b.ts(int(j)), 10), `",`...)
			dst = append(appendJSONString(dst, b.c.line(b.index(int(j)))), ']')
		}
		dst = append(dst, "]}"...)
	}
	return append(dst, "]}"...), nil
}

// encodeLokiProto writes a Loki push request in protobuf (snappy comes after).
func (e *benchEncoder) encodeLokiProto(b benchBatch, dst []byte) ([]byte, error) {
	e.group(b)
	if e.loki == nil {
		e.loki = make([]push.Stream, len(b.c.streams))
	}
	req := push.PushRequest{Streams: make([]push.Stream, 0, len(e.order))}
	for _, s := range e.order {
		st := &e.loki[s]
		st.Labels, st.Entries = e.lokiLabels[s], st.Entries[:0]
		for _, j := range e.groups[s] {
			st.Entries = append(st.Entries, push.Entry{Timestamp: time.Unix(0, b.ts(int(j))), Line: b.c.line(b.index(int(j)))})
		}
		req.Streams = append(req.Streams, *st)
	}
	return marshalSized(dst, req.Size(), req.MarshalToSizedBuffer)
}

// marshalSized runs a gogo MarshalToSizedBuffer into dst's spare capacity.
func marshalSized(dst []byte, size int, marshal func([]byte) (int, error)) ([]byte, error) {
	if cap(dst) < size {
		dst = make([]byte, 0, size+size/4)
	}
	dst = dst[:size]
	if _, err := marshal(dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// encodeOTLP writes an OTLP ExportLogsServiceRequest: one resource per stream
// (service.name = app, host.name = host).
func (e *benchEncoder) encodeOTLP(b benchBatch, dst []byte) ([]byte, error) {
	e.group(b)
	ld := plog.NewLogs()
	rls := ld.ResourceLogs()
	rls.EnsureCapacity(len(e.order))
	for _, s := range e.order {
		rl := rls.AppendEmpty()
		attrs := rl.Resource().Attributes()
		attrs.PutStr("service.name", b.c.streams[s].app)
		attrs.PutStr("host.name", b.c.streams[s].host)
		recs := rl.ScopeLogs().AppendEmpty().LogRecords()
		recs.EnsureCapacity(len(e.groups[s]))
		for _, j := range e.groups[s] {
			r := recs.AppendEmpty()
			r.SetTimestamp(pcommon.Timestamp(b.ts(int(j))))
			r.SetSeverityNumber(plog.SeverityNumberInfo)
			r.Body().SetStr(b.c.line(b.index(int(j))))
		}
	}
	out, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

// encodeSyslog writes octet-counted RFC 5424 messages (RFC 6587 framing):
// facility user, severity info, HOSTNAME = host, APP-NAME = app.
func (e *benchEncoder) encodeSyslog(b benchBatch, dst []byte) ([]byte, error) {
	var msg []byte
	for j := 0; j < b.n; j++ {
		i := b.index(j)
		st := b.c.labels(i)
		msg = e.ts.appendRFC3339(append(msg[:0], "<14>1 "...), b.ts(j), 6)
		msg = append(append(append(append(msg, ' '), st.host...), ' '), st.app...)
		msg = append(append(msg, " - - - "...), b.c.line(i)...)
		dst = append(strconv.AppendInt(dst, int64(len(msg)), 10), ' ')
		dst = append(dst, msg...)
	}
	return dst, nil
}

// encodeRemoteWrite writes a Prometheus remote_write request: each line is a
// sample of silt_bench_line_bytes{app,host} whose value is the line's length.
func (e *benchEncoder) encodeRemoteWrite(b benchBatch, dst []byte) ([]byte, error) {
	e.group(b)
	req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, len(e.order))}
	for _, s := range e.order {
		st := b.c.streams[s]
		ts := prompb.TimeSeries{Labels: []prompb.Label{
			{Name: "__name__", Value: "silt_bench_line_bytes"}, {Name: "app", Value: st.app}, {Name: "host", Value: st.host}}}
		ts.Samples = make([]prompb.Sample, 0, len(e.groups[s]))
		ms := b.t0 / int64(time.Millisecond)
		for k, j := range e.groups[s] {
			// One millisecond apart, so a series never repeats a timestamp.
			ts.Samples = append(ts.Samples, prompb.Sample{Value: float64(len(b.c.line(b.index(int(j))))), Timestamp: ms + int64(k)})
		}
		req.Timeseries = append(req.Timeseries, ts)
	}
	return marshalSized(dst, req.Size(), req.MarshalToSizedBuffer)
}

// tsFormatter appends UTC RFC 3339 timestamps, caching the formatted second.
type tsFormatter struct {
	sec    int64
	prefix []byte // "2006-01-02T15:04:05."
}

// appendRFC3339 appends ns with digits fractional digits (6 or 9) and a Z.
func (f *tsFormatter) appendRFC3339(dst []byte, ns int64, digits int) []byte {
	sec, frac := ns/1e9, ns%1e9
	if f.prefix == nil || sec != f.sec {
		f.sec = sec
		f.prefix = time.Unix(sec, 0).UTC().AppendFormat(f.prefix[:0], "2006-01-02T15:04:05.")
	}
	dst = append(dst, f.prefix...)
	frac /= int64(math.Pow10(9 - digits))
	var buf [9]byte
	for k := digits - 1; k >= 0; k-- {
		buf[k] = byte('0' + frac%10)
		frac /= 10
	}
	return append(append(dst, buf[:digits]...), 'Z')
}

const hexDigits = "0123456789abcdef"

// jsonPlain marks the bytes a JSON string holds as they are.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONString appends s as a JSON string. s must be valid UTF-8 (the
// corpus is); only quotes, backslashes and control characters are escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if jsonPlain[c] {
			continue
		}
		dst = append(dst, s[last:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		last = i + 1
	}
	return append(append(dst, s[last:]...), '"')
}
