package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/twmb/franz-go/pkg/kgo"
)

// check waits for the replicas to agree, reads every replica's log and
// checks the history against them.
func (c *cluster) check() {
	c.t.Helper()
	ends, holders := c.converge()
	ref := map[int32]map[int64]string{}
	for p := range int32(partitions) {
		for i, n := range holders[p] {
			log := c.read(n, p, ends[p])
			if i == 0 {
				ref[p] = log
			} else if !maps.Equal(ref[p], log) {
				c.t.Errorf("partition %d: %s holds another log than %s (%d and %d records)",
					p, n.id, holders[p][0].id, len(log), len(ref[p]))
			}
		}
	}
	c.checkHistory(ref)
}

// replicationFactor is the cluster's default: every partition has three
// replicas.
const replicationFactor = 3

// converge waits until the replicas of each partition (replicationFactor
// nodes) report the same high watermark, equal to their log end, and
// returns the high watermarks and the replicas.
func (c *cluster) converge() (map[int32]int64, map[int32][]*node) {
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ends, holders, why := c.agreement()
		if why == "" {
			return ends, holders
		}
		last = why
		time.Sleep(100 * time.Millisecond)
	}
	c.dump()
	c.t.Fatalf("replicas never converged: %s", last)
	return nil, nil
}

// agreement reads every node's groups; why is empty when the replicas agree.
func (c *cluster) agreement() (ends map[int32]int64, holders map[int32][]*node, why string) {
	ends, holders = map[int32]int64{}, map[int32][]*node{}
	for _, n := range c.nodes {
		groups, err := n.partitions()
		if err != nil {
			return nil, nil, fmt.Sprintf("%s: %v", n.id, err)
		}
		for _, g := range groups {
			p := g.Key.Partition
			if g.Key.Topic != topic {
				continue
			}
			if g.HighWater != g.LogEnd {
				return nil, nil, fmt.Sprintf("%s partition %d: high watermark %d, log end %d", n.id, p, g.HighWater, g.LogEnd)
			}
			if e, had := ends[p]; had && e != g.HighWater {
				return nil, nil, fmt.Sprintf("partition %d: high watermarks %d and %d", p, e, g.HighWater)
			}
			ends[p] = g.HighWater
			holders[p] = append(holders[p], n)
		}
	}
	for p := range int32(partitions) {
		if len(holders[p]) != min(replicationFactor, len(c.nodes)) {
			return nil, nil, fmt.Sprintf("partition %d has %d replicas", p, len(holders[p]))
		}
	}
	return ends, holders, ""
}

// dump logs every node's groups and last output; with SILT_FAULT_DUMP set,
// it also writes every goroutine of the nodes and of the test there.
func (c *cluster) dump() {
	dir := os.Getenv("SILT_FAULT_DUMP")
	for _, n := range c.nodes {
		groups, err := n.partitions()
		c.t.Logf("%s: %+v %v\n%s", n.id, groups, err, n.logs())
		if dir != "" && n.running() {
			_ = n.cmd.Process.Signal(syscall.SIGQUIT) // the Go runtime prints every goroutine
			time.Sleep(time.Second)
			_ = os.WriteFile(filepath.Join(dir, n.id+".txt"), []byte(n.out.String()), 0o644)
		}
	}
	if dir != "" {
		var b bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
		_ = os.WriteFile(filepath.Join(dir, "test.txt"), b.Bytes(), 0o644)
	}
}

// read consumes partition p of node n from offset 0 up to end.
func (c *cluster) read(n *node, p int32, end int64) map[int64]string {
	out := map[int64]string{}
	if end == 0 {
		return out
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(fmt.Sprintf("127.0.0.1:%d", n.kafka)),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(0)}}),
	)
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			c.t.Fatalf("%s partition %d: read %d of %d records: %v", n.id, p, len(out), end, err)
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			if prev, dup := out[r.Offset]; dup && prev != string(r.Value) {
				c.t.Errorf("%s partition %d offset %d read as %q and %q", n.id, p, r.Offset, prev, r.Value)
			}
			out[r.Offset] = string(r.Value)
			done = done || r.Offset+1 >= end
		})
		if done {
			return out
		}
	}
}

// checkHistory: every acknowledged value is in the log exactly once, at the
// offset it was acknowledged with; no value is there twice; and the
// history is linearizable.
func (c *cluster) checkHistory(logs map[int32]map[int64]string) {
	c.mu.Lock()
	history := slices.Clone(c.history)
	c.mu.Unlock()
	pos := map[string]int64{}
	for p, recs := range logs {
		for off, v := range recs {
			if prev, dup := pos[v]; dup {
				c.t.Errorf("value %q is in partition %d twice: offsets %d and %d", v, p, prev, off)
			}
			pos[v] = off
		}
	}
	acked, unknown := 0, 0
	var ops []porcupine.Operation
	for i, o := range history {
		at, in := pos[o.value]
		switch {
		case o.offset >= 0 && !in:
			c.t.Errorf("acknowledged %q (partition %d offset %d) is lost", o.value, o.partition, o.offset)
			continue
		case o.offset >= 0 && at != o.offset:
			c.t.Errorf("acknowledged %q at offset %d is at %d", o.value, o.offset, at)
		case o.offset < 0 && !in:
			continue // never written
		}
		ret := o.done
		if o.offset >= 0 {
			acked++
		} else {
			unknown++
			ret = math.MaxInt64 // took effect at some point after its call
		}
		ops = append(ops, porcupine.Operation{ClientId: i, Input: o, Call: o.call, Output: o.offset, Return: ret})
	}
	if acked == 0 {
		c.t.Error("no write was acknowledged")
	}
	res := porcupine.CheckOperationsTimeout(logModel(pos), ops, time.Minute)
	if res != porcupine.Ok {
		c.t.Errorf("history of %d writes is not linearizable: %s", len(ops), res)
	}
	c.t.Logf("%d writes acknowledged, %d unknown but written, %d records", acked, unknown, len(pos))
}

// logModel is a partition's log whose final order is known (pos): a write
// takes effect at its value's offset, so writes must take effect in offset
// order, each at the offset it was acknowledged with.
func logModel(pos map[string]int64) porcupine.Model {
	return porcupine.Model{
		Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
			by := map[int32][]porcupine.Operation{}
			for _, o := range history {
				p := o.Input.(op).partition
				by[p] = append(by[p], o)
			}
			return slices.Collect(maps.Values(by))
		},
		Init: func() any { return int64(-1) },
		Step: func(state, input, output any) (bool, any) {
			at := pos[input.(op).value]
			out := output.(int64)
			return at > state.(int64) && (out < 0 || out == at), at
		},
		Equal: func(a, b any) bool { return a.(int64) == b.(int64) },
	}
}
