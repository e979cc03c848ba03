package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/grafana/dskit/modules"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltlog/silt/cluster"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Cluster module names: gossip, the ring client and this node's lifecycler
// start in that order and stop in the reverse one, so that peers see the
// node LEAVING before its gossip stops; placement runs over them.
const (
	moduleMemberlist = "memberlist-kv"
	moduleRing       = "ring"
	moduleLifecycler = "lifecycler"
	modulePlacement  = "placement"
	moduleTransport  = "raft-transport"
	moduleRaft       = "raft-groups"
)

// placementMaxMoves bounds the partitions moved for balance per placement
// round, so a node joining takes partitions gradually.
const placementMaxMoves = 16

// clusterNode is the cluster side of an App: nil in single-node mode.
type clusterNode struct {
	cfg        cluster.Config
	membership *cluster.Membership
	placement  *cluster.Placement
	transport  *cluster.Transport
	replicas   *cluster.Replicas
	store      *topics.Store
	logger     *slog.Logger
}

// newClusterNode prepares membership and opens the recorded placement; it
// returns nil when cluster mode is off.
func newClusterNode(cfg Config, store *topics.Store, logger *slog.Logger, reg prometheus.Registerer) (*clusterNode, error) {
	if !cfg.Cluster.Enabled {
		return nil, nil
	}
	logger = logger.With("component", "cluster")
	m, err := cluster.NewMembership(cfg.Cluster, cfg.Memberlist, cfg.Storage.DataDir, gokitLogger{logger}, reg)
	if err != nil {
		return nil, err
	}
	policy := cluster.Policy{
		ReplicationFactor: cfg.Cluster.ReplicationFactor, ZoneAware: cfg.Cluster.ZoneAwareness,
		ReplaceAfter: cfg.Cluster.ReplaceAfter, MaxMoves: placementMaxMoves,
	}
	p, err := cluster.OpenPlacement(segments.OSFS, filepath.Join(cfg.Storage.DataDir, cluster.Dir), policy, cfg.Cluster.HeartbeatTimeout, logger)
	if err != nil {
		return nil, err
	}
	logger.Info("cluster mode", "instance_id", m.ID(), "addr", m.Addr(), "zone", cfg.Cluster.Zone,
		"join", []string(cfg.Memberlist.JoinMembers))
	c := &clusterNode{cfg: cfg.Cluster, membership: m, placement: p, store: store, logger: logger}
	c.replicas = cluster.NewReplicas(cluster.ReplicasConfig{
		Self: m.ID(), Raft: cfg.Cluster.Raft, Store: store, FS: segments.OSFS,
		Voters: c.voters,
		Peers:  c.peers,
		Send:   func(to string, msg cluster.GroupMessage) bool { return c.transport.Send(to, msg) },
		Forward: func(ctx context.Context, to string, k cluster.PartitionKey, batch []byte) (int64, int64, error) {
			return c.transport.Forward(ctx, to, k, batch)
		},
	}, logger.With("component", "raft"), reg)
	listen := cfg.Cluster.ListenAddress
	if listen == "" {
		listen = m.Addr()
	}
	c.transport = cluster.NewTransport(cluster.TransportConfig{
		Self: m.ID(), ClusterLabel: cfg.Memberlist.ClusterLabel, ListenAddr: listen,
		Resolve: c.resolve, Deliver: c.replicas.Deliver, HandleForward: c.replicas.HandleForward,
	}, logger.With("component", "raft-transport"))
	store.SetReplicator(c.replicas)
	return c, nil
}

// voters is the placement of a partition: the replicas its raft group
// starts with.
func (c *clusterNode) voters(k cluster.PartitionKey) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	desc, err := c.membership.Desc(ctx)
	if err != nil {
		return nil, err
	}
	list, err := c.placement.Ensure(desc, []cluster.PartitionKey{k}, time.Now())
	if err != nil {
		return nil, err
	}
	for _, a := range list {
		if a.Key == k {
			return a.Replicas, nil
		}
	}
	return nil, fmt.Errorf("partition %s has no placement", k)
}

