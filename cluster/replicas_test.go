package cluster

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// testNode is one member of an in-process cluster: a store, a transport and
// its raft groups, all on 127.0.0.1.
type testNode struct {
	id       string
	dir      string
	store    *topics.Store
	tr       *Transport
	replicas *Replicas
}

type testCluster struct {
	t      *testing.T
	mu     sync.Mutex
	addrs  map[string]string
	voters []string
	nodes  map[string]*testNode
}

func newTestCluster(t *testing.T, ids ...string) *testCluster {
	c := &testCluster{t: t, addrs: map[string]string{}, voters: ids, nodes: map[string]*testNode{}}
	for _, id := range ids {
		c.start(id, t.TempDir())
	}
	t.Cleanup(func() {
		for _, id := range ids {
			c.stop(id, false)
		}
	})
	return c
}

func (c *testCluster) start(id, dir string) *testNode {
	t := c.t
	var tcfg topics.Config
	fs := flag.NewFlagSet("t", flag.PanicOnError)
	tcfg.RegisterFlags(fs)
	rcfg := RaftConfig{}
	rcfg.RegisterFlags(fs)
	rcfg.Tick = 20 * time.Millisecond
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("SILT_TEST_RAFT_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
	}
	n := &testNode{id: id, dir: dir}
	n.store = topics.NewStore(dir, tcfg, segments.DefaultConfig(), logger, nil, topics.WithCommitGate())
	if err := services.StartAndAwaitRunning(context.Background(), n.store); err != nil {
		t.Fatal(err)
	}
	n.replicas = NewReplicas(ReplicasConfig{
		Self: id, Raft: rcfg, Store: n.store, FS: segments.OSFS,
		Voters: func(PartitionKey) ([]string, error) { c.mu.Lock(); defer c.mu.Unlock(); return c.voters, nil },
		Peers:  func() []string { c.mu.Lock(); defer c.mu.Unlock(); return slices.Collect(maps.Keys(c.addrs)) },
		Send:   func(to string, m GroupMessage) bool { return n.tr.Send(to, m) },
		Forward: func(ctx context.Context, to string, k PartitionKey, batch []byte) (int64, int64, error) {
			return n.tr.Forward(ctx, to, k, batch)
		},
	}, logger, nil)
	n.store.SetReplicator(n.replicas)
	n.tr = NewTransport(TransportConfig{
		Self: id, ListenAddr: "127.0.0.1:0",
		Resolve: func(peer string) (string, bool) {
			c.mu.Lock()
			defer c.mu.Unlock()
			a, ok := c.addrs[peer]
			return a, ok
		},
		Deliver: n.replicas.Deliver, HandleForward: n.replicas.HandleForward,
	}, logger)
	for _, s := range []services.Service{n.replicas, n.tr} {
		if err := services.StartAndAwaitRunning(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.Lock()
	c.addrs[id] = n.tr.Addr()
	c.nodes[id] = n
	c.mu.Unlock()
	return n
}

// stop stops a node; crash skips the leadership handover.
func (c *testCluster) stop(id string, crash bool) {
	c.mu.Lock()
	n := c.nodes[id]
	delete(c.nodes, id)
	c.mu.Unlock()
	if n == nil {
		return
	}
	if crash {
		n.replicas.cfg.Raft.TransferTimeout = 0
	}
	for _, s := range []services.Service{n.replicas, n.tr, n.store} {
		_ = services.StopAndAwaitTerminated(context.Background(), s)
	}
}

func (c *testCluster) node(id string) *testNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// leader waits for the group of partition p of "logs" to have a leader
// that every running node agrees on.
func (c *testCluster) leader(p int) string {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		seen := map[string]bool{}
		c.mu.Lock()
		for _, n := range c.nodes {
			for _, g := range n.replicas.Status() {
				if g.Key.Partition == int32(p) {
					seen[g.Leader] = true
				}
			}
		}
		c.mu.Unlock()
		if len(seen) == 1 && !seen[""] {
			for l := range seen {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("partition %d: no agreed leader", p)
	return ""
}

// write proposes one batch through node id and waits for it.
func (c *testCluster) write(id string, p int, value string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.node(id).store.Append(ctx, "fake", "logs", p, []segments.Record{{Timestamp: time.Now().UnixNano(), Value: []byte(value)}})
}

// sameLogs waits until every running node's partition p holds the same
// readable bytes, ending at want (or anywhere when want < 0).
func (c *testCluster) sameLogs(p int, want int64) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ref []byte
		ok := true
		c.mu.Lock()
		for id, n := range c.nodes {
			log, err := n.store.Partition("fake", "logs", p)
			if err != nil {
				c.t.Fatal(err)
			}
			if want >= 0 && log.NextOffset() != want {
				ok, last = false, fmt.Sprintf("%s: high watermark %d, want %d", id, log.NextOffset(), want)
				break
			}
			b, err := log.ReadBatches(nil, 0, 1<<30)
			if err != nil {
				c.t.Fatal(err)
			}
			if ref == nil {
				ref = b
			} else if !bytes.Equal(ref, b) {
				ok, last = false, fmt.Sprintf("%s: log differs", id)
				break
			}
		}
		c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("partition %d: logs never agreed: %s", p, last)
}

// TestReplicatedWrites: writes through every node of a 3-node group get
// distinct offsets, and every replica ends with byte-identical logs.
func TestReplicatedWrites(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	var wg sync.WaitGroup
	var mu sync.Mutex
	bases := map[int64]string{}
	for _, id := range c.voters {
		for w := range 4 {
			wg.Go(func() {
				for i := range 25 {
					v := fmt.Sprintf("%s-%d-%d", id, w, i)
					base, err := c.write(id, 0, v)
					if err != nil {
						t.Error(v, err)
						return
					}
					mu.Lock()
					if prev, dup := bases[base]; dup {
						t.Errorf("offset %d given to %s and %s", base, prev, v)
					}
					bases[base] = v
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(bases) != 300 {
		t.Fatalf("%d writes acknowledged, want 300", len(bases))
	}
	c.sameLogs(0, 300)
	for off, v := range bases {
		recs, err := c.node("b").store.Partition("fake", "logs", 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := recs.Read(off, 1)
		if err != nil || len(got) != 1 || string(got[0].Value) != v {
			t.Fatalf("offset %d: %v %v, want %q", off, got, err, v)
		}
	}
}

// TestReplicaCrashAndCatchUp: the leader crashes, the others elect a new
// one and go on; the crashed node restarts on its data and catches up to
// the same log.
func TestReplicaCrashAndCatchUp(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	for i := range 20 {
		if _, err := c.write("a", 0, fmt.Sprint("before-", i)); err != nil {
			t.Fatal(err)
		}
	}
	lead := c.leader(0)
	dir := c.node(lead).dir
	c.stop(lead, true)
	var other string
	for _, id := range c.voters {
		if id != lead {
			other = id
		}
	}
	for i := range 20 {
		if _, err := c.write(other, 0, fmt.Sprint("after-", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.start(lead, dir)
	if _, err := c.write(lead, 0, "back"); err != nil {
		t.Fatal(err)
	}
	c.sameLogs(0, 41)
}

// TestReplicaLeadershipTransfer: a node stopping gracefully hands its
// groups to another replica first, so writes go on without an election
// timeout.
func TestReplicaLeadershipTransfer(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c")
	if _, err := c.write("a", 0, "x"); err != nil {
		t.Fatal(err)
	}
	lead := c.leader(0)
	n := c.node(lead)
	c.stop(lead, false)
	if ok := testutil.ToFloat64(n.replicas.metrics.transfers.WithLabelValues("ok")); ok != 1 {
		t.Fatalf("%s handed over %v leaderships, want 1", lead, ok)
	}
	deadline := time.Now().Add(10 * time.Second)
	for l := c.leader(0); l == lead; l = c.leader(0) {
		if time.Now().After(deadline) {
			t.Fatalf("leader is still %s", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestForwardFromNonReplica: a node that holds no replica of a partition
// hands writes to one that does; they land once, at offsets every replica
// agrees on.
func TestForwardFromNonReplica(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c", "d")
	c.mu.Lock()
	c.voters = []string{"a", "b", "c"}
	c.mu.Unlock()
	for i := range 20 {
		base, err := c.write("d", 0, fmt.Sprint("via-d-", i))
		if err != nil {
			t.Fatal(err)
		}
		if base != int64(i) {
			t.Fatalf("write %d at offset %d", i, base)
		}
	}
	if log, err := c.node("d").store.Partition("fake", "logs", 0); err == nil && log.NextOffset() != 0 {
		t.Errorf("d holds %d records of a partition it is no replica of", log.NextOffset())
	}
	c.stop("d", false)
	c.sameLogs(0, 20)
}

// TestReplicaMove: placement swaps replica c for a new node d while writes
// go on; the leader adds d as a learner, promotes it once caught up and
// removes c, one change at a time. d ends with the same log, c's replica
// leaves the group, and no write is lost.
func TestReplicaMove(t *testing.T) {
	c := newTestCluster(t, "a", "b", "c", "d")
	c.mu.Lock()
	c.voters = []string{"a", "b", "c"}
	c.mu.Unlock()
	write := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := c.write([]string{"a", "b"}[i%2], 0, fmt.Sprint("v", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 50)
	c.mu.Lock()
	c.voters = []string{"a", "b", "d"}
	c.mu.Unlock()
	write(50, 100)
	deadline := time.Now().Add(20 * time.Second)
	for {
		a, d := c.node("a").store, c.node("d").store
		la, _ := a.Partition("fake", "logs", 0)
		ld, _ := d.Partition("fake", "logs", 0)
		ba, _ := la.ReadBatches(nil, 0, 1<<30)
		bd, _ := ld.ReadBatches(nil, 0, 1<<30)
		inC := false
		for _, g := range c.node("c").replicas.Status() {
			inC = inC || g.Key.Partition == 0
		}
		if la.NextOffset() == 100 && bytes.Equal(ba, bd) && !inC {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a at %d, d at %d (same bytes: %v), c still a replica: %v", la.NextOffset(), ld.NextOffset(), bytes.Equal(ba, bd), inC)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, g := range c.node("a").replicas.Status() {
		if g.Key.Partition == 0 && g.Leader == "c" {
			t.Errorf("c still leads: %+v", g)
		}
	}
}
