package ingest

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otelmetric "go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

// otlpTestMetrics is a gauge, a cumulative sum and an explicit-bucket
// histogram of one resource, all at ts.
func otlpTestMetrics(ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	rm.Resource().Attributes().PutStr("service.instance.id", "i-1")
	sm := rm.ScopeMetrics().AppendEmpty()
	at := pcommon.NewTimestampFromTime(ts)

	g := sm.Metrics().AppendEmpty()
	g.SetName("queue.depth")
	g.SetDescription("Items waiting.")
	dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(at)
	dp.SetDoubleValue(7)
	dp.Attributes().PutStr("queue", "q1")

	s := sm.Metrics().AppendEmpty()
	s.SetName("http.requests")
	s.SetUnit("1")
	sum := s.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sdp := sum.DataPoints().AppendEmpty()
	sdp.SetTimestamp(at)
	sdp.SetIntValue(42)

	h := sm.Metrics().AppendEmpty()
	h.SetName("latency")
	h.SetUnit("s")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hist.DataPoints().AppendEmpty()
	hdp.SetTimestamp(at)
	hdp.SetCount(3)
	hdp.SetSum(1.5)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 1})
	hdp.BucketCounts().FromRaw([]uint64{1, 1, 1})
	return md
}

func TestOTLPMetricsTranslation(t *testing.T) {
	ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	body, err := pmetricotlp.NewExportRequestFromMetrics(otlpTestMetrics(ts)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		body   []byte
	}{
		{"protobuf", http.Header{"Content-Type": {otlpProtobuf}}, body},
		{"protobuf gzip", http.Header{"Content-Type": {otlpProtobuf}, "Content-Encoding": {"gzip"}}, gzipped(t, body)},
		{"json", http.Header{"Content-Type": {otlpJSON}}, otlpMetricsJSON(t, ts)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRWServer(t)
			code, hdr, resp := s.post("/otlp/v1/metrics", tc.header, tc.body)
			if code != http.StatusOK || hdr.Get("Content-Type") != tc.header.Get("Content-Type") {
				t.Fatalf("status %d, headers %v, body %q", code, hdr, resp)
			}
			got := map[string]float64{}
			for _, r := range s.metricRecords() {
				if len(r.samples) != 1 || r.samples[0].T != ts.UnixMilli() {
					t.Fatalf("series %s: samples %v, want one at %d", r.key, r.samples, ts.UnixMilli())
				}
				got[r.key] = r.samples[0].V
			}
			want := map[string]float64{
				`{__name__="queue_depth", instance="i-1", job="checkout", queue="q1"}`:           7,
				`{__name__="http_requests_total", instance="i-1", job="checkout"}`:               42,
				`{__name__="latency_seconds_bucket", instance="i-1", job="checkout", le="0.1"}`:  1,
				`{__name__="latency_seconds_bucket", instance="i-1", job="checkout", le="1"}`:    2,
				`{__name__="latency_seconds_bucket", instance="i-1", job="checkout", le="+Inf"}`: 3,
				`{__name__="latency_seconds_count", instance="i-1", job="checkout"}`:             3,
				`{__name__="latency_seconds_sum", instance="i-1", job="checkout"}`:               1.5,
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("series %s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
			md := map[string]MetricMetadata{}
			for _, m := range s.metadataRecords() {
				md[m.key] = m.md
			}
			if m := md[`{__name__="latency_seconds"}`]; m.Type != "histogram" || m.Unit != "seconds" {
				t.Errorf("latency metadata %+v (all %v)", m, md)
			}
			if m := md[`{__name__="queue_depth"}`]; m.Type != "gauge" || m.Help != "Items waiting." {
				t.Errorf("queue_depth metadata %+v", m)
			}
		})
	}
}

func otlpMetricsJSON(t *testing.T, ts time.Time) []byte {
	t.Helper()
	b, err := pmetricotlp.NewExportRequestFromMetrics(otlpTestMetrics(ts)).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOTLPMetricsBadInput(t *testing.T) {
	ts := time.Now().Add(-time.Minute)
	good, err := pmetricotlp.NewExportRequestFromMetrics(otlpTestMetrics(ts)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	expo := otlpTestMetrics(ts)
	e := expo.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().AppendEmpty()
	e.SetName("expo")
	eh := e.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	edp := eh.DataPoints().AppendEmpty()
	edp.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	edp.SetCount(1)
	edp.Positive().BucketCounts().FromRaw([]uint64{1})
	expoBody, _ := pmetricotlp.NewExportRequestFromMetrics(expo).MarshalProto()
	delta := otlpTestMetrics(ts)
	delta.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(1).Sum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	deltaBody, _ := pmetricotlp.NewExportRequestFromMetrics(delta).MarshalProto()
	pbuf := http.Header{"Content-Type": {otlpProtobuf}}
	for _, tc := range []struct {
		name   string
		header http.Header
		body   []byte
		status int
		want   string
	}{
		{"truncated protobuf", pbuf, good[:len(good)-5], 400, "not an ExportMetricsServiceRequest"},
		{"bad json", http.Header{"Content-Type": {otlpJSON}}, []byte(`{"resourceMetrics":[`), 400, "not an ExportMetricsServiceRequest"},
		{"wrong content type", http.Header{"Content-Type": {"text/plain"}}, good, 415, "unsupported Content-Type"},
		{"exponential histogram", pbuf, expoBody, 400, "exponential histogram"},
		{"delta sum", pbuf, deltaBody, 400, "invalid temporality"},
		{"empty body", pbuf, nil, 400, "empty request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRWServer(t)
			code, _, body := s.post("/v1/metrics", tc.header, tc.body)
			if code != tc.status || !bytes.Contains(body, []byte(tc.want)) {
				t.Errorf("status %d, body %q; want %d and %q", code, body, tc.status, tc.want)
			}
			if n := s.total(); n != 0 {
				t.Errorf("%d records written", n)
			}
		})
	}
}

// TestOTLPMetricsSDKE2E exports a counter and a histogram with the OTel Go
// SDK's OTLP/HTTP metric exporter and reads the stored series back.
func TestOTLPMetricsSDKE2E(t *testing.T) {
	s := newRWServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp, err := otlpmetrichttp.New(ctx,
		otlpmetrichttp.WithEndpoint(strings.TrimPrefix(s.srv.URL, "http://")),
		otlpmetrichttp.WithInsecure(),
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "sdk-svc"))))
	meter := provider.Meter("silt/e2e")
	counter, err := meter.Int64Counter("orders", otelmetric.WithDescription("Orders placed."))
	if err != nil {
		t.Fatal(err)
	}
	hist, err := meter.Float64Histogram("wait", otelmetric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		counter.Add(ctx, 2, otelmetric.WithAttributes(attribute.String("region", "eu")))
		hist.Record(ctx, float64(i)/10)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	if err := exp.Export(ctx, &rm); err != nil {
		t.Fatalf("export: %v", err)
	}
	got := map[string]float64{}
	for _, r := range s.metricRecords() {
		got[r.key] = r.samples[len(r.samples)-1].V
	}
	for k, v := range map[string]float64{
		`{__name__="orders_total", job="sdk-svc", region="eu"}`: 6,
		`{__name__="wait_seconds_count", job="sdk-svc"}`:        3,
		`{__name__="wait_seconds_sum", job="sdk-svc"}`:          0.3,
	} {
		if g, ok := got[k]; !ok || g < v-1e-9 || g > v+1e-9 {
			t.Errorf("series %s = %v, want %v (all: %v)", k, g, v, got)
		}
	}
	_ = provider.Shutdown(ctx)
	_ = exp.Shutdown(ctx)
}

