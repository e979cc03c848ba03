package ingest

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// rwServer is a distributor over a fresh store behind an HTTP server: the
// harness of the bulk, OTLP and remote_write tests.
type rwServer struct {
	t     testing.TB
	store *topics.Store
	d     *Distributor
	srv   *httptest.Server
}

func newRWServer(t testing.TB, configure ...func(*Config)) *rwServer {
	t.Helper()
	var tcfg topics.Config
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	tcfg.RegisterFlags(fs)
	cfg.RegisterFlags(fs)
	for _, c := range configure {
		c(&cfg)
	}
	store := topics.NewStore(t.TempDir(), tcfg, segments.DefaultConfig(), slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), store) })
	d := NewDistributor(cfg, store, NewMetrics(nil), func(r *http.Request) (string, error) { return TenantFromRequest(r, false) })
	mux := http.NewServeMux()
	for _, rt := range d.Routes() {
		path := rt.Path
		if path == "/" {
			path = "/{$}"
		}
		mux.Handle(rt.Method+" "+path, rt.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &rwServer{t: t, store: store, d: d, srv: srv}
}

// post sends body and returns the status, headers and response body.
func (s *rwServer) post(path string, header http.Header, body []byte) (int, http.Header, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, out
}

// records returns every record of the default tenant's topic, in partition
// then offset order, so one stream's records keep their order.
func (s *rwServer) records(topic string) []segments.Record {
	s.t.Helper()
	reg, err := s.store.Registry()
	if err != nil {
		s.t.Fatal(err)
	}
	tp, err := reg.Get(DefaultTenant, topic)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []segments.Record
	for p := 0; p < tp.Partitions; p++ {
		l, err := s.store.Partition(DefaultTenant, topic, p)
		if err != nil {
			s.t.Fatal(err)
		}
		recs, err := l.Read(0, 1<<20)
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, recs...)
	}
	return out
}

// logDump renders the logs topic as sorted lines "key ts line {k=v ...}":
// records of one key keep their order.
func (s *rwServer) logDump() []string {
	recs := s.records(topics.TopicLogs)
	sort.SliceStable(recs, func(i, j int) bool { return string(recs[i].Key) < string(recs[j].Key) })
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		var meta []string
		for _, h := range r.Headers {
			meta = append(meta, h.Key+"="+string(h.Value))
		}
		out = append(out, fmt.Sprintf("%s %d %q {%s}", r.Key, r.Timestamp, r.Value, strings.Join(meta, " ")))
	}
	return out
}

// total returns how many records every topic of the default tenant holds.
func (s *rwServer) total() int {
	return len(s.records(topics.TopicLogs)) + len(s.records(topics.TopicMetrics))
}

