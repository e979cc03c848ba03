package ingest

import (
	"net/http"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/siltlog/silt/segments"
)

// OTLP/HTTP logs receiver (protobuf and JSON), mapped as Loki maps OTLP: a
// fixed list of resource attributes become stream labels, everything else is
// structured metadata under a sanitized name.

const (
	otlpProtobuf = "application/x-protobuf"
	otlpJSON     = "application/json"
)

// otlpStreamAttributes are the resource attributes that become stream labels
// (named by SanitizeLabelName: service.name -> service_name). It is Loki's
// default list without k8s.pod.name and service.instance.id, which Loki itself
// now advises against indexing (one stream per pod or process).
var otlpStreamAttributes = map[string]bool{
	"cloud.availability_zone": true,
	"cloud.region":            true,
	"container.name":          true,
	"deployment.environment":  true,
	"k8s.cluster.name":        true,
	"k8s.container.name":      true,
	"k8s.cronjob.name":        true,
	"k8s.daemonset.name":      true,
	"k8s.deployment.name":     true,
	"k8s.job.name":            true,
	"k8s.namespace.name":      true,
	"k8s.replicaset.name":     true,
	"k8s.statefulset.name":    true,
	"service.name":            true,
	"service.namespace":       true,
}

// otlpUnknownService is service_name when a resource has no service.name, as
// in Loki, so every OTLP stream has at least that label.
const otlpUnknownService = "unknown_service"

func otlpRoutes(d *Distributor) []Route {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt := MediaType(r)
		decode := func(_ *http.Request, body []byte) (*PushRequest, error) { return decodeOTLP(mt, body) }
		respond := func(w http.ResponseWriter, _ *PushRequest, err error) { writeOTLPResponse(w, mt, err) }
		d.Handler("otlp", decode, respond).ServeHTTP(w, r)
	})
	return []Route{
		{Method: http.MethodPost, Path: "/otlp/v1/logs", Handler: h},
		{Method: http.MethodPost, Path: "/v1/logs", Handler: h},
	}
}

// decodeOTLP decodes an ExportLogsServiceRequest in the given media type.
func decodeOTLP(mediaType string, body []byte) (*PushRequest, error) {
	req := plogotlp.NewExportRequest()
	switch mediaType {
	case otlpProtobuf:
		if err := req.UnmarshalProto(body); err != nil {
			return nil, BadRequest("OTLP protobuf body is not an ExportLogsServiceRequest: %v", err)
		}
	case otlpJSON:
		if err := req.UnmarshalJSON(body); err != nil {
			return nil, BadRequest("OTLP JSON body is not an ExportLogsServiceRequest: %v", err)
		}
	default:
		return nil, Errorf(http.StatusUnsupportedMediaType, ReasonBadRequest,
			"unsupported Content-Type %q: OTLP/HTTP sends %s or %s", mediaType, otlpProtobuf, otlpJSON)
	}
	return otlpPushRequest(req.Logs()), nil
}

// otlpPushRequest maps logs to one stream per resource.
func otlpPushRequest(logs plog.Logs) *PushRequest {
	out := &PushRequest{}
	rls := logs.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		labels, resMeta := otlpResource(rl.Resource().Attributes())
		s := Stream{Labels: labels}
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scopeMeta := otlpScope(resMeta, sl.Scope())
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				s.Entries = append(s.Entries, otlpEntry(scopeMeta, lrs.At(k)))
			}
		}
		if len(s.Entries) > 0 {
			out.Streams = append(out.Streams, s)
		}
	}
	return out
}

// otlpResource splits resource attributes into stream labels and metadata.
func otlpResource(attrs pcommon.Map) (Labels, []segments.Header) {
	var ls Labels
	var meta []segments.Header
	hasService := false
	for k, v := range attrs.All() {
		if otlpStreamAttributes[k] && v.Type() != pcommon.ValueTypeMap && v.AsString() != "" {
			ls = append(ls, Label{Name: SanitizeLabelName(k), Value: v.AsString()})
			hasService = hasService || k == "service.name"
			continue
		}
		meta = otlpAppendAttribute(meta, k, v)
	}
	if !hasService {
		ls = append(ls, Label{Name: "service_name", Value: otlpUnknownService})
	}
	return ls, meta
}

