package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/siltlog/silt/segments/topics"
)

// Materialiser is the internal consumer that tails every local partition of
// every tenant's metrics topic into a TSDB per partition, and answers which
// TSDBs a query may read. It is a dskit service.
type Materialiser struct {
	services.Service

	cfg     Config
	store   *topics.Store
	logger  *slog.Logger
	metrics *materialiserMetrics
	meta    *metadataStore

	mu     sync.Mutex
	runCtx context.Context        // guarded by mu: the running context; nil before running
	parts  map[partKey]*partition // guarded by mu
	failed map[partKey]error      // guarded by mu: partitions that could not open
}

// NewMaterialiser returns a materialiser over store's metrics topics. reg may
// be nil.
func NewMaterialiser(cfg Config, store *topics.Store, logger *slog.Logger, reg prometheus.Registerer) *Materialiser {
	m := &Materialiser{
		cfg: cfg, store: store, logger: logger, metrics: newMaterialiserMetrics(reg), meta: newMetadataStore(),
		parts: map[partKey]*partition{}, failed: map[partKey]error{},
	}
	m.Service = services.NewBasicService(nil, m.running, m.stopping).WithName("materialiser")
	return m
}

func (m *Materialiser) running(ctx context.Context) error {
	m.mu.Lock()
	m.runCtx = ctx
	m.mu.Unlock()
	t := time.NewTicker(m.cfg.PollInterval)
	defer t.Stop()
	for {
		m.discover()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Materialiser) stopping(error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for k := range m.parts {
		errs = append(errs, m.dropLocked(k))
	}
	m.runCtx = nil
	return errors.Join(errs...)
}

// discover starts a consumer for every local metrics partition without one.
func (m *Materialiser) discover() {
	reg, err := m.store.Registry()
	if err != nil {
		return
	}
	for _, tenant := range reg.Tenants() {
		t, err := reg.Get(tenant, topics.TopicMetrics)
		if err != nil {
			continue
		}
		for p := 0; p < t.Partitions; p++ {
			if !m.store.Exists(tenant, topics.TopicMetrics, p) {
				continue
			}
			if _, err := m.partition(partKey{tenant, p}); err != nil {
				m.logger.Error("cannot materialise partition", "tenant", tenant, "partition", p, "err", err)
			}
		}
	}
}

// errNotRunning answers queries before the materialiser runs or after it stopped.
var errNotRunning = errors.New("the metrics materialiser is not running")

// partition returns k's running consumer, opening it on first use.
func (m *Materialiser) partition(k partKey) (*partition, error) {
	log, err := m.store.Partition(k.tenant, topics.TopicMetrics, k.partition)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runCtx == nil {
		return nil, errNotRunning
	}
	if p := m.parts[k]; p != nil {
		if p.log == log && !p.closed.Load() {
			return p, nil
		}
		_ = m.dropLocked(k) // the log was closed and reopened
	}
	p, err := openPartition(k, log, m.cfg, m.logger.With("tenant", k.tenant, "partition", k.partition), m.metrics, m.meta)
	if err != nil {
		m.failed[k] = err
		return nil, err
	}
	delete(m.failed, k)
	ctx, cancel := context.WithCancel(m.runCtx)
	p.cancel = cancel
	go p.run(ctx)
	m.parts[k] = p
	return p, nil
}

func (m *Materialiser) dropLocked(k partKey) error {
	p := m.parts[k]
	delete(m.parts, k)
	return p.stop()
}

// Unavailable is a query refused because a replica lags: 503, retry later
// or ask for a strong read.
type Unavailable struct{ msg string }

func (e *Unavailable) Error() string { return e.msg }

// StatusCode is the HTTP status of the error.
func (e *Unavailable) StatusCode() int { return http.StatusServiceUnavailable }

// Queryable returns the merged TSDBs of tenant's metrics partitions. A
// partition that lags more than MaxLag, or is still replaying after a start,
// makes it fail with *Unavailable, unless strong is set: then it waits until
// every partition has applied its log's end as of this call (bounded by ctx).
func (m *Materialiser) Queryable(ctx context.Context, tenant string, strong bool) (storage.Queryable, error) {
	parts, err := m.tenantPartitions(tenant)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for _, p := range parts {
		if strong {
			if err := p.waitApplied(ctx, p.log.NextOffset()); err != nil {
				return nil, &Unavailable{fmt.Sprintf("strong read: partition %d has not applied its end offset: %v", p.k.partition, err)}
			}
			continue
		}
		if !p.caughtUp.Load() {
			return nil, &Unavailable{fmt.Sprintf("metrics partition %d is replaying after a start (%d records to go); retry later or ask for a strong read",
				p.k.partition, max(0, p.openEnd-p.applied.Load()))}
		}
		if recs, d := p.lag(now); d > m.cfg.MaxLag {
			return nil, &Unavailable{fmt.Sprintf("metrics partition %d lags %d records (%s), over -metrics.max-lag %s; retry later or ask for a strong read",
				p.k.partition, recs, d.Round(time.Millisecond), m.cfg.MaxLag)}
		}
	}
	dbs := make([]*tsdb.DB, len(parts))
	for i, p := range parts {
		dbs[i] = p.db
	}
	return partitionsQueryable(dbs), nil
}

// partitionsQueryable reads the TSDBs of a tenant's partitions as one
// storage (querier.go).
func partitionsQueryable(dbs []*tsdb.DB) storage.Queryable {
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		qs := make([]storage.Querier, 0, len(dbs))
		for _, db := range dbs {
			q, err := db.Querier(mint, maxt)
			if err != nil {
				for _, q := range qs {
					_ = q.Close()
				}
				return nil, err
			}
			qs = append(qs, q)
		}
		return newPartitionsQuerier(qs), nil
	})
}

// tenantPartitions returns the consumers of tenant's local metrics partitions.
func (m *Materialiser) tenantPartitions(tenant string) ([]*partition, error) {
	reg, err := m.store.Registry()
	if err != nil {
		return nil, &Unavailable{err.Error()}
	}
	t, err := reg.Get(tenant, topics.TopicMetrics)
	if errors.Is(err, topics.ErrTopicNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var parts []*partition
	for i := 0; i < t.Partitions; i++ {
		if !m.store.Exists(tenant, topics.TopicMetrics, i) {
			continue
		}
		p, err := m.partition(partKey{tenant, i})
		if err != nil {
			return nil, &Unavailable{fmt.Sprintf("metrics partition %d: %v", i, err)}
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// Metadata returns tenant's metric metadata, newest per family.
func (m *Materialiser) Metadata(tenant string) map[string]MetricMetadata { return m.meta.get(tenant) }

// Lag returns the largest lag, in records and time, over tenant's partitions.
func (m *Materialiser) Lag(tenant string) (records int64, d time.Duration, err error) {
	parts, err := m.tenantPartitions(tenant)
	now := time.Now()
	for _, p := range parts {
		r, pd := p.lag(now)
		records, d = max(records, r), max(d, pd)
	}
	return records, d, err
}
