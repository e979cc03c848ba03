package cluster

import (
	"context"
	"maps"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
)

// reconfigure takes one step from the group's configuration toward want
// (raft IDs), one membership change at a time, so that a quorum of the old
// configuration is always one of the new: a missing replica is added as a
// learner; a learner that has caught up is promoted; then a voter that is
// not wanted is removed (the leader hands leadership over before it would
// remove itself). Raft refuses a change while the last one is not applied,
// so calling it again before then does nothing.
func (r *replica) reconfigure(ctx context.Context, want []uint64) error {
	st := r.node.Status()
	voters := st.Config.Voters[0]
	if len(st.Config.Voters[1]) > 0 || st.RaftState.String() != "StateLeader" {
		return nil // a joint configuration is being left, or leadership moved
	}
	learners := st.Config.Learners
	wanted := map[uint64]bool{}
	for _, id := range want {
		wanted[id] = true
	}
	change := func(t raftpb.ConfChangeType, id uint64) error {
		r.logger.Info("propose raft configuration change", "change", t.String(), "node", id)
		return r.node.ProposeConfChange(ctx, &raftpb.ConfChange{Type: t.Enum(), NodeId: new(id)})
	}
	for _, id := range want {
		_, isVoter := voters[id]
		_, isLearner := learners[id]
		if !isVoter && !isLearner {
			return change(raftpb.ConfChangeType_ConfChangeAddLearnerNode, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(learners)) {
		if !wanted[id] {
			return change(raftpb.ConfChangeType_ConfChangeRemoveNode, id)
		}
		if pr, ok := st.Progress[id]; ok && pr.Match >= st.HardState.GetCommit() {
			return change(raftpb.ConfChangeType_ConfChangeAddNode, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(voters)) {
		if wanted[id] || len(voters) <= 1 {
			continue
		}
		if id == r.id {
			if to := r.transferee(); to != 0 && wanted[to] {
				r.node.TransferLeadership(ctx, r.id, to)
			}
			return nil
		}
		return change(raftpb.ConfChangeType_ConfChangeRemoveNode, id)
	}
	return nil
}
