package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// checkMemberLocked checks a request's member and generation.
func (g *group) checkMemberLocked(memberID string, generation int32) (*member, int16) {
	m := g.mu.members[memberID]
	switch {
	case m == nil:
		return nil, kerr.UnknownMemberID.Code
	case generation != g.mu.generation:
		return m, kerr.IllegalGeneration.Code
	}
	return m, 0
}

// sync answers a SyncGroup at once or through the returned channel. The
// leader's assignments complete the rebalance.
func (g *group) sync(req *kmsg.SyncGroupRequest, now time.Time) (syncResult, <-chan syncResult) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, code := g.checkMemberLocked(req.MemberID, req.Generation)
	if code != 0 {
		return syncResult{code: code}, nil
	}
	if (req.ProtocolType != nil && *req.ProtocolType != g.mu.protocolType) ||
		(req.Protocol != nil && *req.Protocol != g.mu.protocol) {
		return syncResult{code: kerr.InconsistentGroupProtocol.Code}, nil
	}
	m.lastSeen = now
	switch g.mu.state {
	case groupPreparingRebalance:
		return syncResult{code: kerr.RebalanceInProgress.Code}, nil
	case groupStable:
		return syncResult{assignment: m.assignment}, nil
	case groupEmpty:
		return syncResult{code: kerr.UnknownMemberID.Code}, nil
	}
	if m.syncWait != nil {
		m.syncWait <- syncResult{code: kerr.RebalanceInProgress.Code}
	}
	m.syncWait = make(chan syncResult, 1)
	ch := m.syncWait
	if m.id == g.mu.leader {
		for _, a := range req.GroupAssignment {
			if to := g.mu.members[a.MemberID]; to != nil {
				to.assignment = append([]byte(nil), a.MemberAssignment...)
			}
		}
		g.mu.state = groupStable
		for _, to := range g.mu.members {
			if to.syncWait != nil {
				to.syncWait <- syncResult{assignment: to.assignment}
				to.syncWait = nil
			}
		}
	}
	return syncResult{}, ch
}

// heartbeat answers a Heartbeat and keeps the member's session alive.
func (g *group) heartbeat(memberID string, generation int32, now time.Time) int16 {
	g.mu.Lock()
	defer g.mu.Unlock()
	m, code := g.checkMemberLocked(memberID, generation)
	if m != nil {
		m.lastSeen = now
	}
	if code != 0 {
		return code
	}
	if g.mu.state == groupPreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// leave removes members by member id, or (when id is empty) by instance id,
// and starts a rebalance; it returns each one's error code.
func (g *group) leave(members []kmsg.LeaveGroupRequestMember, now time.Time) []int16 {
	g.mu.Lock()
	defer g.mu.Unlock()
	codes := make([]int16, len(members))
	removed := false
	for i, lm := range members {
		id := lm.MemberID
		if id == "" && lm.InstanceID != nil {
			for _, m := range g.mu.members {
				if m.instanceID != nil && *m.instanceID == *lm.InstanceID {
					id = m.id
				}
			}
		}
		if g.mu.members[id] == nil {
			codes[i] = kerr.UnknownMemberID.Code
			continue
		}
		g.removeMemberLocked(id)
		removed = true
	}
	if removed {
		if g.mu.state != groupPreparingRebalance {
			g.prepareRebalanceLocked(now)
		}
		g.maybeCompleteJoinLocked(now)
	}
	return codes
}

// commitCheck says whether a member may commit offsets (Kafka's rules): a
// group without members takes simple commits (generation < 0); members
// commit with their current generation, except while the group waits for
// the leader's assignments.
func (g *group) commitCheck(memberID string, generation int32, now time.Time) int16 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if generation < 0 && len(g.mu.members) == 0 {
		return 0
	}
	m, code := g.checkMemberLocked(memberID, generation)
	if m != nil {
		m.lastSeen = now
	}
	switch {
	case code != 0:
		return code
	case g.mu.state == groupCompletingRebalance:
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// describe fills a DescribeGroups entry.
func (g *group) describe(d *kmsg.DescribeGroupsResponseGroup) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d.State, d.ProtocolType, d.Protocol = g.mu.state.String(), g.mu.protocolType, g.mu.protocol
	for _, m := range g.orderedLocked() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.host
		for _, p := range m.protocols {
			if p.Name == g.mu.protocol {
				dm.ProtocolMetadata = p.Metadata
			}
		}
		dm.MemberAssignment = m.assignment
		d.Members = append(d.Members, dm)
	}
}

// summary returns the group's state and protocol type.
func (g *group) summary() (groupState, string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.mu.state, g.mu.protocolType, len(g.mu.members)
}
