package main

import (
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/cluster"
	"github.com/siltlog/silt/segments/topics"
)

// clusterJSON is the body of GET /api/v1/cluster: the nodes of the cluster
// and which partitions of the requesting tenant's topics each leads or
// follows. A single node ("single-node") leads every partition. In cluster
// mode the nodes are the ring's members as this node sees them, and a
// partition's leader is its raft group's leader when this node holds a
// replica and knows it, else the first replica of its recorded placement.
type clusterJSON struct {
	Mode        string     `json:"mode"` // "single-node" or "cluster"
	AuthEnabled bool       `json:"auth_enabled"`
	Tenant      string     `json:"tenant"`
	Self        string     `json:"self,omitempty"` // this node's ID (cluster mode)
	Nodes       []nodeJSON `json:"nodes"`
}

type nodeJSON struct {
	ID        string   `json:"id"`
	State     string   `json:"state"` // as dskit's ring: ACTIVE, JOINING, LEAVING, ...
	Healthy   bool     `json:"healthy"`
	Zone      string   `json:"zone"`
	Address   string   `json:"address"`   // HTTP address (single node) or ring address (cluster)
	Heartbeat string   `json:"heartbeat"` // RFC 3339
	Tokens    int      `json:"tokens"`    // ring tokens owned (0 for a single node)
	Version   string   `json:"version"`   // this node's only: peers' versions are not gossiped
	Leader    []string `json:"leader"`    // "topic/partition"
	Follower  []string `json:"follower"`  // "topic/partition"
}

func (a *api) handleCluster(c echo.Context) error {
	tenant := tenantOf(c)
	reg, err := a.store.Registry()
	if err != nil {
		return err
	}
	if a.cluster != nil {
		return a.clusterStatus(c, reg, tenant)
	}
	list, err := reg.List(tenant)
	if err != nil {
		return err
	}
	addr := a.cfg.Server.HTTPListenAddress
	if a.httpAddr != nil && a.httpAddr() != "" {
		addr = a.httpAddr()
	}
	node := nodeJSON{
		ID: hostname(), State: "ACTIVE", Healthy: true, Address: addr, Heartbeat: time.Now().UTC().Format(time.RFC3339),
		Version: currentBuildInfo().Version, Leader: []string{}, Follower: []string{},
	}
	if !a.ready() {
		node.State = "JOINING"
	}
	for _, t := range list {
		for p := 0; p < t.Partitions; p++ {
			node.Leader = append(node.Leader, t.Name+"/"+strconv.Itoa(p))
		}
	}
	return c.JSON(http.StatusOK, clusterJSON{
		Mode: "single-node", AuthEnabled: a.cfg.AuthEnabled, Tenant: tenant, Nodes: []nodeJSON{node},
	})
}

// clusterStatus answers /api/v1/cluster from the ring and the placement.
func (a *api) clusterStatus(c echo.Context, reg *topics.Registry, tenant string) error {
	ctx := c.Request().Context()
	members, err := a.cluster.membership.Members(ctx)
	if err != nil {
		return httpErrorf(http.StatusServiceUnavailable, "%v", err)
	}
	keys, err := partitionKeys(reg, tenant)
	if err != nil {
		return err
	}
	desc, err := a.cluster.membership.Desc(ctx)
	if err != nil {
		return httpErrorf(http.StatusServiceUnavailable, "%v", err)
	}
	assignments, err := a.cluster.placement.Ensure(desc, keys, time.Now())
	if err != nil && !errors.Is(err, cluster.ErrNoInstances) {
		return err
	}
	self := a.cluster.membership.ID()
	raftLeader := map[cluster.PartitionKey]string{}
	for _, g := range a.cluster.replicas.Status() {
		if g.Leader != "" {
			raftLeader[g.Key] = g.Leader
		}
	}
	nodes := make([]nodeJSON, 0, len(members))
	index := map[string]int{}
	for _, m := range members {
		n := nodeJSON{
			ID: m.ID, State: m.State, Healthy: m.Healthy, Zone: m.Zone, Address: m.Addr,
			Heartbeat: m.Heartbeat.Format(time.RFC3339), Tokens: m.Tokens, Leader: []string{}, Follower: []string{},
		}
		if m.ID == self {
			n.Version = currentBuildInfo().Version
		}
		index[m.ID] = len(nodes)
		nodes = append(nodes, n)
	}
	for _, as := range assignments {
		part := as.Key.Topic + "/" + strconv.Itoa(int(as.Key.Partition))
		leader, ok := raftLeader[as.Key]
		if !ok {
			leader = as.Leader()
		}
		for _, id := range as.Replicas {
			j, ok := index[id]
			if !ok {
				continue // placed on a node no longer in the ring; placement will replace it
			}
			if id == leader {
				nodes[j].Leader = append(nodes[j].Leader, part)
			} else {
				nodes[j].Follower = append(nodes[j].Follower, part)
			}
		}
	}
	return c.JSON(http.StatusOK, clusterJSON{
		Mode: "cluster", AuthEnabled: a.cfg.AuthEnabled, Tenant: tenant, Self: self, Nodes: nodes,
	})
}

func (a *api) handleRingPage(c echo.Context) error {
	if a.cluster == nil {
		return c.String(http.StatusOK, "silt runs as a single node: there is no ring (start with -cluster.enabled or -memberlist.join).\n")
	}
	a.cluster.membership.RingHandler().ServeHTTP(c.Response(), c.Request())
	return nil
}

func (a *api) handleMemberlistPage(c echo.Context) error {
	if a.cluster == nil {
		return c.String(http.StatusOK, "silt runs as a single node: memberlist is off (start with -cluster.enabled or -memberlist.join).\n")
	}
	a.cluster.membership.MemberlistHandler().ServeHTTP(c.Response(), c.Request())
	return nil
}

// hostname names a single node.
func hostname() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "silt"
}

// partitionsJSON is the body of GET /api/v1/cluster/partitions: this node's
// raft groups of the tenant's partitions, one per partition it holds a
// replica of.
type partitionsJSON struct {
	Self       string                `json:"self"`
	Partitions []cluster.GroupStatus `json:"partitions"`
}

func (a *api) handleClusterPartitions(c echo.Context) error {
	if a.cluster == nil {
		return httpErrorf(http.StatusNotFound, "silt runs as a single node: partitions are not replicated")
	}
	out := partitionsJSON{Self: a.cluster.membership.ID(), Partitions: []cluster.GroupStatus{}}
	for _, g := range a.cluster.replicas.Status() {
		if g.Key.Tenant == tenantOf(c) {
			out.Partitions = append(out.Partitions, g)
		}
	}
	return c.JSON(http.StatusOK, out)
}
