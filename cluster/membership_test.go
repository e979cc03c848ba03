package cluster

import (
	"context"
	"flag"
	"io"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's package-level metrics flusher and the go-metrics sink.
		goleak.IgnoreTopFunction("github.com/armon/go-metrics.(*InmemSink).run"),
		goleak.IgnoreTopFunction("github.com/hashicorp/go-metrics.(*InmemSink).run"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// testMember is one in-process node: its membership services, started in
// module order.
type testMember struct {
	m    *Membership
	svcs []services.Service // KV, ring, lifecycler
}

func defaultConfigs(t *testing.T) (Config, MemberlistConfig) {
	t.Helper()
	var c Config
	var ml MemberlistConfig
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs)
	ml.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return c, ml
}

func startMember(t *testing.T, id, dir string, join ...string) *testMember {
	t.Helper()
	c, ml := defaultConfigs(t)
	c.Enabled, c.InstanceID, c.InstanceAddr, c.InstancePort = true, id, "127.0.0.1", 9095
	c.HeartbeatPeriod = 200 * time.Millisecond
	ml.BindAddrs, ml.BindPort = []string{"127.0.0.1"}, 0
	ml.JoinMembers = join
	ml.LeaveTimeout = 2 * time.Second
	m, err := NewMembership(c, ml, dir, log.NewNopLogger(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tm := &testMember{m: m}
	ctx := context.Background()
	start := func(s services.Service) {
		t.Helper()
		if err := services.StartAndAwaitRunning(ctx, s); err != nil {
			t.Fatal(err)
		}
		tm.svcs = append(tm.svcs, s)
	}
	start(m.KVService())
	rs, err := m.RingService()
	if err != nil {
		t.Fatal(err)
	}
	start(rs)
	ls, err := m.LifecyclerService()
	if err != nil {
		t.Fatal(err)
	}
	start(ls)
	t.Cleanup(tm.stop)
	return tm
}

// stop stops the services in reverse order, as the dskit module manager does.
func (tm *testMember) stop() {
	for i := len(tm.svcs) - 1; i >= 0; i-- {
		_ = services.StopAndAwaitTerminated(context.Background(), tm.svcs[i])
	}
	tm.svcs = nil
}

func (tm *testMember) gossipAddr(t *testing.T) string {
	t.Helper()
	kv, err := tm.m.kvInit.GetMemberlistKV()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(kv.GetListeningPort())
}

// poll waits up to d for cond, as dskit's test.Poll.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func members(t *testing.T, tm *testMember) map[string]Member {
	t.Helper()
	list, err := tm.m.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Member{}
	for _, m := range list {
		out[m.ID] = m
	}
	return out
}

// TestMembership: three nodes gossip one ring; a node that stops leaves the
// ring at once (it does not wait for a heartbeat timeout), and restarts with
// the tokens it had.
func TestMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: gossip between three in-process nodes")
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	a := startMember(t, "a", dirs[0])
	seed := a.gossipAddr(t)
	b := startMember(t, "b", dirs[1], seed)
	c := startMember(t, "c", dirs[2], seed)
	for _, tm := range []*testMember{a, b, c} {
		poll(t, 20*time.Second, tm.m.ID()+" sees three ACTIVE members", func() bool {
			ms := members(t, tm)
			for _, id := range []string{"a", "b", "c"} {
				if m, ok := ms[id]; !ok || m.State != "ACTIVE" || m.Tokens != 128 || !m.Healthy || m.Addr != "127.0.0.1:9095" {
					return false
				}
			}
			return len(ms) == 3
		})
	}
	tokensBefore := members(t, a)["c"]
	descBefore, _ := a.m.Desc(context.Background())
	cTokens := slices.Clone(descBefore.Ingesters["c"].Tokens)
	_ = tokensBefore

	// c stops: lifecycler (LEAVING, then unregistered), ring client, gossip.
	// Its peers see it leave well within the heartbeat timeout (1m).
	var sawLeaving bool
	stopped := make(chan struct{})
	go func() { c.stop(); close(stopped) }()
	poll(t, 20*time.Second, "a sees c leave", func() bool {
		m, ok := members(t, a)["c"]
		sawLeaving = sawLeaving || (ok && m.State == ring.LEAVING.String())
		return !ok || m.State == ring.LEFT.String()
	})
	<-stopped
	t.Logf("LEAVING observed by a peer before removal: %v", sawLeaving)

	// c restarts on its data directory: same tokens.
	c = startMember(t, "c", dirs[2], seed)
	poll(t, 20*time.Second, "a sees c back", func() bool {
		m, ok := members(t, a)["c"]
		return ok && m.State == "ACTIVE"
	})
	descAfter, _ := a.m.Desc(context.Background())
	if got := descAfter.Ingesters["c"].Tokens; !slices.Equal(got, cTokens) {
		t.Fatalf("c restarted with other tokens (%d vs %d)", len(got), len(cTokens))
	}
	_ = io.Discard
}