func fuzzOTLPMetrics(f *testing.F, mediaType string, seed func(pmetricotlp.ExportRequest) ([]byte, error)) {
	b, err := seed(pmetricotlp.NewExportRequestFromMetrics(otlpTestMetrics(time.Unix(1714557600, 0))))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeOTLPMetrics(context.Background(), mediaType, body, 3)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			return
		}
		for _, s := range req.Streams {
			if len(s.Labels) == 0 || len(s.Entries) == 0 {
				t.Fatalf("stream %v with %d entries", s.Labels, len(s.Entries))
			}
			for _, e := range s.Entries {
				if e.Line[0] == MetadataValueVersion {
					if _, err := DecodeMetadata([]byte(e.Line)); err != nil {
						t.Fatal(err)
					}
				} else if smp, err := DecodeSamples(nil, []byte(e.Line)); err != nil || len(smp) > 3 {
					t.Fatalf("entry of %v: %v, %v", s.Labels, smp, err)
				}
			}
		}
	})
}

func FuzzOTLPMetricsProtobuf(f *testing.F) {
	fuzzOTLPMetrics(f, otlpProtobuf, pmetricotlp.ExportRequest.MarshalProto)
}

func FuzzOTLPMetricsJSON(f *testing.F) {
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"timeUnixNano":"1714557600000000000","asDouble":1}]}}]}]}]}`))
	fuzzOTLPMetrics(f, otlpJSON, pmetricotlp.ExportRequest.MarshalJSON)
}