func rwDiffLines(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// rwSeries is a decoded metrics record.
type rwSeries struct {
	key     string
	ts      int64
	samples []MetricSample
}

func (s *rwServer) metricRecords() []rwSeries {
	s.t.Helper()
	var out []rwSeries
	for _, r := range s.records(topics.TopicMetrics) {
		if len(r.Value) > 0 && r.Value[0] == MetadataValueVersion {
			continue
		}
		smp, err := DecodeSamples(nil, r.Value)
		if err != nil {
			s.t.Fatalf("record %s@%d: %v", r.Key, r.Offset, err)
		}
		out = append(out, rwSeries{key: string(r.Key), ts: r.Timestamp, samples: smp})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// metadataRecords returns the metadata records, key and decoded value, in
// offset order per partition.
func (s *rwServer) metadataRecords() []rwMetadata {
	s.t.Helper()
	var out []rwMetadata
	for _, r := range s.records(topics.TopicMetrics) {
		if len(r.Value) == 0 || r.Value[0] != MetadataValueVersion {
			continue
		}
		m, err := DecodeMetadata(r.Value)
		if err != nil {
			s.t.Fatalf("record %s@%d: %v", r.Key, r.Offset, err)
		}
		out = append(out, rwMetadata{key: string(r.Key), md: m})
	}
	return out
}

type rwMetadata struct {
	key string
	md  MetricMetadata
}

func rwBody(t testing.TB, wr *prompb.WriteRequest) []byte {
	t.Helper()
	b, err := wr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, b)
}

var rwHeaders = http.Header{
	"Content-Type":                      {"application/x-protobuf"},
	"Content-Encoding":                  {"snappy"},
	"X-Prometheus-Remote-Write-Version": {"0.1.0"},
}

func rwLabelsOf(kv ...string) []prompb.Label {
	var ls []prompb.Label
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, prompb.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}

func TestRemoteWriteSampleValueFormat(t *testing.T) {
	// The FORMAT.md example, byte for byte.
	want := []byte{
		0x01, 0x02,
		0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0,
		0xb0, 0xea, 0x01, 0x40, 0x04, 0, 0, 0, 0, 0, 0,
	}
	samples := []MetricSample{{T: 1700000000000, V: 1}, {T: 1700000015000, V: 2.5}}
	got := AppendSamples(nil, samples)
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded % x\nwant    % x", got, want)
	}
	dec, err := DecodeSamples(nil, got)
	if err != nil || len(dec) != 2 || dec[0] != samples[0] || dec[1] != samples[1] {
		t.Fatalf("decoded %v, %v", dec, err)
	}

	stale := math.Float64frombits(0x7ff0000000000002)
	odd := []MetricSample{{T: 5, V: stale}, {T: 3, V: math.Inf(-1)}, {T: math.MaxInt64 / 1_000_000, V: math.Copysign(0, -1)}}
	dec, err = DecodeSamples(nil, AppendSamples(nil, odd))
	if err != nil || len(dec) != 3 {
		t.Fatalf("decoded %v, %v", dec, err)
	}
	for i := range odd {
		if dec[i].T != odd[i].T || math.Float64bits(dec[i].V) != math.Float64bits(odd[i].V) {
			t.Errorf("sample %d: got %v (%x), want %v (%x)", i, dec[i], math.Float64bits(dec[i].V), odd[i], math.Float64bits(odd[i].V))
		}
	}
}

func TestRemoteWriteSampleValueCorrupt(t *testing.T) {
	good := AppendSamples(nil, []MetricSample{{T: 1700000000000, V: 1}, {T: 1700000000001, V: 2}})
	for _, tc := range []struct {
		name  string
		value []byte
		want  string
	}{
		{"empty", nil, "empty"},
		{"version", append([]byte{2}, good[1:]...), "unknown version 2"},
		{"zero count", []byte{1, 0}, "count 0"},
		{"count too large", []byte{1, 0xff, 0xff, 0x03, 0, 0}, "does not fit"},
		{"bad count varint", []byte{1, 0xff}, "bad count"},
		{"truncated float", good[:len(good)-1], "truncated float"},
		{"trailing", append(append([]byte(nil), good...), 0), "trailing"},
		{"bad ts varint", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "bad timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeSamples(nil, tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRemoteWriteRoundTrip(t *testing.T) {
	s := newRWServer(t, func(c *Config) { c.Limits.MaxLineSize = 200 }) // 10 samples per value
	now := time.Now().UnixMilli()
	var many []prompb.Sample
	for i := range 25 {
		many = append(many, prompb.Sample{Timestamp: now - 25_000 + int64(i)*1000, Value: float64(i)})
	}
	wr := &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{
			{Labels: rwLabelsOf("job", "node", "__name__", "up", "instance", "a:9100", "empty", ""),
				Samples: []prompb.Sample{{Timestamp: now - 2000, Value: 1}, {Timestamp: now - 1000, Value: math.Float64frombits(0x7ff0000000000002)}}},
			{Labels: rwLabelsOf("__name__", "many"), Samples: many},
			{Labels: rwLabelsOf("__name__", "exemplar_only"), Exemplars: []prompb.Exemplar{{Value: 1, Timestamp: now}}},
		},
		Metadata: []prompb.MetricMetadata{{MetricFamilyName: "up", Type: prompb.MetricMetadata_GAUGE, Help: "h"}},
	}
	for _, h := range []http.Header{rwHeaders, {"Content-Type": {"application/x-protobuf"}}, {}} {
		if code, _, body := s.post("/api/v1/write", h, rwBody(t, wr)); code != http.StatusNoContent {
			t.Fatalf("headers %v: status %d: %s", h, code, body)
		}
	}
	// Metadata alone is accepted and stored as a metadata record.
	if code, _, body := s.post("/api/v1/write", rwHeaders, rwBody(t, &prompb.WriteRequest{Metadata: wr.Metadata})); code != http.StatusNoContent {
		t.Fatalf("metadata only: status %d: %s", code, body)
	}
	md := s.metadataRecords()
	if len(md) != 4 {
		t.Fatalf("got %d metadata records, want 4 (one per request): %v", len(md), md)
	}
	for _, m := range md {
		if m.key != `{__name__="up"}` || m.md != (MetricMetadata{Type: "gauge", Help: "h"}) {
			t.Fatalf("metadata record %+v, want up: gauge, help h", m)
		}
	}

	got := s.metricRecords()
	if len(got) != 3*(1+3) {
		t.Fatalf("got %d records, want 12: %v", len(got), got)
	}
	for i, r := range got[:9] {
		if want := []int{10, 10, 5}[i%3]; r.key != `{__name__="many"}` || len(r.samples) != want {
			t.Fatalf("record %d: %+v, want %d samples of many", i, r, want)
		}
	}
	var manyGot []MetricSample
	for _, r := range got[:3] {
		if r.ts != r.samples[0].T*1e6 {
			t.Errorf("record timestamp %d, first sample at %d ms", r.ts, r.samples[0].T)
		}
		manyGot = append(manyGot, r.samples...)
	}
	for i, smp := range manyGot {
		if smp.T != many[i].Timestamp || smp.V != many[i].Value {
			t.Fatalf("sample %d of many: %v, want %v", i, smp, many[i])
		}
	}
	up := got[9]
	if up.key != `{__name__="up", instance="a:9100", job="node"}` || len(up.samples) != 2 ||
		up.samples[0] != (MetricSample{T: now - 2000, V: 1}) || math.Float64bits(up.samples[1].V) != 0x7ff0000000000002 {
		t.Fatalf("up record: %+v", up)
	}
}

func TestBulkOTLPRWBadInput(t *testing.T) {
	now := time.Now().UnixMilli()
	okSeries := prompb.TimeSeries{Labels: rwLabelsOf("__name__", "up"), Samples: []prompb.Sample{{Timestamp: now, Value: 1}}}
	rwProto, err := (&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{okSeries, okSeries}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	otlpProto, err := plogotlp.NewExportRequestFromLogs(otlpTestLogs(time.Now())).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	bomb := gzipped(t, bytes.Repeat([]byte{'\n'}, 2<<20))
	index := `{"index":{"_index":"x"}}` + "\n"
	ndjson, pbuf, js := bulkNDJSON, http.Header{"Content-Type": {otlpProtobuf}}, http.Header{"Content-Type": {otlpJSON}}
	for _, tc := range []struct {
		name, path string
		header     http.Header
		body       []byte
		status     int
		want       string
	}{
		{"bulk malformed NDJSON", "/_bulk", ndjson, []byte(index + `{"message":"a"}` + "\n{not json}\n"), 400, "bulk line 3: action is not a JSON object"},
		{"bulk action without source", "/_bulk", ndjson, []byte(index + `{"message":"a"}` + "\n" + index), 400, "line 3: index action without a source document"},
		{"bulk unknown action", "/_bulk", ndjson, []byte(`{"upsert":{"_index":"x"}}` + "\n{}\n"), 400, "expected one of [create, delete, index, update] but found [upsert]"},
		{"bulk two actions in one line", "/_bulk", ndjson, []byte(`{"index":{},"create":{}}` + "\n{}\n"), 400, "expected one action but found 2 keys"},
		{"bulk source not an object", "/x/_bulk", ndjson, []byte(index + "[1,2]\n"), 400, "line 2: source document: not a JSON object"},
		{"bulk bad timestamp after a good line", "/_bulk", ndjson, []byte(index + `{"message":"ok"}` + "\n" + index + `{"@timestamp":"yesterday","message":"a"}` + "\n"), 400, "neither RFC 3339 nor epoch milliseconds"},
		{"bulk without index", "/_bulk", ndjson, []byte(`{"create":{}}` + "\n" + `{"message":"a"}` + "\n"), 400, "index is missing"},
		{"bulk only blank lines", "/_bulk", ndjson, []byte("\n \n\n"), 400, "no actions"},
		{"bulk bad gzip", "/_bulk", http.Header{"Content-Encoding": {"gzip"}}, []byte("not gzip at all"), 400, "gzip body"},
		{"bulk gzip bomb", "/_bulk", http.Header{"Content-Encoding": {"gzip"}}, bomb, 413, "decompresses to over 1048576 bytes"},
		{"bulk wrong content type", "/_bulk", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, []byte(index + "{}\n"), 415, "is not supported"},
		{"otlp truncated protobuf", "/v1/logs", pbuf, otlpProto[:len(otlpProto)-3], 400, "OTLP protobuf body is not an ExportLogsServiceRequest"},
		{"otlp json wrong types", "/v1/logs", js, []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":true}]}]}]}`), 400, "OTLP JSON body is not an ExportLogsServiceRequest"},
		{"otlp json not json", "/otlp/v1/logs", js, []byte(`{"resourceLogs":[`), 400, "OTLP JSON body"},
		{"otlp wrong content type", "/v1/logs", http.Header{"Content-Type": {"text/plain"}}, otlpProto, 415, "unsupported Content-Type"},
		{"otlp empty body", "/v1/logs", pbuf, nil, 400, "empty request body"},
		{"remote_write bad snappy", "/api/v1/write", rwHeaders, []byte("\x20\x01not snappy"), 400, "snappy body: s2: corrupt input"},
		{"remote_write bad snappy without header", "/api/v1/write", nil, []byte("definitely not snappy"), 400, "snappy body"},
		{"remote_write truncated protobuf", "/api/v1/write", rwHeaders, snappy.Encode(nil, rwProto[:len(rwProto)-4]), 400, "not a protobuf WriteRequest"},
		{"remote_write series without __name__", "/api/v1/write", rwHeaders, rwBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{okSeries,
			{Labels: rwLabelsOf("job", "x", "__name__", ""), Samples: okSeries.Samples}}}), 400, "has no metric name (__name__ label)"},
		{"remote_write invalid label name", "/api/v1/write", rwHeaders, rwBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{okSeries,
			{Labels: rwLabelsOf("__name__", "x", "bad-name", "v"), Samples: okSeries.Samples}}}), 400, "invalid label name"},
		{"remote_write native histogram", "/api/v1/write", rwHeaders, rwBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{okSeries,
			{Labels: rwLabelsOf("__name__", "h"), Histograms: []prompb.Histogram{{Timestamp: now}}}}}), 400, "send_native_histograms: false"},
		{"remote_write zero timestamp", "/api/v1/write", rwHeaders, rwBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{okSeries,
			{Labels: rwLabelsOf("__name__", "z"), Samples: []prompb.Sample{{Timestamp: 0, Value: 1}}}}}), 400, "out of range"},
		{"remote_write too old", "/api/v1/write", rwHeaders, rwBody(t, &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{okSeries,
			{Labels: rwLabelsOf("__name__", "z"), Samples: []prompb.Sample{{Timestamp: now - 30*24*3600*1000, Value: 1}}}}}), 400, "older than"},
		{"remote_write 2.0", "/api/v1/write", http.Header{"Content-Type": {"application/x-protobuf;proto=io.prometheus.write.v2.Request"}, "Content-Encoding": {"snappy"}},
			snappy.Encode(nil, rwProto), 415, "remote write 2.0"},
		{"remote_write wrong content type", "/api/v1/write", http.Header{"Content-Type": {"application/json"}}, []byte("{}"), 415, "unsupported Content-Type"},
		{"remote_write empty body", "/api/v1/write", http.Header{"Content-Type": {"application/x-protobuf"}}, nil, 400, "empty request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRWServer(t, func(c *Config) { c.MaxRequestBytes = 1 << 20 })
			code, _, body := s.post(tc.path, tc.header, tc.body)
			if code != tc.status || !bytes.Contains(body, []byte(tc.want)) {
				t.Errorf("status %d, body %q; want %d and %q", code, body, tc.status, tc.want)
			}
			if n := s.total(); n != 0 {
				t.Errorf("%d records written", n)
			}
		})
	}
}

