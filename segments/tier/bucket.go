package tier

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/go-kit/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
	"github.com/thanos-io/objstore/providers/s3"
	"gopkg.in/yaml.v3"
)

// BucketOption adjusts how NewBucket builds the bucket.
type BucketOption func(*bucketOptions)

type bucketOptions struct {
	wrapTransport func(http.RoundTripper) http.RoundTripper
	reg           prometheus.Registerer
}

// WithTransportWrapper wraps the HTTP transport of HTTP-based providers (s3),
// as objstore's own wrapRoundtripper hook does: tests inject faults with it.
func WithTransportWrapper(w func(http.RoundTripper) http.RoundTripper) BucketOption {
	return func(o *bucketOptions) { o.wrapTransport = w }
}

// WithBucketMetrics registers objstore's per-operation bucket metrics with reg.
func WithBucketMetrics(reg prometheus.Registerer) BucketOption {
	return func(o *bucketOptions) { o.reg = reg }
}

// NewBucket builds the bucket cfg describes, with cfg.Prefix applied. Only the
// filesystem and s3 providers are linked (not objstore's client package, which
// links every provider).
func NewBucket(cfg Config, logger *slog.Logger, opts ...BucketOption) (objstore.Bucket, error) {
	var o bucketOptions
	for _, opt := range opts {
		opt(&o)
	}
	conf, err := yaml.Marshal(cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("encode %s bucket config: %w", cfg.Type, err)
	}
	var bkt objstore.Bucket
	switch cfg.Type {
	case TypeFilesystem:
		bkt, err = filesystem.NewBucketFromConfig(conf)
	case TypeS3:
		bkt, err = s3.NewBucket(kitLogger(logger), conf, "silt", o.wrapTransport)
	default:
		return nil, fmt.Errorf("unknown bucket type %q (want filesystem or s3)", cfg.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s bucket: %w", cfg.Type, err)
	}
	if cfg.Prefix != "" {
		bkt = objstore.NewPrefixedBucket(bkt, cfg.Prefix)
	}
	if o.reg != nil {
		bkt = objstore.WrapWithMetrics(bkt, prometheus.WrapRegistererWithPrefix("silt_tier_", o.reg), "cold")
	}
	return bkt, nil
}

// kitLogger adapts slog to the go-kit logger objstore's providers take; their
// messages are debug detail.
func kitLogger(l *slog.Logger) log.Logger {
	return log.LoggerFunc(func(kv ...any) error {
		l.Debug("objstore", kv...)
		return nil
	})
}
