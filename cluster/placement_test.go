package cluster

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grafana/dskit/ring"

	"github.com/siltlog/silt/segments"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testRing builds a ring of nodes "n0".."n<count-1>" with 128 tokens each,
// seeded by the node ID so a node has the same tokens in every test; zones
// cycles through zones when given. Every node heartbeats at now.
func testRing(count int, zones []string, now time.Time) *ring.Desc {
	d := ring.NewDesc()
	for i := range count {
		addNode(d, fmt.Sprintf("n%d", i), zoneOf(i, zones), now)
	}
	return d
}

func zoneOf(i int, zones []string) string {
	if len(zones) == 0 {
		return ""
	}
	return zones[i%len(zones)]
}

func addNode(d *ring.Desc, id, zone string, now time.Time) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	r := rand.New(rand.NewPCG(h.Sum64(), 1))
	tokens := make([]uint32, 128)
	for i := range tokens {
		tokens[i] = r.Uint32()
	}
	slices.Sort(tokens)
	inst := d.AddIngester(id, id+":9095", zone, tokens, ring.ACTIVE, now, false, time.Time{}, nil)
	inst.Timestamp = now.Unix()
	d.Ingesters[id] = inst
}

func testKeys(n int) []PartitionKey {
	keys := make([]PartitionKey, 0, n)
	for i := range n {
		keys = append(keys, PartitionKey{Tenant: fmt.Sprintf("t%d", i%7), Topic: "logs", Partition: int32(i)})
	}
	return keys
}

func TestTokenMixes(t *testing.T) {
	// Consecutive partitions of one topic must spread over the whole token
	// space: count how many of 4096 fall in each of 16 equal ranges.
	var buckets [16]int
	for p := range 4096 {
		buckets[PartitionKey{Tenant: "fake", Topic: "logs", Partition: int32(p)}.Token()>>28]++
	}
	for i, n := range buckets {
		if n < 256/2 || n > 256*3/2 {
			t.Errorf("range %d holds %d of 4096 tokens, want about 256", i, n)
		}
	}
	a := PartitionKey{Tenant: "ab", Topic: "c", Partition: 1}
	b := PartitionKey{Tenant: "a", Topic: "bc", Partition: 1}
	if a.Token() == b.Token() {
		t.Error("tenant and topic boundaries do not separate keys")
	}
}

func TestPlace(t *testing.T) {
	cases := []struct {
		name      string
		nodes     int
		zones     []string
		zoneAware bool
		rf, want  int
	}{
		{"one node", 1, nil, false, 3, 1},
		{"two nodes", 2, nil, false, 3, 2},
		{"three nodes", 3, nil, false, 3, 3},
		{"five nodes", 5, nil, false, 3, 3},
		{"rf one", 5, nil, false, 1, 1},
		{"zones", 6, []string{"a", "b", "c"}, true, 3, 3},
		{"fewer zones than replicas", 4, []string{"a", "b"}, true, 3, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := NewPlacer(testRing(tc.nodes, tc.zones, t0), tc.zoneAware, nil)
			for _, k := range testKeys(500) {
				got := p.Place(k.Token(), tc.rf, nil)
				if len(got) != tc.want {
					t.Fatalf("%s: %v, want %d replicas", k, got, tc.want)
				}
				if len(slices.Compact(slices.Sorted(slices.Values(got)))) != len(got) {
					t.Fatalf("%s: duplicate replica in %v", k, got)
				}
				if !slices.Equal(got, p.Place(k.Token(), tc.rf, nil)) {
					t.Fatalf("%s: placement not deterministic", k)
				}
				if tc.zoneAware {
					zones := map[string]bool{}
					for _, id := range got {
						var i int
						fmt.Sscanf(id, "n%d", &i)
						zones[zoneOf(i, tc.zones)] = true
					}
					if want := min(len(tc.zones), tc.want); len(zones) != want {
						t.Fatalf("%s: %v spans %d zones, want %d", k, got, len(zones), want)
					}
				}
			}
		})
	}
}

// TestPlaceBalance: with 128 tokens per node, leaders and replicas spread
// within 25% of even.
func TestPlaceBalance(t *testing.T) {
	const nodes, keys = 5, 5000
	p := NewPlacer(testRing(nodes, nil, t0), false, nil)
	leaders, replicas := map[string]int{}, map[string]int{}
	for _, k := range testKeys(keys) {
		got := p.Place(k.Token(), 3, nil)
		leaders[got[0]]++
		for _, id := range got {
			replicas[id]++
		}
	}
	for id, n := range leaders {
		if even := keys / nodes; n < even*3/4 || n > even*5/4 {
			t.Errorf("%s leads %d of %d partitions, want about %d", id, n, keys, even)
		}
		if even := 3 * keys / nodes; replicas[id] < even*3/4 || replicas[id] > even*5/4 {
			t.Errorf("%s holds %d replicas, want about %d", id, replicas[id], even)
		}
	}
}