func FuzzRemoteWrite(f *testing.F) {
	now := time.Now().UnixMilli()
	wr := &prompb.WriteRequest{Metadata: []prompb.MetricMetadata{{MetricFamilyName: "up", Type: prompb.MetricMetadata_COUNTER, Unit: "s", Help: "h"}}, Timeseries: []prompb.TimeSeries{
		{Labels: rwLabelsOf("__name__", "up", "job", "x"), Samples: []prompb.Sample{{Timestamp: now, Value: 1}, {Timestamp: now + 1, Value: math.NaN()}}},
		{Labels: rwLabelsOf("__name__", "h"), Histograms: []prompb.Histogram{{Timestamp: now}}},
	}}
	f.Add(rwBody(f, wr))
	raw, err := wr.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(AppendSamples(nil, []MetricSample{{T: now, V: 1}}))
	f.Add(AppendMetadata(nil, MetricMetadata{Type: "counter", Unit: "seconds", Help: "h"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeSamples(nil, data)
		if m, err := DecodeMetadata(data); err == nil {
			if again, err := DecodeMetadata(AppendMetadata(nil, m)); err != nil || again != m {
				t.Fatalf("metadata %+v does not round-trip: %+v, %v", m, again, err)
			}
		}
		for _, body := range [][]byte{data, rwSnappyOrNil(data)} {
			req, err := decodeRemoteWrite(body, 3)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("error %T is not an *Error: %v", err, err)
				}
				continue
			}
			for _, s := range req.Streams {
				for _, e := range s.Entries {
					if e.Line[0] == MetadataValueVersion {
						if _, err := DecodeMetadata([]byte(e.Line)); err != nil {
							t.Fatalf("metadata entry of %v: %v", s.Labels, err)
						}
						continue
					}
					smp, err := DecodeSamples(nil, []byte(e.Line))
					if err != nil || len(smp) == 0 || len(smp) > 3 || e.Timestamp != smp[0].T*1e6 {
						t.Fatalf("entry of %v: %v, %v", s.Labels, smp, err)
					}
				}
			}
		}
	})
}

