package main

import (
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// clusterJSON is the body of GET /api/v1/cluster: the nodes of the cluster
// and which partitions each leads or follows. Until silt replicates (the
// cluster issue), it is this one node, leader of every partition of the
// requesting tenant's topics.
type clusterJSON struct {
	Mode        string     `json:"mode"` // "single-node"
	AuthEnabled bool       `json:"auth_enabled"`
	Tenant      string     `json:"tenant"`
	Nodes       []nodeJSON `json:"nodes"`
}

type nodeJSON struct {
	ID        string   `json:"id"`
	State     string   `json:"state"` // as dskit's ring: ACTIVE, JOINING, LEAVING, ...
	Zone      string   `json:"zone"`
	Address   string   `json:"address"`
	Heartbeat string   `json:"heartbeat"` // RFC 3339
	Version   string   `json:"version"`
	Leader    []string `json:"leader"`   // "topic/partition"
	Follower  []string `json:"follower"` // "topic/partition"
}

func (a *api) handleCluster(c echo.Context) error {
	tenant := tenantOf(c)
	reg, err := a.store.Registry()
	if err != nil {
		return err
	}
	list, err := reg.List(tenant)
	if err != nil {
		return err
	}
	id, err := os.Hostname()
	if err != nil || id == "" {
		id = "silt"
	}
	addr := a.cfg.Server.HTTPListenAddress
	if a.httpAddr != nil && a.httpAddr() != "" {
		addr = a.httpAddr()
	}
	node := nodeJSON{
		ID: id, State: "ACTIVE", Address: addr, Heartbeat: time.Now().UTC().Format(time.RFC3339),
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