// TestPlaceMinimalMovement: a node joining or leaving changes at most one
// replica of any partition, and only about RF/N of the partitions.
func TestPlaceMinimalMovement(t *testing.T) {
	before := testRing(4, nil, t0)
	after := testRing(4, nil, t0)
	addNode(after, "n4", "", t0)
	pb, pa := NewPlacer(before, false, nil), NewPlacer(after, false, nil)
	changed := 0
	keys := testKeys(3000)
	for _, k := range keys {
		b, a := pb.Place(k.Token(), 3, nil), pa.Place(k.Token(), 3, nil)
		diff := 0
		for _, id := range a {
			if !slices.Contains(b, id) {
				diff++
				if id != "n4" {
					t.Fatalf("%s: %v -> %v moved to an old node", k, b, a)
				}
			}
		}
		if diff > 1 {
			t.Fatalf("%s: %v -> %v changed %d replicas", k, b, a, diff)
		}
		changed += diff
	}
	// n4 takes about 3/5 of the partitions' third replica slot.
	if want := len(keys) * 3 / 5; changed < want*3/4 || changed > want*5/4 {
		t.Errorf("%d of %d partitions gained n4, want about %d", changed, len(keys), want)
	}
}

func openTestPlacement(t *testing.T, dir string, policy Policy) *Placement {
	t.Helper()
	p, err := OpenPlacement(segments.OSFS, dir, policy, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var testPolicy = Policy{ReplicationFactor: 3, ReplaceAfter: 10 * time.Minute, MaxMoves: 1 << 30}

// TestPlacementStable: once recorded, placement does not follow the ring:
// heartbeat jitter and short absences change nothing; a node gone for
// ReplaceAfter has exactly its replicas replaced.
func TestPlacementStable(t *testing.T) {
	for _, left := range []bool{false, true} {
		name := "heartbeats stop"
		if left {
			name = "leaves the ring"
		}
		t.Run(name, func(t *testing.T) { testPlacementStable(t, left) })
	}
}

func testPlacementStable(t *testing.T, left bool) {
	dir := t.TempDir()
	p := openTestPlacement(t, dir, testPolicy)
	desc := testRing(4, nil, t0)
	keys := testKeys(400)
	first, err := p.Ensure(desc, keys, t0)
	if err != nil {
		t.Fatal(err)
	}
	// n2 stops heartbeating. Within ReplaceAfter nothing moves, even though
	// the ring now sees it unhealthy.
	stale := desc.Ingesters["n2"]
	if left {
		delete(desc.Ingesters, "n2") // a clean shutdown unregisters the node
	}
	for _, d := range []time.Duration{0, 2 * time.Minute, 9 * time.Minute} {
		for id, inst := range desc.Ingesters {
			if id != "n2" {
				inst.Timestamp = t0.Add(d).Unix()
				desc.Ingesters[id] = inst
			}
		}
		if ch, err := p.Rebalance(desc, t0.Add(d)); err != nil || len(ch) != 0 {
			t.Fatalf("at +%v: %d changes (%v), want none", d, len(ch), err)
		}
	}
	// A reopened record is the same, and new partitions avoid the down node.
	p = openTestPlacement(t, dir, testPolicy)
	if got := p.All(); len(got) != len(first) {
		t.Fatalf("reopened: %d assignments, want %d", len(got), len(first))
	}
	extra, err := p.Ensure(desc, []PartitionKey{{Tenant: "new", Topic: "logs"}}, t0.Add(9*time.Minute))
	if err != nil || slices.Contains(extra[0].Replicas, "n2") {
		t.Fatalf("new partition while n2 is down: %v %v", extra, err)
	}
	// Past ReplaceAfter, n2 is replaced and only n2. The time counts from
	// n2's last heartbeat in the ring or, for a node no longer in the ring,
	// from when this (reopened) record first missed it.
	now := t0.Add(11 * time.Minute)
	if left {
		if ch, _ := p.Rebalance(desc, t0.Add(9*time.Minute)); len(ch) != 0 {
			t.Fatalf("reopened: %d changes, want none", len(ch))
		}
		now = t0.Add(20 * time.Minute)
	}
	for id, inst := range desc.Ingesters {
		if id != "n2" {
			inst.Timestamp = now.Unix()
			desc.Ingesters[id] = inst
		}
	}
	changes, err := p.Rebalance(desc, now)
	if err != nil {
		t.Fatal(err)
	}
	had := 0
	for _, a := range first {
		if slices.Contains(a.Replicas, "n2") {
			had++
		}
	}
	if len(changes) != had {
		t.Fatalf("%d changes, want %d (the partitions on n2)", len(changes), had)
	}
	for _, c := range changes {
		if c.Reason != "replace" || len(c.After) != 3 || slices.Contains(c.After, "n2") || c.Epoch != 2 {
			t.Fatalf("change %+v", c)
		}
		kept := 0
		for _, id := range c.Before {
			if slices.Contains(c.After, id) {
				kept++
			}
		}
		if kept != 2 {
			t.Fatalf("%s: %v -> %v kept %d replicas, want 2", c.Key, c.Before, c.After, kept)
		}
	}
	// n2 comes back: its old partitions come back to it one move at a time,
	// at most MaxMoves per round.
	stale.Timestamp = now.Unix()
	desc.Ingesters["n2"] = stale
	p.policy.MaxMoves = 10
	p.gone = goneTracker{}
	changes, err = p.Rebalance(desc, now)
	if err != nil || len(changes) != 10 {
		t.Fatalf("balance round: %d changes (%v), want 10", len(changes), err)
	}
	for _, c := range changes {
		if c.Reason != "balance" || !slices.Contains(c.After, "n2") {
			t.Fatalf("balance change %+v", c)
		}
	}
}

// TestPlacementGrowsAndConverges: partitions placed on one node grow to RF
// as nodes join, then converge on the ring's choice with single moves.
func TestPlacementGrowsAndConverges(t *testing.T) {
	p := openTestPlacement(t, t.TempDir(), Policy{ReplicationFactor: 3, ReplaceAfter: time.Hour, MaxMoves: 50})
	desc := testRing(1, nil, t0)
	keys := testKeys(200)
	if _, err := p.Ensure(desc, keys, t0); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		addNode(desc, id, "", t0)
	}
	placer := NewPlacer(desc, false, nil)
	for round := 0; ; round++ {
		if round > 50 {
			t.Fatal("placement did not converge in 50 rounds")
		}
		changes, err := p.Rebalance(desc, t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			if d := len(c.After) - len(c.Before); d != 1 && d != 0 {
				t.Fatalf("%+v: more than one membership change", c)
			}
		}
		if len(changes) == 0 {
			break
		}
	}
	for _, k := range keys {
		a, _ := p.Get(k)
		if want := placer.Place(k.Token(), 3, nil); !slices.Equal(slices.Sorted(slices.Values(a.Replicas)), slices.Sorted(slices.Values(want))) {
			t.Fatalf("%s: %v, ring chooses %v", k, a.Replicas, want)
		}
	}
}

func TestPlacementCorruption(t *testing.T) {
	dir := t.TempDir()
	p := openTestPlacement(t, dir, testPolicy)
	if _, err := p.Ensure(testRing(3, nil, t0), testKeys(5), t0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, PlacementFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"truncated":  good[:len(good)/2],
		"bit flip":   []byte(string(good[:len(good)-20]) + "X" + string(good[len(good)-19:])),
		"replica":    []byte(replaceOnce(string(good), `"n`, `"m`)),
		"version":    []byte(replaceOnce(string(good), `"version": 1`, `"version": 2`)),
		"empty file": {},
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenPlacement(segments.OSFS, dir, testPolicy, time.Minute, slog.Default())
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Path != path {
				t.Fatalf("open: %v, want a CorruptionError naming %s", err, path)
			}
		})
	}
}

func replaceOnce(s, old, new string) string { return strings.Replace(s, old, new, 1) }

func TestEnsureWithoutInstances(t *testing.T) {
	p := openTestPlacement(t, t.TempDir(), testPolicy)
	if _, err := p.Ensure(ring.NewDesc(), testKeys(1), t0); !errors.Is(err, ErrNoInstances) {
		t.Fatalf("empty ring: %v, want ErrNoInstances", err)
	}
}

func FuzzDecodePlacement(f *testing.F) {
	good, _ := encodePlacement([]Assignment{{Key: PartitionKey{Tenant: "a", Topic: "logs", Partition: 3}, Replicas: []string{"x", "y"}, Epoch: 2}})
	f.Add(good)
	f.Add([]byte(`{"version":1,"crc32c":0,"assignments":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		list, err := decodePlacement(data)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to something that decodes the same.
		again, err := encodePlacement(list)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodePlacement(again)
		if err != nil || len(back) != len(list) {
			t.Fatalf("round trip: %v (%d vs %d)", err, len(back), len(list))
		}
	})
}
