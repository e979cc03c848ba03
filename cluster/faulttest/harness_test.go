package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltlog/silt/segments/testtool"
)

const (
	topic      = "logs"
	partitions = 2
)

// cluster is a harness run: its nodes and the history its producers saw.
type cluster struct {
	t     *testing.T
	bin   string
	nodes []*node
	rng   *rand.Rand

	mu      sync.Mutex
	history []op // guarded by mu
}

// op is one produce: its value, partition, and when it was called and
// answered. Offset is -1 when the answer is unknown (an error or a
// timeout: the value may or may not be in the log).
type op struct {
	value      string
	partition  int32
	offset     int64
	call, done int64 // nanoseconds since the run began
}

func startCluster(t *testing.T, size int, seed uint64) *cluster {
	t.Helper()
	c := &cluster{t: t, bin: os.Getenv("SILT_FAULT_BIN"), rng: rand.New(rand.NewPCG(seed, seed))}
	if c.bin == "" {
		c.bin = testtool.BuildSilt(t)
	}
	for i := range size {
		c.nodes = append(c.nodes, newNode(t, fmt.Sprintf("n%d", i)))
	}
	for _, n := range c.nodes {
		n.start(t, c.bin, c.nodes[0].gossip)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.signal(syscall.SIGKILL)
			if dir := os.Getenv("SILT_FAULT_DUMP"); dir != "" && n.out != nil {
				_ = os.WriteFile(filepath.Join(dir, n.id+".log"), []byte(n.out.String()), 0o644)
			}
		}
	})
	c.waitRing()
	return c
}