// peers lists the ring's instances.
func (c *clusterNode) peers() []string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	desc, err := c.membership.Desc(ctx)
	if err != nil {
		return nil
	}
	return slices.Collect(maps.Keys(desc.Ingesters))
}

// resolve gives a node's internal address from the ring.
func (c *clusterNode) resolve(id string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	desc, err := c.membership.Desc(ctx)
	if err != nil {
		return "", false
	}
	inst, ok := desc.Ingesters[id]
	return inst.Addr, ok && inst.Addr != ""
}

// registerModules adds the cluster modules; in single-node mode they have
// no service. It returns the modules the all-in-one target needs.
func (c *clusterNode) registerModules(mm *modules.Manager) (map[string][]string, []string) {
	none := func() (services.Service, error) { return nil, nil }
	if c == nil {
		for _, name := range []string{moduleMemberlist, moduleRing, moduleLifecycler, modulePlacement, moduleTransport, moduleRaft} {
			mm.RegisterModule(name, none)
		}
		return nil, nil
	}
	mm.RegisterModule(moduleMemberlist, func() (services.Service, error) { return c.membership.KVService(), nil })
	mm.RegisterModule(moduleRing, c.membership.RingService)
	mm.RegisterModule(moduleLifecycler, c.membership.LifecyclerService)
	mm.RegisterModule(modulePlacement, func() (services.Service, error) {
		return services.NewTimerService(c.cfg.HeartbeatPeriod, nil, c.placementRound, nil).WithName("placement"), nil
	})
	mm.RegisterModule(moduleTransport, func() (services.Service, error) { return c.transport, nil })
	mm.RegisterModule(moduleRaft, func() (services.Service, error) { return c.replicas, nil })
	deps := map[string][]string{
		moduleRing:       {moduleMemberlist},
		moduleLifecycler: {moduleRing},
		modulePlacement:  {moduleLifecycler, moduleStore},
		moduleTransport:  {moduleStore},
		// The groups stop first, handing over leadership while the transport
		// and the ring still run.
		moduleRaft: {moduleTransport, moduleLifecycler, moduleStore},
	}
	return deps, []string{moduleLifecycler, modulePlacement, moduleRaft}
}

// placementRound places new partitions and takes one rebalancing step. Its
// errors are logged, not fatal: the next round retries.
func (c *clusterNode) placementRound(ctx context.Context) error {
	desc, err := c.membership.Desc(ctx)
	if err != nil {
		c.logger.Warn("placement round", "err", err)
		return nil
	}
	now := time.Now()
	reg, err := c.store.Registry()
	if err != nil {
		return nil // the store is stopping
	}
	for _, tenant := range reg.Tenants() {
		keys, err := partitionKeys(reg, tenant)
		if err == nil {
			_, err = c.placement.Ensure(desc, keys, now)
		}
		if err != nil && !errors.Is(err, cluster.ErrNoInstances) {
			c.logger.Warn("place partitions", "tenant", tenant, "err", err)
		}
	}
	if _, err := c.placement.Rebalance(desc, now); err != nil {
		c.logger.Warn("rebalance partitions", "err", err)
	}
	return nil
}

// partitionKeys lists every partition of tenant's topics.
func partitionKeys(reg *topics.Registry, tenant string) ([]cluster.PartitionKey, error) {
	list, err := reg.List(tenant)
	if err != nil {
		return nil, fmt.Errorf("list topics of %s: %w", tenant, err)
	}
	var keys []cluster.PartitionKey
	for _, t := range list {
		for p := 0; p < t.Partitions; p++ {
			keys = append(keys, cluster.PartitionKey{Tenant: tenant, Topic: t.Name, Partition: int32(p)})
		}
	}
	return keys, nil
}
