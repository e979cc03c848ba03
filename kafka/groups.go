package kafka

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The group coordinator (classic protocol).
//
// A group moves Empty -> PreparingRebalance -> CompletingRebalance ->
// Stable, as in Kafka. A join, leave or expired session starts a rebalance:
// every known member must rejoin (JoinGroup blocks until then, or until the
// largest rebalance timeout passes; members that did not rejoin are
// removed). The rebalance then completes: the generation increments, a
// protocol all members support is chosen, the leader (kept if still a
// member) receives every member's metadata, and SyncGroup waits for the
// leader's assignments and hands each member its own.
//
// Each group's state sits under its own mutex; a background loop (tick)
// expires sessions and overdue rebalances. Committed offsets are not kept
// here but in the groups.Store (offsets.go).

type groupState int8

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
)

var groupStateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable"}

func (s groupState) String() string { return groupStateNames[s] }

// groupTick is how often sessions and rebalance deadlines are checked.
const groupTick = 100 * time.Millisecond

type coordinator struct {
	mu     sync.Mutex
	groups map[string]*group // guarded by mu; groups are never removed
}

func newCoordinator() *coordinator { return &coordinator{groups: map[string]*group{}} }

// group returns the named group, creating it (Empty) when create is set.
func (co *coordinator) group(name string, create bool) *group {
	co.mu.Lock()
	defer co.mu.Unlock()
	g := co.groups[name]
	if g == nil && create {
		g = &group{name: name}
		g.mu.members = map[string]*member{}
		g.mu.pending = map[string]time.Time{}
		co.groups[name] = g
	}
	return g
}

func (co *coordinator) all() []*group {
	co.mu.Lock()
	defer co.mu.Unlock()
	out := make([]*group, 0, len(co.groups))
	for _, g := range co.groups {
		out = append(out, g)
	}
	return out
}

// tick expires sessions and overdue rebalances of every group.
func (co *coordinator) tick(now time.Time) {
	for _, g := range co.all() {
		g.mu.Lock()
		g.expireLocked(now)
		g.mu.Unlock()
	}
}

type group struct {
	name string

	mu struct {
		sync.Mutex
		state        groupState
		generation   int32
		protocolType string
		protocol     string
		leader       string
		members      map[string]*member
		pending      map[string]time.Time // member ids given with MEMBER_ID_REQUIRED, by expiry
		deadline     time.Time            // of the rebalance in progress
		joinSeq      uint64               // orders members by first join
	}
}

type member struct {
	id               string
	instanceID       *string
	clientID, host   string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocols        []kmsg.JoinGroupRequestProtocol // metadata copied from the request
	assignment       []byte
	lastSeen         time.Time
	seq              uint64
	joinWait         chan joinResult // set while a JoinGroup waits
	syncWait         chan syncResult // set while a SyncGroup waits
}

type joinResult struct {
	code       int16
	generation int32
	protocol   string
	leader     string
	memberID   string
	members    []kmsg.JoinGroupResponseMember // for the leader only
}

type syncResult struct {
	code       int16
	assignment []byte
}

func newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return clientID + "-" + hex.EncodeToString(b[:])
}

// joinRequest is a validated JoinGroup.
type joinRequest struct {
	memberID         string
	instanceID       *string
	clientID, host   string
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	requireKnownID   bool // v4+: a new member first gets MEMBER_ID_REQUIRED
}

// join adds or refreshes a member and starts a rebalance. It returns a
// result at once (errors, MEMBER_ID_REQUIRED) or a channel that receives
// the result when the rebalance completes.
func (g *group) join(r *joinRequest, now time.Time) (joinResult, <-chan joinResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.mu.members) > 0 && (r.protocolType != g.mu.protocolType || !g.supportedLocked(r.protocols)) {
		return joinResult{code: kerr.InconsistentGroupProtocol.Code, generation: -1}, nil
	}
	m := g.mu.members[r.memberID]
	switch {
	case r.memberID == "" && r.requireKnownID:
		id := newMemberID(r.clientID)
		g.mu.pending[id] = now.Add(r.sessionTimeout)
		return joinResult{code: kerr.MemberIDRequired.Code, generation: -1, memberID: id}, nil
	case r.memberID == "":
		r.memberID = newMemberID(r.clientID)
	case m == nil:
		if _, ok := g.mu.pending[r.memberID]; !ok {
			return joinResult{code: kerr.UnknownMemberID.Code, generation: -1, memberID: r.memberID}, nil
		}
		delete(g.mu.pending, r.memberID)
	}
	if m == nil {
		g.mu.joinSeq++
		m = &member{id: r.memberID, seq: g.mu.joinSeq}
		g.mu.members[m.id] = m
	}
	m.instanceID, m.clientID, m.host = r.instanceID, r.clientID, r.host
	m.sessionTimeout, m.rebalanceTimeout = r.sessionTimeout, r.rebalanceTimeout
	m.protocols = r.protocols
	m.lastSeen = now
	if m.joinWait != nil {
		m.joinWait <- joinResult{code: kerr.RebalanceInProgress.Code, generation: -1, memberID: m.id}
	}
	m.joinWait = make(chan joinResult, 1)
	g.mu.protocolType = r.protocolType
	if g.mu.state != groupPreparingRebalance {
		g.prepareRebalanceLocked(now)
	}
	ch := m.joinWait
	g.maybeCompleteJoinLocked(now)
	return joinResult{}, ch
}

