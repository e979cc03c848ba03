package ingest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
)

// TestOTLPSDKE2E ships records with the OpenTelemetry Go SDK's OTLP/HTTP log
// exporter, as an instrumented application would, and reads them back.
func TestOTLPSDKE2E(t *testing.T) {
	for _, tc := range []struct {
		name        string
		compression otlploghttp.Compression
		batch       bool
	}{
		{"simple", otlploghttp.NoCompression, false},
		{"batch gzip", otlploghttp.GzipCompression, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRWServer(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			exp, err := otlploghttp.New(ctx,
				otlploghttp.WithEndpoint(strings.TrimPrefix(s.srv.URL, "http://")),
				otlploghttp.WithInsecure(),
				otlploghttp.WithCompression(tc.compression),
				otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
			if err != nil {
				t.Fatal(err)
			}
			var proc sdklog.Processor = sdklog.NewSimpleProcessor(exp)
			if tc.batch {
				proc = sdklog.NewBatchProcessor(exp)
			}
			provider := sdklog.NewLoggerProvider(
				sdklog.WithResource(resource.NewSchemaless(
					attribute.String("service.name", "e2e-svc"),
					attribute.String("service.instance.id", "i-1"),
					attribute.String("deployment.environment", "test"))),
				sdklog.WithProcessor(proc))
			logger := provider.Logger("silt/e2e", otellog.WithInstrumentationVersion("0.1.0"))

			base := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
			var want []string
			for i := range 5 {
				var r otellog.Record
				ts := base.Add(time.Duration(i) * time.Millisecond)
				r.SetTimestamp(ts)
				r.SetBody(attribute.StringValue(fmt.Sprintf("request %d served", i)))
				r.SetSeverity(otellog.SeverityWarn)
				r.SetSeverityText("WARN")
				r.AddAttributes(attribute.String("user.name", "ann"), attribute.Int("attempt", i))
				logger.Emit(ctx, r)
				want = append(want, fmt.Sprintf(`{deployment_environment="test", service_name="e2e-svc"} %d "request %d served" `+
					`{service_instance_id=i-1 scope_name=silt/e2e scope_version=0.1.0 user_name=ann attempt=%d severity_text=WARN severity_number=13}`,
					ts.UnixNano(), i, i))
			}
			if err := provider.ForceFlush(ctx); err != nil {
				t.Fatal(err)
			}
			if err := provider.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			rwPoll(t, 20*time.Second, nil, func() (bool, string) {
				got := s.logDump()
				return len(got) >= len(want), strings.Join(got, "\n")
			})
			rwDiffLines(t, s.logDump(), want)
		})
	}
}
