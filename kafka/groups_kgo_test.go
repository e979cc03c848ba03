package kafka

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// produceNumbered produces n records whose values are their numbers,
// round-robin over partitions, with idempotence and acks=all.
func produceNumbered(t *testing.T, addr, topic string, partitions, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prod := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32((from + i) % partitions), Value: []byte(strconv.Itoa(from + i))}
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	prod.Close()
}

func groupClient(t *testing.T, addr, group, topic string, opts ...kgo.Opt) *kgo.Client {
	return newClient(t, addr, append([]kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.HeartbeatInterval(200 * time.Millisecond),
	}, opts...)...)
}

// TestKgoGroupCommitRestartResume consumes part of 100,000 records in a
// group, commits, restarts the server over the same data directory and
// checks a new member resumes exactly at the committed offsets.
func TestKgoGroupCommitRestartResume(t *testing.T) {
	const total, first = 100_000, 60_000
	dir := t.TempDir()
	ts := startServerAt(t, dir, nil)
	ts.createTopic(t, "resume", 3)
	produceNumbered(t, ts.addr, "resume", 3, 0, total)

	seen := make([]int, total)
	consume := func(cl *kgo.Client, until int) int {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n := 0
		for n < until {
			fs := cl.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("poll: %v", err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				i, _ := strconv.Atoi(string(r.Value))
				seen[i]++
				n++
			})
		}
		return n
	}
	cl := groupClient(t, ts.addr, "g", "resume", kgo.DisableAutoCommit())
	got := consume(cl, first)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close() // leaves the group

	ts.stop()
	ts = startServerAt(t, dir, nil)
	cl = groupClient(t, ts.addr, "g", "resume", kgo.DisableAutoCommit())
	got += consume(cl, total-got)
	// Nothing more arrives: every record was delivered exactly once.
	pollCtx, pollCancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer pollCancel()
	if fs := cl.PollFetches(pollCtx); fs.NumRecords() != 0 {
		t.Fatalf("%d more records after all %d", fs.NumRecords(), total)
	}
	for i, n := range seen {
		if n != 1 {
			t.Fatalf("record %d delivered %d times (first pass consumed %d)", i, n, first)
		}
	}
}

// TestKgoGroupTwoMembers checks two members split a topic's partitions.
func TestKgoGroupTwoMembers(t *testing.T) {
	const total = 4000
	ts := startServer(t, nil)
	ts.createTopic(t, "shared", 4)
	var mu sync.Mutex
	assigned := map[int]map[int32]bool{0: {}, 1: {}}
	members := make([]*kgo.Client, 2)
	for m := range members {
		members[m] = groupClient(t, ts.addr, "pair", "shared",
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range a["shared"] {
					assigned[m][p] = true
				}
			}),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
				mu.Lock()
				defer mu.Unlock()
				for _, p := range r["shared"] {
					delete(assigned[m], p)
				}
			}))
	}
	// Poll both so they join, until the partitions are split between them.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	counts := make([]map[string]int32, 2) // value -> partition
	var wg sync.WaitGroup
	done := make(chan struct{})
	for m, cl := range members {
		counts[m] = map[string]int32{}
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
				fs := cl.PollFetches(pctx)
				pcancel()
				mu.Lock()
				fs.EachRecord(func(r *kgo.Record) { counts[m][string(r.Value)] = r.Partition })
				mu.Unlock()
			}
		})
	}
	defer func() { close(done); wg.Wait() }()
	waitFor(t, 30*time.Second, "both members assigned", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(assigned[0]) > 0 && len(assigned[1]) > 0 && len(assigned[0])+len(assigned[1]) == 4
	})
	produceNumbered(t, ts.addr, "shared", 4, 0, total)
	waitFor(t, 30*time.Second, "all records consumed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(counts[0])+len(counts[1]) >= total
	})
	mu.Lock()
	defer mu.Unlock()
	union := map[string]bool{}
	parts := []map[int32]bool{{}, {}}
	for m := range counts {
		for v, p := range counts[m] {
			union[v] = true
			parts[m][p] = true
		}
	}
	for p := range parts[0] {
		if parts[1][p] {
			t.Fatalf("partition %d consumed by both members: %v / %v", p, parts[0], parts[1])
		}
	}
	if len(union) != total || len(parts[0]) == 0 || len(parts[1]) == 0 {
		t.Fatalf("%d distinct records of %d; member partitions %v / %v", len(union), total, parts[0], parts[1])
	}
	for i := range total {
		if !union[fmt.Sprint(i)] {
			t.Fatalf("record %d never consumed", i)
		}
	}
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