// otlpScope returns resMeta plus the scope's name, version and attributes, in
// a new slice so entries of other scopes never share it.
func otlpScope(resMeta []segments.Header, scope pcommon.InstrumentationScope) []segments.Header {
	meta := append([]segments.Header(nil), resMeta...)
	if scope.Name() != "" {
		meta = append(meta, segments.Header{Key: "scope_name", Value: []byte(scope.Name())})
	}
	if scope.Version() != "" {
		meta = append(meta, segments.Header{Key: "scope_version", Value: []byte(scope.Version())})
	}
	for k, v := range scope.Attributes().All() {
		meta = otlpAppendAttribute(meta, k, v)
	}
	return meta
}

func otlpEntry(base []segments.Header, lr plog.LogRecord) Entry {
	ts := lr.Timestamp()
	if ts == 0 {
		ts = lr.ObservedTimestamp() // 0 if unset too: the distributor uses now
	}
	meta := base[:len(base):len(base)] // appends copy; entries never share a tail
	for k, v := range lr.Attributes().All() {
		meta = otlpAppendAttribute(meta, k, v)
	}
	if !lr.TraceID().IsEmpty() {
		meta = append(meta, segments.Header{Key: "trace_id", Value: []byte(lr.TraceID().String())})
	}
	if !lr.SpanID().IsEmpty() {
		meta = append(meta, segments.Header{Key: "span_id", Value: []byte(lr.SpanID().String())})
	}
	if lr.SeverityText() != "" {
		meta = append(meta, segments.Header{Key: "severity_text", Value: []byte(lr.SeverityText())})
	}
	if lr.SeverityNumber() != plog.SeverityNumberUnspecified {
		meta = append(meta, segments.Header{Key: "severity_number", Value: strconv.AppendInt(nil, int64(lr.SeverityNumber()), 10)})
	}
	return Entry{Timestamp: int64(ts), Line: lr.Body().AsString(), Metadata: meta}
}

// otlpAppendAttribute appends an attribute as metadata under a sanitized
// name; a map attribute is flattened (http.request.header -> http_request_header_...).
func otlpAppendAttribute(meta []segments.Header, name string, v pcommon.Value) []segments.Header {
	if v.Type() == pcommon.ValueTypeMap {
		for k, sub := range v.Map().All() {
			meta = otlpAppendAttribute(meta, name+"_"+k, sub)
		}
		return meta
	}
	return append(meta, segments.Header{Key: SanitizeLabelName(name), Value: []byte(v.AsString())})
}

// writeOTLPResponse answers an empty ExportLogsServiceResponse, or a
// google.rpc.Status with the error, in the request's encoding (JSON when the
// request's media type was neither).
func writeOTLPResponse(w http.ResponseWriter, mediaType string, err error) {
	resp := plogotlp.NewExportResponse()
	writeOTLPResponseOf(w, mediaType, err, resp.MarshalProto, resp.MarshalJSON)
}

// writeOTLPResponseOf answers with the given empty response's encoding, or
// the error as a google.rpc.Status.
func writeOTLPResponseOf(w http.ResponseWriter, mediaType string, err error, asProto, asJSON func() ([]byte, error)) {
	if mediaType != otlpProtobuf {
		mediaType = otlpJSON
	}
	var body []byte
	status := http.StatusOK
	if err == nil {
		if mediaType == otlpProtobuf {
			body, err = asProto()
		} else {
			body, err = asJSON()
		}
	}
	if err != nil {
		e := AsError(err)
		SetRetryAfter(w, e)
		status = e.Status
		st := &spb.Status{Code: int32(otlpCode(e.Status)), Message: e.Msg}
		if mediaType == otlpProtobuf {
			body, _ = proto.Marshal(st)
		} else {
			body, _ = protojson.Marshal(st)
		}
	}
	w.Header().Set("Content-Type", mediaType)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func otlpCode(status int) codes.Code {
	switch status {
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusNotFound:
		return codes.NotFound
	}
	if status >= 500 {
		return codes.Internal
	}
	return codes.InvalidArgument
}