// waitRing waits until every running node sees every node ACTIVE.
func (c *cluster) waitRing() {
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range c.nodes {
		for n.running() && n.ringSize() != len(c.nodes) {
			if time.Now().After(deadline) {
				c.t.Fatalf("%s sees %d of %d nodes", n.id, n.ringSize(), len(c.nodes))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// leader returns the node leading partition p as the running nodes agree,
// waiting for one.
func (c *cluster) leader(p int32) *node {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if !n.running() || n.paused {
				continue
			}
			groups, err := n.partitions()
			if err != nil {
				continue
			}
			for _, g := range groups {
				if g.Key.Topic == topic && g.Key.Partition == p && g.Role == "StateLeader" && g.Leader == n.id {
					return n
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("partition %d has no leader", p)
	return nil
}

// produce runs one producer until stop: unique values, acks=all, through
// node n, alternating partitions, one at a time.
// A producer gives a write up after timeout (a Kafka client's
// delivery.timeout.ms), retrying within it.
func (c *cluster) produce(id int, n *node, timeout time.Duration, began time.Time, stop <-chan struct{}) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", n.kafka)),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0),
		kgo.RecordDeliveryTimeout(timeout-time.Second),
		kgo.ProduceRequestTimeout(3*time.Second),
		kgo.RetryTimeout(timeout-time.Second),
	)
	if err != nil {
		c.t.Error(err)
		return
	}
	defer cl.Close()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		o := op{value: fmt.Sprintf("p%d-%d", id, seq), partition: int32(seq % partitions), offset: -1}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		o.call = int64(time.Since(began))
		res := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: o.partition, Value: []byte(o.value)})
		o.done = int64(time.Since(began))
		cancel()
		if os.Getenv("SILT_FAULT_DUMP") != "" && time.Duration(o.done-o.call) > 500*time.Millisecond {
			fmt.Fprintf(os.Stderr, "%s slow write %s via %s partition %d: %v (%v)\n", time.Now().Format("15:04:05.000"),
				o.value, n.id, o.partition, time.Duration(o.done-o.call), res.FirstErr())
		}
		if r, err := res.First(); err == nil {
			o.offset = r.Offset
		} else if !errors.Is(err, context.DeadlineExceeded) {
			time.Sleep(50 * time.Millisecond) // node down: do not spin
		}
		c.mu.Lock()
		c.history = append(c.history, o)
		c.mu.Unlock()
	}
}

// fault is one kind of failure injected while producers run.
type fault struct {
	name   string
	inject func(c *cluster) (heal func())
	// retried: every write must succeed, within the producers' retries.
	retried bool
}

var faults = []fault{
	{name: "kill-leader", inject: func(c *cluster) func() {
		n := c.leader(0)
		n.signal(syscall.SIGKILL)
		return func() { n.start(c.t, c.bin, c.seedFor(n)) }
	}},
	{name: "kill-follower", inject: func(c *cluster) func() {
		n := c.follower(0)
		n.signal(syscall.SIGKILL)
		return func() { n.start(c.t, c.bin, c.seedFor(n)) }
	}},
	{name: "pause-leader", inject: func(c *cluster) func() {
		n := c.leader(0)
		n.signal(syscall.SIGSTOP)
		return func() { n.signal(syscall.SIGCONT) }
	}},
	{name: "partition-leader", inject: func(c *cluster) func() {
		n := c.leader(0)
		for _, m := range c.nodes {
			if m == n {
				m.proxy.block("*")
			} else {
				m.proxy.block(n.id)
			}
		}
		return func() {
			for _, m := range c.nodes {
				m.proxy.heal()
			}
		}
	}},
	{name: "rolling-restart", retried: true, inject: func(c *cluster) func() {
		for _, n := range c.nodes {
			n.signal(syscall.SIGTERM) // leaderships are handed over first
			n.start(c.t, c.bin, c.seedFor(n))
			c.waitRing()
		}
		return func() {}
	}},
	{name: "restart-all", inject: func(c *cluster) func() {
		for _, n := range c.nodes {
			n.signal(syscall.SIGKILL)
		}
		return func() {
			for _, n := range c.nodes {
				n.start(c.t, c.bin, c.seedFor(n))
			}
		}
	}},
}

// follower returns a running node that holds partition p but does not lead it.
func (c *cluster) follower(p int32) *node {
	lead := c.leader(p)
	for _, n := range c.nodes {
		if n == lead || !n.running() {
			continue
		}
		groups, _ := n.partitions()
		for _, g := range groups {
			if g.Key.Topic == topic && g.Key.Partition == p {
				return n
			}
		}
	}
	c.t.Fatal("no follower")
	return nil
}

// seedFor is a gossip seed for n other than n itself, when there is one.
func (c *cluster) seedFor(n *node) int {
	for _, m := range c.nodes {
		if m != n {
			return m.gossip
		}
	}
	return n.gossip
}

// runFault writes through every node while f strikes, heals, and checks.
func runFault(t *testing.T, size int, f fault, seed uint64) {
	c := startCluster(t, size, seed)
	began := time.Now()
	stop := make(chan struct{})
	timeout := 5 * time.Second
	if f.retried {
		timeout = 30 * time.Second // as patient as a Kafka client, whose default is 2 minutes
	}
	var wg sync.WaitGroup
	for i := range 2 * size {
		wg.Go(func() { c.produce(i, c.nodes[i%size], timeout, began, stop) })
	}
	time.Sleep(time.Duration(1000+c.rng.IntN(1000)) * time.Millisecond)
	heal := f.inject(c)
	time.Sleep(time.Duration(2500+c.rng.IntN(2000)) * time.Millisecond)
	heal()
	time.Sleep(time.Duration(1500+c.rng.IntN(1000)) * time.Millisecond)
	close(stop)
	wg.Wait()
	c.check()
	if f.retried {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, o := range c.history {
			if o.offset < 0 {
				c.t.Errorf("write %q failed beyond the producer's retries", o.value)
			}
		}
	}
}

// runs is how many seeded runs each fault gets: 1, or SILT_FAULT_RUNS.
func runs(t *testing.T) int {
	if s := os.Getenv("SILT_FAULT_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SILT_FAULT_RUNS=%q", s)
		}
		return n
	}
	return 1
}

// TestFaults: for each fault, a 3-node cluster under acknowledged writes
// loses nothing acknowledged, doubles nothing, ends with identical replicas
// and a linearizable history; so does a 5-node cluster, where two nodes of
// each partition hold no replica and forward their writes. By default each
// fault runs once on 3 nodes and the leader faults once on 5;
// SILT_FAULT_RUNS=n runs every fault n times on both. It runs a silt binary
// built from this tree, or the one SILT_FAULT_BIN names.
func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs silt processes for about a minute")
	}
	base := uint64(time.Now().UnixNano())
	if s := os.Getenv("SILT_FAULT_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		base = v
	}
	n := runs(t)
	for _, size := range []int{3, 5} {
		for _, f := range faults {
			if size == 5 && n == 1 && f.name != "kill-leader" && f.name != "partition-leader" {
				continue
			}
			for i := range n {
				seed := base + uint64(i)
				t.Run(fmt.Sprintf("%s/nodes=%d/seed=%d", f.name, size, seed), func(t *testing.T) { runFault(t, size, f, seed) })
			}
		}
	}
}
