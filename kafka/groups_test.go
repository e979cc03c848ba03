package kafka

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func testJoin(id string) *joinRequest {
	return &joinRequest{
		memberID: id, clientID: "c", protocolType: "consumer", requireKnownID: true,
		protocols:      []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte(id)}},
		sessionTimeout: time.Second, rebalanceTimeout: 2 * time.Second,
	}
}

// joinNew runs the MEMBER_ID_REQUIRED dance and returns the member id and
// the channel of its join result.
func joinNew(t *testing.T, g *group, now time.Time) (string, <-chan joinResult) {
	t.Helper()
	res, wait := g.join(testJoin(""), now)
	if res.code != kerr.MemberIDRequired.Code || res.memberID == "" || wait != nil {
		t.Fatalf("first join: %+v", res)
	}
	_, wait = g.join(testJoin(res.memberID), now)
	if wait == nil {
		t.Fatal("join with the given member id did not wait for the rebalance")
	}
	return res.memberID, wait
}

func TestGroupRebalanceAndSessionExpiry(t *testing.T) {
	co := newCoordinator()
	g := co.group("g", true)
	now := time.Unix(1000, 0)
	a, waitA := joinNew(t, g, now)
	resA := <-waitA
	if resA.code != 0 || resA.leader != a || len(resA.members) != 1 || resA.generation != 1 {
		t.Fatalf("single member join: %+v", resA)
	}
	// A second member starts a rebalance; A learns it from its heartbeat.
	b, waitB := joinNew(t, g, now)
	if code := g.heartbeat(a, 1, now); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat during rebalance: %d", code)
	}
	select {
	case r := <-waitB:
		t.Fatalf("rebalance completed before A rejoined: %+v", r)
	default:
	}
	_, waitA = g.join(testJoin(a), now)
	resA, resB := <-waitA, <-waitB
	if resA.generation != 2 || resB.generation != 2 || resA.leader != a || len(resA.members) != 2 || len(resB.members) != 0 {
		t.Fatalf("two-member join: A %+v, B %+v", resA, resB)
	}
	// B syncs first and waits for the leader's assignment.
	syncReq := func(id string, assign ...kmsg.SyncGroupRequestGroupAssignment) *kmsg.SyncGroupRequest {
		r := kmsg.NewPtrSyncGroupRequest()
		r.Group, r.MemberID, r.Generation, r.GroupAssignment = "g", id, 2, assign
		return r
	}
	_, syncB := g.sync(syncReq(b), now)
	_, syncA := g.sync(syncReq(a, kmsg.SyncGroupRequestGroupAssignment{MemberID: a, MemberAssignment: []byte("A")},
		kmsg.SyncGroupRequestGroupAssignment{MemberID: b, MemberAssignment: []byte("B")}), now)
	if ra, rb := <-syncA, <-syncB; string(ra.assignment) != "A" || string(rb.assignment) != "B" {
		t.Fatalf("assignments %q / %q", ra.assignment, rb.assignment)
	}
	if code := g.heartbeat(b, 1, now); code != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat with an old generation: %d", code)
	}
	// B stops heartbeating: its session expires and A must rejoin alone.
	later := now.Add(1500 * time.Millisecond)
	if code := g.heartbeat(a, 2, later); code != 0 {
		t.Fatalf("heartbeat: %d", code)
	}
	co.tick(later)
	if state, _, n := g.summary(); state != groupPreparingRebalance || n != 1 {
		t.Fatalf("after B's session expired: state %v, %d members", state, n)
	}
	_, waitA = g.join(testJoin(a), later)
	if r := <-waitA; r.generation != 3 || len(r.members) != 1 {
		t.Fatalf("rejoin after expiry: %+v", r)
	}
	// The last member leaving empties the group.
	if codes := g.leave([]kmsg.LeaveGroupRequestMember{{MemberID: a}, {MemberID: "nobody"}}, later); codes[0] != 0 || codes[1] != kerr.UnknownMemberID.Code {
		t.Fatalf("leave codes %v", codes)
	}
	if state, _, n := g.summary(); state != groupEmpty || n != 0 {
		t.Fatalf("after leave: state %v, %d members", state, n)
	}
}

func TestGroupRebalanceTimeoutDropsSilentMembers(t *testing.T) {
	g := newCoordinator().group("g", true)
	now := time.Unix(1000, 0)
	a, waitA := joinNew(t, g, now)
	<-waitA
	_, waitB := joinNew(t, g, now) // A never rejoins
	g.mu.Lock()
	g.expireLocked(now.Add(3 * time.Second)) // past the rebalance timeout
	g.mu.Unlock()
	r := <-waitB
	if r.code != 0 || r.leader == a || len(r.members) != 1 {
		t.Fatalf("after the rebalance timeout: %+v", r)
	}
}

func TestChooseProtocol(t *testing.T) {
	m := func(names ...string) *member {
		var ps []kmsg.JoinGroupRequestProtocol
		for _, n := range names {
			ps = append(ps, kmsg.JoinGroupRequestProtocol{Name: n})
		}
		return &member{protocols: ps}
	}
	cases := []struct {
		name    string
		members []*member
		want    string
	}{
		{"one member", []*member{m("range", "roundrobin")}, "range"},
		{"only common", []*member{m("sticky", "range"), m("range")}, "range"},
		{"majority", []*member{m("range", "rr"), m("rr", "range"), m("rr", "range")}, "rr"},
	}
	for _, tc := range cases {
		if got := chooseProtocol(tc.members); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
