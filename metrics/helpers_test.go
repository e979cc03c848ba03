package metrics

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

const testTenant = "fake"

// env is a topic store and a distributor in a temporary directory, to run
// materialisers over.
type env struct {
	t     testing.TB
	store *topics.Store
	d     *ingest.Distributor
	cfg   Config
}

func testConfig() Config {
	var c Config
	c.RegisterFlags(flag.NewFlagSet("t", flag.PanicOnError))
	c.PollInterval = 50 * time.Millisecond
	return c
}

func newEnv(t testing.TB, configure ...func(*Config)) *env {
	t.Helper()
	var tcfg topics.Config
	var icfg ingest.Config
	fs := flag.NewFlagSet("t", flag.PanicOnError)
	tcfg.RegisterFlags(fs)
	icfg.RegisterFlags(fs)
	icfg.Limits.RejectOldSamplesMaxAge = 0 // tests write fixed times in the past
	tcfg.RetentionCheckInterval = 24 * time.Hour
	store := topics.NewStore(t.TempDir(), tcfg, segments.DefaultConfig(), slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), store) })
	tenant := func(r *http.Request) (string, error) { return ingest.TenantFromRequest(r, false) }
	e := &env{t: t, store: store, d: ingest.NewDistributor(icfg, store, ingest.NewMetrics(nil), tenant), cfg: testConfig()}
	for _, c := range configure {
		c(&e.cfg)
	}
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs a materialiser over the store until stop or the end of the test.
func (e *env) start() *Materialiser {
	e.t.Helper()
	m := NewMaterialiser(e.cfg, e.store, slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), m); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = services.StopAndAwaitTerminated(context.Background(), m) })
	return m
}

func stop(t *testing.T, m *Materialiser) {
	t.Helper()
	if err := services.StopAndAwaitTerminated(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

// series is one series to push: its labels and samples.
type series struct {
	labels  ingest.Labels
	samples []ingest.MetricSample
}

func lbls(kv ...string) ingest.Labels {
	var ls ingest.Labels
	for i := 0; i < len(kv); i += 2 {
		ls = append(ls, ingest.Label{Name: kv[i], Value: kv[i+1]})
	}
	return ls
}

// push writes the series as one remote_write-like request.
func (e *env) push(ss ...series) {
	e.t.Helper()
	req := &ingest.PushRequest{Tenant: testTenant, Protocol: "test", Topic: topics.TopicMetrics, Binary: true}
	for _, s := range ss {
		req.Streams = append(req.Streams, ingest.Stream{Labels: append(ingest.Labels(nil), s.labels...), Entries: []ingest.Entry{{
			Timestamp: s.samples[0].T * 1e6, Line: string(ingest.AppendSamples(nil, s.samples)),
		}}})
	}
	if err := e.d.Push(context.Background(), req); err != nil {
		e.t.Fatal(err)
	}
}

// pushMetadata writes one family's metadata record.
func (e *env) pushMetadata(family string, md MetricMetadata) {
	e.t.Helper()
	req := &ingest.PushRequest{Tenant: testTenant, Protocol: "test", Topic: topics.TopicMetrics, Binary: true,
		Streams: []ingest.Stream{ingest.MetadataStream(family, md, 0)}}
	if err := e.d.Push(context.Background(), req); err != nil {
		e.t.Fatal(err)
	}
}

var testEngine = promql.NewEngine(promql.EngineOpts{MaxSamples: 10_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})

// rangeJSON runs a strong range query over m and returns its result as JSON.
func rangeJSON(t *testing.T, m *Materialiser, q string, start, end time.Time, step time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	qa, err := m.Queryable(ctx, testTenant, true)
	if err != nil {
		t.Fatal(err)
	}
	qry, err := testEngine.NewRangeQuery(ctx, qa, nil, q, start, end, step)
	if err != nil {
		t.Fatal(err)
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		t.Fatalf("%s: %v", q, res.Err)
	}
	b, err := json.Marshal(res.Value)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func nopGauge() prometheus.Gauge { return prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"}) }
