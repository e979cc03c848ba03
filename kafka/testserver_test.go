package kafka

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/grafana/dskit/services"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/groups"
	"github.com/siltlog/silt/segments/topics"
)

// testServer is a started store, group offsets store and Kafka listener on
// 127.0.0.1:0 over a data directory; all stop at the end of the test (or at
// stop).
type testServer struct {
	*Server
	store   *topics.Store
	offsets *groups.Store
	addr    string
	dir     string
	stop    func()
}

func defaultConfigs() (Config, topics.Config) {
	f := flag.NewFlagSet("test", flag.PanicOnError)
	var cfg Config
	var tcfg topics.Config
	cfg.RegisterFlags(f)
	tcfg.RegisterFlags(f)
	cfg.ListenAddress = "127.0.0.1:0"
	return cfg, tcfg
}

func startServer(tb testing.TB, edit func(*Config)) *testServer {
	tb.Helper()
	return startServerAt(tb, tb.TempDir(), edit)
}

// startServerAt starts a server over dir.
func startServerAt(tb testing.TB, dir string, edit func(*Config)) *testServer {
	tb.Helper()
	cfg, tcfg := defaultConfigs()
	tcfg.MaxPartitions = 64
	if edit != nil {
		edit(&cfg)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := topics.NewStore(dir, tcfg, segments.DefaultConfig(), logger, nil)
	offsets := groups.NewStore(filepath.Join(dir, groups.Dir), logger)
	srv := NewServer(cfg, store, offsets, logger)
	ctx := context.Background()
	var started []services.Service
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for i := len(started) - 1; i >= 0; i-- {
				if err := services.StopAndAwaitTerminated(ctx, started[i]); err != nil {
					tb.Errorf("stop %T: %v", started[i], err)
				}
			}
		})
	}
	tb.Cleanup(stop)
	for _, svc := range []services.Service{store, offsets, srv} {
		if err := services.StartAndAwaitRunning(ctx, svc); err != nil {
			stop()
			tb.Fatalf("start %T: %v", svc, err)
		}
		started = append(started, svc)
	}
	return &testServer{Server: srv, store: store, offsets: offsets, addr: srv.Addr().String(), dir: dir, stop: stop}
}

// createTopic creates a topic of the served tenant.
func (ts *testServer) createTopic(tb testing.TB, name string, partitions int) {
	tb.Helper()
	reg, err := ts.store.Registry()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := reg.Create(ts.cfg.Tenant, topics.Topic{Name: name, Partitions: partitions}); err != nil {
		tb.Fatalf("create topic %s: %v", name, err)
	}
}

// log returns a partition's log.
func (ts *testServer) log(tb testing.TB, topic string, p int) *segments.Log {
	tb.Helper()
	l, err := ts.store.Partition(ts.cfg.Tenant, topic, p)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// storedBatches returns every stored batch of a partition, split.
func (ts *testServer) storedBatches(tb testing.TB, topic string, p int) [][]byte {
	tb.Helper()
	l := ts.log(tb, topic, p)
	var out [][]byte
	for off := l.StartOffset(); off < l.NextOffset(); {
		b, err := l.ReadBatches(nil, off, 1)
		if err != nil || len(b) < batchHeaderBytes {
			tb.Fatalf("read batch at %d: %v (%d bytes)", off, err, len(b))
		}
		n := int(int32(be32(b[batchPosLength:]))) + batchLengthAdjust
		out = append(out, b[:n])
		off = int64(be64(b)) + int64(be32(b[batchPosLastOffset:])) + 1
	}
	return out
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func be64(b []byte) uint64 { return uint64(be32(b))<<32 | uint64(be32(b[4:])) }
