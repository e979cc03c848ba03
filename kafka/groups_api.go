package kafka

import (
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// coordinatorKeyGroup is FindCoordinator's key type for consumer groups;
// transactions (1) are not coordinated.
const coordinatorKeyGroup = 0

// handleFindCoordinator names this node as every group's coordinator.
// Transaction coordinators are not available: transactions are not
// supported.
func handleFindCoordinator(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	answer := func(key string) (int16, *string, int32, string, int32) {
		if req.CoordinatorType != coordinatorKeyGroup {
			msg := "silt does not coordinate transactions"
			return kerr.CoordinatorNotAvailable.Code, &msg, -1, "", -1
		}
		if key == "" {
			msg := "empty group id"
			return kerr.InvalidGroupID.Code, &msg, -1, "", -1
		}
		return 0, nil, nodeID, c.s.host, c.s.port
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = answer(req.CoordinatorKey)
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key = key
		co.ErrorCode, co.ErrorMessage, co.NodeID, co.Host, co.Port = answer(key)
		resp.Coordinators = append(resp.Coordinators, co)
	}
	return resp
}

func handleJoinGroup(c *conn, rc requestContext, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	resp.Protocol = kmsg.StringPtr("")
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := session
	if req.Version >= 1 {
		rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	switch {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case session < c.s.cfg.GroupMinSessionTimeout || session > c.s.cfg.GroupMaxSessionTimeout:
		resp.ErrorCode = kerr.InvalidSessionTimeout.Code
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	jr := joinRequest{
		memberID: req.MemberID, instanceID: req.InstanceID, clientID: rc.client(), host: c.remoteHost(),
		protocolType: req.ProtocolType, sessionTimeout: session, rebalanceTimeout: max(rebalance, session),
		requireKnownID: req.Version >= 4,
	}
	for _, p := range req.Protocols { // the frame is reused: copy
		jr.protocols = append(jr.protocols, kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: slices.Clone(p.Metadata)})
	}
	res, wait := c.s.coord.group(req.Group, true).join(&jr, time.Now())
	if wait != nil {
		select {
		case res = <-wait:
		case <-c.s.done:
			res = joinResult{code: kerr.CoordinatorNotAvailable.Code, generation: -1}
		}
	}
	resp.ErrorCode, resp.Generation, resp.MemberID = res.code, res.generation, res.memberID
	if res.code == 0 {
		resp.Protocol, resp.ProtocolType = &res.protocol, &req.ProtocolType
		resp.LeaderID, resp.Members = res.leader, res.members
	}
	return resp
}

func (c *conn) remoteHost() string {
	host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String())
	if err != nil {
		return c.nc.RemoteAddr().String()
	}
	return "/" + host
}

func handleSyncGroup(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	g := c.s.coord.group(req.Group, false)
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	res, wait := g.sync(req, time.Now())
	if wait != nil {
		select {
		case res = <-wait:
		case <-c.s.done:
			res = syncResult{code: kerr.CoordinatorNotAvailable.Code}
		}
	}
	resp.ErrorCode, resp.MemberAssignment = res.code, res.assignment
	if res.code == 0 && req.Version >= 5 {
		resp.ProtocolType, resp.Protocol = req.ProtocolType, req.Protocol
	}
	return resp
}

func handleHeartbeat(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if g := c.s.coord.group(req.Group, false); g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
	} else {
		resp.ErrorCode = g.heartbeat(req.MemberID, req.Generation, time.Now())
	}
	return resp
}

func handleLeaveGroup(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	codes := make([]int16, len(members))
	if g := c.s.coord.group(req.Group, false); g != nil {
		codes = g.leave(members, time.Now())
	} else {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
	}
	if req.Version < 3 {
		resp.ErrorCode = codes[0]
		return resp
	}
	for i, m := range members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, codes[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// consumerProtocol is the protocol type of groups that only exist as
// committed offsets: consumers committed them.
const consumerProtocol = "consumer"

func handleListGroups(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	add := func(name string, state groupState, protocolType string) {
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool { return strings.EqualFold(s, state.String()) }) {
			return
		}
		if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(s string) bool { return strings.EqualFold(s, "classic") }) {
			return
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = name, protocolType, state.String(), "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	seen := map[string]bool{}
	for _, g := range c.s.coord.all() {
		state, ptype, _ := g.summary()
		seen[g.name] = true
		add(g.name, state, ptype)
	}
	stored, err := c.s.offsets.Groups(c.s.cfg.Tenant)
	if err != nil {
		resp.ErrorCode = c.offsetsErrorCode(err, "list groups", "")
	}
	for _, name := range stored {
		if !seen[name] {
			add(name, groupEmpty, consumerProtocol)
		}
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

func handleDescribeGroups(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DescribeGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		d := kmsg.NewDescribeGroupsResponseGroup()
		d.Group = name
		d.AuthorizedOperations = math.MinInt32 // not computed
		switch g := c.s.coord.group(name, false); {
		case name == "":
			d.ErrorCode = kerr.InvalidGroupID.Code
		case g != nil:
			g.describe(&d)
		default:
			d.State = "Dead"
			offsets, err := c.s.offsets.Offsets(c.s.cfg.Tenant, name)
			if err != nil {
				d.ErrorCode = c.offsetsErrorCode(err, "describe groups", name)
			} else if len(offsets) > 0 {
				d.State, d.ProtocolType = groupEmpty.String(), consumerProtocol
			}
		}
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}
