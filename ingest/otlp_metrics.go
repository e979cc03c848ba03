package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	otlptranslator "github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/siltlog/silt/segments/topics"
)

// OTLP/HTTP metrics receiver: an ExportMetricsServiceRequest (protobuf or
// JSON) is translated to Prometheus series by Prometheus' own OTLP translator,
// with Prometheus' default settings (metric names with unit and type
// suffixes, underscore escaping, job and instance from service.name,
// service.namespace and service.instance.id, other resource attributes in
// target_info), and stored like remote_write: one record per series.

func otlpMetricsRoutes(d *Distributor) []Route {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt := MediaType(r)
		perValue := rwSamplesPerValue(d.cfg.Limits.MaxLineSize)
		decode := func(r *http.Request, body []byte) (*PushRequest, error) {
			return decodeOTLPMetrics(r.Context(), mt, body, perValue)
		}
		respond := func(w http.ResponseWriter, _ *PushRequest, err error) {
			resp := pmetricotlp.NewExportResponse()
			writeOTLPResponseOf(w, mt, err, resp.MarshalProto, resp.MarshalJSON)
		}
		d.Handler("otlp_metrics", decode, respond).ServeHTTP(w, r)
	})
	return []Route{
		{Method: http.MethodPost, Path: "/otlp/v1/metrics", Handler: h},
		{Method: http.MethodPost, Path: "/v1/metrics", Handler: h},
	}
}

// decodeOTLPMetrics decodes an ExportMetricsServiceRequest into one stream
// per series in the metrics topic, plus a metadata stream per family.
func decodeOTLPMetrics(ctx context.Context, mediaType string, body []byte, perValue int) (*PushRequest, error) {
	req := pmetricotlp.NewExportRequest()
	switch mediaType {
	case otlpProtobuf:
		if err := req.UnmarshalProto(body); err != nil {
			return nil, BadRequest("OTLP protobuf body is not an ExportMetricsServiceRequest: %v", err)
		}
	case otlpJSON:
		if err := req.UnmarshalJSON(body); err != nil {
			return nil, BadRequest("OTLP JSON body is not an ExportMetricsServiceRequest: %v", err)
		}
	default:
		return nil, Errorf(http.StatusUnsupportedMediaType, ReasonBadRequest,
			"unsupported Content-Type %q: OTLP/HTTP sends %s or %s", mediaType, otlpProtobuf, otlpJSON)
	}
	return otlpMetricsPushRequest(ctx, req.Metrics(), perValue)
}

func otlpMetricsPushRequest(ctx context.Context, md pmetric.Metrics, perValue int) (*PushRequest, error) {
	if n := md.DataPointCount(); n > rwMaxSamplesPerRequest {
		return nil, Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
			"request has %d data points, over %d: export smaller batches", n, rwMaxSamplesPerRequest)
	}
	c := &otlpCollector{byHash: map[uint64][]*otlpSeries{}, meta: map[string]MetricMetadata{}}
	_, err := otlptranslator.NewPrometheusConverter(c).FromMetrics(ctx, md, otlptranslator.Settings{
		AddMetricSuffixes:                    true,
		LabelNameUnderscoreSanitization:      true,
		LabelNamePreserveMultipleUnderscores: true,
	})
	if c.err != nil {
		return nil, c.err
	}
	if err != nil {
		return nil, BadRequest("OTLP metrics cannot be translated: %v", err)
	}
	if c.samples > rwMaxSamplesPerRequest {
		return nil, Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
			"request makes %d samples, over %d: export smaller batches", c.samples, rwMaxSamplesPerRequest)
	}
	out := &PushRequest{Topic: topics.TopicMetrics, Binary: true}
	for _, s := range c.order {
		var ls Labels
		s.lset.Range(func(l labels.Label) {
			if l.Value != "" {
				ls = append(ls, Label{Name: l.Name, Value: l.Value})
			}
		})
		slices.SortStableFunc(s.samples, func(a, b MetricSample) int { return cmp.Compare(a.T, b.T) })
		st, err := seriesStream(ls, s.samples, perValue)
		if err != nil {
			return nil, err
		}
		out.Streams = append(out.Streams, st)
	}
	families := make([]string, 0, len(c.meta))
	for f := range c.meta {
		families = append(families, f)
	}
	slices.Sort(families)
	for _, f := range families {
		out.Streams = append(out.Streams, MetadataStream(f, c.meta[f], 0))
	}
	return out, nil
}

// otlpCollector is the storage.AppenderV2 the translator writes into: it
// gathers each series' float samples and each family's metadata.
type otlpCollector struct {
	byHash  map[uint64][]*otlpSeries
	order   []*otlpSeries
	meta    map[string]MetricMetadata
	samples int
	err     error
}

type otlpSeries struct {
	lset    labels.Labels
	samples []MetricSample
}

var errOTLPHistogram = errors.New("native histogram")

func (c *otlpCollector) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64,
	h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	if h != nil || fh != nil {
		c.err = BadRequest("series %.200s is an exponential histogram, which silt does not store yet: "+
			"use explicit-bucket histograms (the OTel SDK default aggregation)", ls.String())
		return 0, fmt.Errorf("%w: %s", errOTLPHistogram, ls.String())
	}
	if opts.MetricFamilyName != "" {
		c.meta[opts.MetricFamilyName] = MetricMetadata{Type: string(opts.Metadata.Type), Unit: opts.Metadata.Unit, Help: opts.Metadata.Help}
	}
	hash := ls.Hash()
	var s *otlpSeries
	for _, cand := range c.byHash[hash] {
		if labels.Equal(cand.lset, ls) {
			s = cand
			break
		}
	}
	if s == nil {
		s = &otlpSeries{lset: ls.Copy()}
		c.byHash[hash] = append(c.byHash[hash], s)
		c.order = append(c.order, s)
	}
	s.samples = append(s.samples, MetricSample{T: t, V: v})
	c.samples++
	return storage.SeriesRef(hash), nil
}

func (c *otlpCollector) Commit() error   { return nil }
func (c *otlpCollector) Rollback() error { return nil }