func rwSnappyOrNil(b []byte) []byte {
	out, err := DecodeSnappy(b, 1<<20)
	if err != nil {
		return nil
	}
	return out
}

// decodeRemoteWriteReference is the straightforward decoder through gogo's
// prompb.WriteRequest.Unmarshal that decodeRemoteWrite must agree with.
func decodeRemoteWriteReference(body []byte, perValue int) (*PushRequest, error) {
	var wr prompb.WriteRequest
	if err := wr.Unmarshal(body); err != nil {
		return nil, BadRequest("remote_write body is not a protobuf WriteRequest: %v", err)
	}
	req := &PushRequest{Topic: topics.TopicMetrics, Binary: true}
	total := 0
	for i := range wr.Timeseries {
		ts := &wr.Timeseries[i]
		var ls Labels
		named := false
		for _, l := range ts.Labels {
			if l.Value != "" {
				named = named || l.Name == "__name__"
				ls = append(ls, Label{Name: l.Name, Value: l.Value})
			}
		}
		switch {
		case !named:
			return nil, BadRequest("series %.200s has no metric name (__name__ label)", ls)
		case len(ts.Histograms) > 0:
			return nil, BadRequest("series %.200s carries native histograms, which silt does not store yet: set send_native_histograms: false in the remote_write config", ls)
		}
		if total += len(ts.Samples); total > rwMaxSamplesPerRequest {
			return nil, Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
				"request has over %d samples: lower max_samples_per_send in the remote_write queue_config", rwMaxSamplesPerRequest)
		}
		if len(ts.Samples) == 0 {
			continue
		}
		var buf []MetricSample
		for _, smp := range ts.Samples {
			buf = append(buf, MetricSample{T: smp.Timestamp, V: smp.Value})
		}
		s, err := seriesStream(ls, buf, perValue)
		if err != nil {
			return nil, err
		}
		req.Streams = append(req.Streams, s)
	}
	req.Streams = append(req.Streams, rwMetadataStreams(wr.Metadata)...)
	return req, nil
}