// supportedLocked reports whether every member supports one of protocols.
func (g *group) supportedLocked(protocols []kmsg.JoinGroupRequestProtocol) bool {
	for _, p := range protocols {
		if g.allSupportLocked(p.Name) {
			return true
		}
	}
	return false
}

func (g *group) allSupportLocked(name string) bool {
	for _, m := range g.mu.members {
		if !slices.ContainsFunc(m.protocols, func(p kmsg.JoinGroupRequestProtocol) bool { return p.Name == name }) {
			return false
		}
	}
	return true
}

// prepareRebalanceLocked starts a rebalance: members waiting in SyncGroup
// learn of it, every member must rejoin before the deadline.
func (g *group) prepareRebalanceLocked(now time.Time) {
	timeout := time.Duration(0)
	for _, m := range g.mu.members {
		timeout = max(timeout, m.rebalanceTimeout)
		if m.syncWait != nil {
			m.syncWait <- syncResult{code: kerr.RebalanceInProgress.Code}
			m.syncWait = nil
		}
	}
	g.mu.state = groupPreparingRebalance
	g.mu.deadline = now.Add(timeout)
}

// maybeCompleteJoinLocked completes the rebalance once every member (and
// every member id handed out) has joined, or at the deadline.
func (g *group) maybeCompleteJoinLocked(now time.Time) {
	if g.mu.state != groupPreparingRebalance {
		return
	}
	joined := len(g.mu.pending) == 0
	for _, m := range g.mu.members {
		joined = joined && m.joinWait != nil
	}
	if !joined && now.Before(g.mu.deadline) {
		return
	}
	for id, m := range g.mu.members {
		if m.joinWait == nil {
			delete(g.mu.members, id) // did not rejoin in time
		}
	}
	g.mu.generation++
	if len(g.mu.members) == 0 {
		g.mu.state, g.mu.protocol, g.mu.leader = groupEmpty, "", ""
		return
	}
	ordered := g.orderedLocked()
	g.mu.protocol = chooseProtocol(ordered)
	if g.mu.members[g.mu.leader] == nil {
		g.mu.leader = ordered[0].id
	}
	g.mu.state = groupCompletingRebalance
	var all []kmsg.JoinGroupResponseMember
	for _, m := range ordered {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID = m.id, m.instanceID
		for _, p := range m.protocols {
			if p.Name == g.mu.protocol {
				jm.ProtocolMetadata = p.Metadata
			}
		}
		all = append(all, jm)
	}
	for _, m := range ordered {
		res := joinResult{generation: g.mu.generation, protocol: g.mu.protocol, leader: g.mu.leader, memberID: m.id}
		if m.id == g.mu.leader {
			res.members = all
		}
		m.assignment = nil
		m.lastSeen = now
		m.joinWait <- res
		m.joinWait = nil
	}
}

// orderedLocked returns the members in join order.
func (g *group) orderedLocked() []*member {
	out := make([]*member, 0, len(g.mu.members))
	for _, m := range g.mu.members {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *member) int { return int(a.seq) - int(b.seq) })
	return out
}

// chooseProtocol picks, among the protocols every member supports, the one
// most members prefer (each votes for its first supported choice); ties go
// to the earliest member's preference.
func chooseProtocol(members []*member) string {
	var candidates []string
	for _, p := range members[0].protocols {
		ok := true
		for _, m := range members[1:] {
			ok = ok && slices.ContainsFunc(m.protocols, func(q kmsg.JoinGroupRequestProtocol) bool { return q.Name == p.Name })
		}
		if ok {
			candidates = append(candidates, p.Name)
		}
	}
	votes := map[string]int{}
	for _, m := range members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := ""
	for _, c := range candidates {
		if best == "" || votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// expireLocked removes members whose session lapsed and pending member ids
// never used, and completes an overdue rebalance.
func (g *group) expireLocked(now time.Time) {
	removed := false
	for id, m := range g.mu.members {
		if m.joinWait == nil && now.Sub(m.lastSeen) > m.sessionTimeout {
			g.removeMemberLocked(id)
			removed = true
		}
	}
	for id, at := range g.mu.pending {
		if now.After(at) {
			delete(g.mu.pending, id)
		}
	}
	if removed && g.mu.state != groupPreparingRebalance {
		g.prepareRebalanceLocked(now)
	}
	g.maybeCompleteJoinLocked(now)
}

// removeMemberLocked drops a member, answering its waiting requests.
func (g *group) removeMemberLocked(id string) {
	m := g.mu.members[id]
	if m == nil {
		return
	}
	if m.joinWait != nil {
		m.joinWait <- joinResult{code: kerr.UnknownMemberID.Code, generation: -1, memberID: id}
	}
	if m.syncWait != nil {
		m.syncWait <- syncResult{code: kerr.UnknownMemberID.Code}
	}
	delete(g.mu.members, id)
}
