package ingest

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/dskit/services"
	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testServer is a real Distributor over a real topics.Store in a temporary
// directory, behind an httptest.Server that mounts every Route.
type testServer struct {
	URL   string // base URL, e.g. http://127.0.0.1:1234
	Store *topics.Store
	Dist  *Distributor
	srv   *httptest.Server
}

type testServerOptions struct {
	auth bool
}

// testServerOption changes how newTestServer builds the server.
type testServerOption func(*testServerOptions)

// withAuth makes the server multi-tenant: every request needs X-Scope-OrgID.
// Without it every request is DefaultTenant ("fake").
func withAuth() testServerOption { return func(o *testServerOptions) { o.auth = true } }

// newTestServer starts a server with the default ingest configuration as
// changed by mutateCfg (nil for none). Everything stops at the end of the test.
func newTestServer(t testing.TB, mutateCfg func(*Config), opts ...testServerOption) *testServer {
	t.Helper()
	var o testServerOptions
	for _, opt := range opts {
		opt(&o)
	}
	var cfg Config
	cfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	if mutateCfg != nil {
		mutateCfg(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test server config: %v", err)
	}
	var tcfg topics.Config
	tcfg.RegisterFlags(flag.NewFlagSet("test", flag.PanicOnError))
	store := topics.NewStore(t.TempDir(), tcfg, segments.DefaultConfig(), slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), store); err != nil {
		t.Fatal(err)
	}
	d := NewDistributor(cfg, store, NewMetrics(nil), func(r *http.Request) (string, error) {
		return TenantFromRequest(r, o.auth)
	})
	// Mount the routes as cmd/silt does, on echo ({name} becomes :name).
	e := echo.New()
	for _, r := range d.Routes() {
		e.Add(r.Method, strings.NewReplacer("{", ":", "}", "").Replace(r.Path), echo.WrapHandler(r.Handler))
	}
	srv := httptest.NewServer(e)
	t.Cleanup(func() {
		srv.Close()
		if err := services.StopAndAwaitTerminated(context.Background(), store); err != nil {
			t.Errorf("stop store: %v", err)
		}
	})
	return &testServer{URL: srv.URL, Store: store, Dist: d, srv: srv}
}

// post sends body to path with headers given as name, value pairs and returns
// the status code and response body.
func (s *testServer) post(t testing.TB, path string, body []byte, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// readAll returns every record of tenant's topic, partition by partition, each
// partition in offset order. It creates nothing but the tenant's built-in
// topics in the registry.
func (s *testServer) readAll(t testing.TB, tenant, topic string) []segments.Record {
	t.Helper()
	reg, err := s.Store.Registry()
	if err != nil {
		t.Fatal(err)
	}
	tp, err := reg.Get(tenant, topic)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := s.Store.Stats(tenant, tp)
	if err != nil {
		t.Fatal(err)
	}
	var out []segments.Record
	for _, st := range stats {
		if st.EndOffset == st.StartOffset {
			continue
		}
		l, err := s.Store.Partition(tenant, topic, st.Partition)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := l.Read(st.StartOffset, int(st.EndOffset-st.StartOffset))
		if err != nil {
			t.Fatalf("read partition %d: %v", st.Partition, err)
		}
		out = append(out, recs...)
	}
	return out
}

// testRecord is a record as tests compare it: no offset, strings for bytes.
type testRecord struct {
	Key, Value string
	Timestamp  int64
	Headers    []string // "key=value"
}

// testRecords converts recs for comparison, ordered by key (stably, so each
// stream keeps its offset order).
func testRecords(recs []segments.Record) []testRecord {
	out := make([]testRecord, len(recs))
	for i, r := range recs {
		out[i] = testRecord{Key: string(r.Key), Value: string(r.Value), Timestamp: r.Timestamp}
		for _, h := range r.Headers {
			out[i].Headers = append(out[i].Headers, h.Key+"="+string(h.Value))
		}
	}
	slices.SortStableFunc(out, func(a, b testRecord) int { return strings.Compare(a.Key, b.Key) })
	return out
}