// renderPush renders a decoded request (or its error) for comparisons.
func renderPush(req *PushRequest, err error) string {
	if err != nil {
		return fmt.Sprintf("error %d: %v", AsError(err).Status, err)
	}
	var b strings.Builder
	for _, s := range req.Streams {
		fmt.Fprintf(&b, "%q\n", s.Labels)
		for _, e := range s.Entries {
			fmt.Fprintf(&b, "  %d %x\n", e.Timestamp, e.Line)
		}
	}
	return b.String()
}

func TestRemoteWriteDecoderCases(t *testing.T) {
	now := time.Now().UnixMilli()
	ok := prompb.TimeSeries{Labels: rwLabelsOf("__name__", "up", "job", "a"), Samples: []prompb.Sample{{Timestamp: now, Value: 1}}}
	marshal := func(wr *prompb.WriteRequest) []byte {
		b, err := wr.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ok, ok}})
	var many []prompb.TimeSeries
	for k := range 300 { // past the arenas' first sizes
		many = append(many, prompb.TimeSeries{Labels: rwLabelsOf("__name__", "m", "k", fmt.Sprint(k), "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"),
			Samples: []prompb.Sample{{Timestamp: now, Value: 1}, {Timestamp: now + 1, Value: 2}, {Timestamp: now + 2, Value: 3}, {Timestamp: now + 3, Value: 4}}})
	}
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"two series", valid},
		{"many series, many labels and samples", marshal(&prompb.WriteRequest{Timeseries: many})},
		{"exemplars and metadata", marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ok,
			{Labels: ok.Labels, Exemplars: []prompb.Exemplar{{Labels: rwLabelsOf("trace", "x"), Value: 1, Timestamp: now}}}},
			Metadata: []prompb.MetricMetadata{{MetricFamilyName: "up", Type: prompb.MetricMetadata_GAUGE, Help: "h"}, {Help: "no family"}}})},
		{"histogram", marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{ok, {Labels: ok.Labels, Histograms: []prompb.Histogram{{Timestamp: now}}}}})},
		{"no name then truncated", append(marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: rwLabelsOf("job", "a"), Samples: ok.Samples}}}), 0x0a, 0x05)},
		{"truncated", valid[:len(valid)-3]},
		{"unknown fields", append(append([]byte{0x10, 0x01, 0x1d, 1, 2, 3, 4, 0x29, 1, 2, 3, 4, 5, 6, 7, 8, 0x23, 0x08, 0x01, 0x24}, valid...), 0x32, 0x00)},
		{"group end without start", append([]byte{0x24}, valid...)},
		{"wrong wire type", append([]byte{0x08, 0x01}, valid...)},
		{"tag field 0", []byte{0x02, 0x00}},
		{"huge length", []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"overlong varint", []byte{0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}},
		{"field number truncated to int32", append([]byte{0x8a, 0x80, 0x80, 0x80, 0x80, 0x02}, valid[1:]...)},
		{"zero timestamp", marshal(&prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{Labels: ok.Labels, Samples: []prompb.Sample{{Value: 1}}}}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := renderPush(decodeRemoteWriteReference(tc.body, 3))
			got := renderPush(decodeRemoteWrite(tc.body, 3))
			if got != want {
				t.Fatalf("got:\n%s\nwant (gogo):\n%s", got, want)
			}
		})
	}
}

// FuzzRemoteWriteDecoder checks the zero-copy decoder against gogo's.
func FuzzRemoteWriteDecoder(f *testing.F) {
	now := time.Now().UnixMilli()
	for _, wr := range []*prompb.WriteRequest{
		{Timeseries: []prompb.TimeSeries{
			{Labels: rwLabelsOf("__name__", "up", "job", "x", "empty", ""), Samples: []prompb.Sample{{Timestamp: now, Value: 1}, {Timestamp: now + 1, Value: 2}}},
			{Labels: rwLabelsOf("__name__", "e"), Exemplars: []prompb.Exemplar{{Value: 1, Timestamp: now}}},
		}, Metadata: []prompb.MetricMetadata{{MetricFamilyName: "up", Type: prompb.MetricMetadata_COUNTER, Help: "h"}}},
		{Timeseries: []prompb.TimeSeries{{Labels: rwLabelsOf("__name__", "h"), Histograms: []prompb.Histogram{{Timestamp: now}}}}},
	} {
		raw, err := wr.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want := renderPush(decodeRemoteWriteReference(data, 2))
		if got := renderPush(decodeRemoteWrite(data, 2)); got != want {
			t.Fatalf("got:\n%s\nwant (gogo):\n%s", got, want)
		}
	})
}
