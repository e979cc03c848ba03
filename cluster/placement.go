package cluster

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/grafana/dskit/ring"
)

// PartitionKey names one partition of one tenant's topic: the unit of
// placement and, later, of replication.
type PartitionKey struct {
	Tenant    string `json:"tenant"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

func (k PartitionKey) String() string {
	return k.Tenant + "/" + k.Topic + "/" + strconv.Itoa(int(k.Partition))
}

// Token is the key's position on the ring: xxhash64 of the tenant, topic and
// partition (NUL-separated, the partition big-endian), folded to 32 bits.
// xxhash mixes well, so partitions 0..N of one topic land on unrelated
// tokens rather than on neighbours, as an FNV of a counter would.
func (k PartitionKey) Token() uint32 {
	d := xxhash.New()
	_, _ = d.WriteString(k.Tenant)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(k.Topic)
	var b [5]byte
	binary.BigEndian.PutUint32(b[1:], uint32(k.Partition))
	_, _ = d.Write(b[:])
	h := d.Sum64()
	return uint32(h ^ h>>32)
}

// ringToken is one token of an eligible instance, for the clockwise walk.
type ringToken struct {
	token uint32
	inst  int // index into placer.ids
}

// Placer picks replicas for keys from one snapshot of the ring: walking
// clockwise from the key's token, the first RF distinct instances (in
// distinct zones first, when zone-aware). Only membership counts, never
// heartbeats: an instance is eligible unless it has no tokens, has LEFT, or
// is excluded (gone for longer than -cluster.replace-after).
type Placer struct {
	ids       []string
	zones     []string
	tokens    []ringToken
	numZones  int
	zoneAware bool
}

// NewPlacer snapshots desc. exclude may be nil.
func NewPlacer(desc *ring.Desc, zoneAware bool, exclude func(id string, inst ring.InstanceDesc) bool) *Placer {
	p := &Placer{zoneAware: zoneAware}
	ids := make([]string, 0, len(desc.Ingesters))
	for id, inst := range desc.Ingesters {
		if len(inst.Tokens) == 0 || inst.State == ring.LEFT || (exclude != nil && exclude(id, inst)) {
			continue
		}
		ids = append(ids, id)
	}
	sort.Strings(ids) // ties on a token break the same way on every node
	zones := map[string]bool{}
	for i, id := range ids {
		inst := desc.Ingesters[id]
		p.ids = append(p.ids, id)
		p.zones = append(p.zones, inst.Zone)
		zones[inst.Zone] = true
		for _, t := range inst.Tokens {
			p.tokens = append(p.tokens, ringToken{token: t, inst: i})
		}
	}
	p.numZones = len(zones)
	sort.Slice(p.tokens, func(i, j int) bool {
		a, b := p.tokens[i], p.tokens[j]
		return a.token < b.token || (a.token == b.token && a.inst < b.inst)
	})
	return p
}

// Instances is the number of eligible instances.
func (p *Placer) Instances() int { return len(p.ids) }

// Place returns up to rf instance IDs for token, starting with keep (those
// of keep that are eligible, in their order) and filling from the ring. The
// first replica is the key's preferred leader.
func (p *Placer) Place(token uint32, rf int, keep []string) []string {
	rf = min(rf, len(p.ids))
	out := make([]string, 0, rf)
	usedZones := map[string]bool{}
	for _, id := range keep {
		if i, ok := slices.BinarySearch(p.ids, id); ok && len(out) < rf && !slices.Contains(out, id) {
			out = append(out, id)
			usedZones[p.zones[i]] = true
		}
	}
	if len(out) == rf || len(p.tokens) == 0 {
		return out
	}
	start := sort.Search(len(p.tokens), func(i int) bool { return p.tokens[i].token >= token })
	// Zone-aware: a first lap takes only unused zones; a second lap (fewer
	// zones than replicas) takes whatever is left.
	for lap := 0; lap < 2 && len(out) < rf; lap++ {
		distinctZones := p.zoneAware && lap == 0
		if lap == 1 && !p.zoneAware {
			break
		}
		for n := 0; n < len(p.tokens) && len(out) < rf; n++ {
			t := p.tokens[(start+n)%len(p.tokens)]
			id := p.ids[t.inst]
			if slices.Contains(out, id) || (distinctZones && usedZones[p.zones[t.inst]]) {
				continue
			}
			out = append(out, id)
			usedZones[p.zones[t.inst]] = true
		}
	}
	return out
}

// Assignment is the recorded placement of one partition. Epoch counts its
// changes, so two records of one partition order themselves.
type Assignment struct {
	Key      PartitionKey `json:"key"`
	Replicas []string     `json:"replicas"` // first: preferred leader
	Epoch    uint64       `json:"epoch"`
}

// Leader is the preferred leader, "" without replicas.
func (a Assignment) Leader() string {
	if len(a.Replicas) == 0 {
		return ""
	}
	return a.Replicas[0]
}

// Policy is what placement needs of the cluster configuration.
type Policy struct {
	ReplicationFactor int
	ZoneAware         bool
	// ReplaceAfter: an instance unhealthy (or gone) for longer is replaced.
	ReplaceAfter time.Duration
	// MaxMoves bounds the moves made for balance (not for replacing a gone
	// node) in one Rebalance, so a joining node takes partitions gradually.
	MaxMoves int
}

// goneTracker remembers since when each instance has been unhealthy or
// absent, so that Rebalance acts only after Policy.ReplaceAfter.
type goneTracker struct {
	since map[string]time.Time
}

// update records the current view. An instance is gone from its last
// heartbeat once that is older than heartbeatTimeout or it has LEFT, and
// from the first time this node missed it when it is no longer in the ring
// (a node that left cleanly is removed from it).
func (g *goneTracker) update(desc *ring.Desc, known []string, heartbeatTimeout time.Duration, now time.Time) {
	if g.since == nil {
		g.since = map[string]time.Time{}
	}
	for id, inst := range desc.Ingesters {
		switch {
		case inst.State != ring.LEFT && inst.IsHeartbeatHealthy(heartbeatTimeout, now):
			delete(g.since, id)
		case inst.Timestamp > 0:
			g.since[id] = time.Unix(inst.Timestamp, 0)
		default:
			if _, ok := g.since[id]; !ok {
				g.since[id] = now
			}
		}
	}
	for _, id := range known {
		if _, inRing := desc.Ingesters[id]; inRing {
			continue
		}
		if _, ok := g.since[id]; !ok {
			g.since[id] = now
		}
	}
}

func (g *goneTracker) goneFor(id string, now time.Time, after time.Duration) bool {
	t, ok := g.since[id]
	return ok && now.Sub(t) >= after
}

// nextStep is one membership change toward the wanted replica set: remove a
// replica not wanted (gone ones first), add the first wanted one missing, or
// both (a swap). It returns the new set and whether it changed anything.
func nextStep(cur, want []string, gone func(string) bool) ([]string, bool) {
	var add, remove string
	for _, id := range want {
		if !slices.Contains(cur, id) {
			add = id
			break
		}
	}
	for _, id := range cur {
		if !slices.Contains(want, id) && (remove == "" || gone(id)) {
			remove = id
			if gone(id) {
				break
			}
		}
	}
	if len(cur) < len(want) {
		remove = "" // grow first: never drop below the target on the way
	} else if len(cur) > len(want) {
		add = "" // shrink only
	} else if add == "" || remove == "" {
		return cur, false
	}
	if add == "" && remove == "" {
		return cur, false
	}
	next := make([]string, 0, len(cur)+1)
	for _, id := range cur {
		if id != remove {
			next = append(next, id)
		}
	}
	if add != "" {
		next = append(next, add)
	}
	return next, true
}

// describeChange is a log-friendly "+a -b".
func describeChange(before, after []string) string {
	s := ""
	for _, id := range after {
		if !slices.Contains(before, id) {
			s += " +" + id
		}
	}
	for _, id := range before {
		if !slices.Contains(after, id) {
			s += " -" + id
		}
	}
	return fmt.Sprintf("[%s]", s[min(1, len(s)):])
}
