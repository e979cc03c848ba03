package cluster

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// ErrNotReplica is a write to a partition this node holds no replica of.
var ErrNotReplica = errors.New("this node holds no replica of the partition; send the write to one of its replicas")

// RaftConfig tunes the partitions' raft groups.
type RaftConfig struct {
	Tick          time.Duration `yaml:"tick"`
	ElectionTicks int           `yaml:"election_ticks"`
	// TransferTimeout bounds the leadership handover at shutdown.
	TransferTimeout time.Duration `yaml:"transfer_timeout"`
}

// RegisterFlags registers the -cluster.raft-* flags.
func (c *RaftConfig) RegisterFlags(f *flag.FlagSet) {
	f.DurationVar(&c.Tick, "cluster.raft-tick", 100*time.Millisecond,
		"Raft tick: leaders heartbeat once per tick.")
	f.IntVar(&c.ElectionTicks, "cluster.raft-election-ticks", 10,
		"Ticks without a leader's heartbeat before a follower starts an election (randomised up to twice this).")
	f.DurationVar(&c.TransferTimeout, "cluster.raft-transfer-timeout", 5*time.Second,
		"How long a stopping node waits for each partition it leads to hand leadership to another replica.")
}

// Validate reports the first invalid raft setting.
func (c *RaftConfig) Validate() error {
	switch {
	case c.Tick <= 0:
		return errors.New("cluster.raft-tick must be positive")
	case c.ElectionTicks < 3:
		return errors.New("cluster.raft-election-ticks must be at least 3")
	case c.TransferTimeout < 0:
		return errors.New("cluster.raft-transfer-timeout must not be negative")
	}
	return nil
}

// raftID is an instance's raft node ID: xxhash64 of its instance ID, never 0.
func raftID(instance string) uint64 {
	if id := xxhash.Sum64String(instance); id != 0 {
		return id
	}
	return 1
}

func raftIDs(instances []string) []uint64 {
	ids := make([]uint64, len(instances))
	for i, s := range instances {
		ids[i] = raftID(s)
	}
	slices.Sort(ids)
	return ids
}

// ReplicasConfig wires the partitions' raft groups to the node.
type ReplicasConfig struct {
	Self  string // this node's instance ID
	Raft  RaftConfig
	Store *topics.Store
	FS    segments.FS
	// Voters gives the instances a new group starts with (the partition's
	// placement).
	Voters func(k PartitionKey) ([]string, error)
	// Peers lists the instances of the cluster (the ring's), to find the
	// instance behind a raft ID not seen yet.
	Peers func() []string
	// Send queues a message for a peer (Transport.Send).
	Send func(to string, m GroupMessage) bool
	// Forward hands a write to a peer that holds a replica
	// (Transport.Forward); nil: writes to partitions without a replica here
	// fail with ErrNotReplica.
	Forward func(ctx context.Context, to string, k PartitionKey, batch []byte) (int64, int64, error)
}

// Replicas runs this node's raft groups, one per partition it holds a
// replica of, opened on first use: a write, or a message from a peer.
type Replicas struct {
	services.Service
	cfg     ReplicasConfig
	logger  *slog.Logger
	metrics *raftMetrics
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	groups map[PartitionKey]*replica // guarded by mu
	names  map[uint64]string         // guarded by mu: raft ID to instance ID
}

var _ topics.Replicator = (*Replicas)(nil)

// NewReplicas prepares the raft groups; reg may be nil.
func NewReplicas(cfg ReplicasConfig, logger *slog.Logger, reg prometheus.Registerer) *Replicas {
	m := &Replicas{cfg: cfg, logger: logger, groups: map[PartitionKey]*replica{}, names: map[uint64]string{raftID(cfg.Self): cfg.Self}}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.metrics = newRaftMetrics(reg, m)
	m.Service = services.NewBasicService(nil, m.running, m.stopping).WithName("raft groups")
	return m
}

// Propose implements topics.Replicator.
func (m *Replicas) Propose(ctx context.Context, tenant, topic string, partition int, batch []byte) (topics.ProposalWait, error) {
	k := PartitionKey{Tenant: tenant, Topic: topic, Partition: int32(partition)}
	r, err := m.group(k, forWrite)
	if (errors.Is(err, ErrNotReplica) || errors.Is(err, errNotCreator)) && m.cfg.Forward != nil {
		return m.forward(k, batch)
	}
	if err != nil {
		return nil, err
	}
	wait, err := r.propose(ctx, batch)
	if err != nil {
		return nil, err
	}
	return topics.ProposalWait(wait), nil
}

// forward returns the wait of a write handed to one of k's replicas, trying
// them in turn until one answers or the wait's context ends.
func (m *Replicas) forward(k PartitionKey, batch []byte) (topics.ProposalWait, error) {
	voters, err := m.cfg.Voters(k)
	if err != nil {
		return nil, fmt.Errorf("partition %s: %w", k, err)
	}
	if len(voters) == 0 {
		return nil, fmt.Errorf("partition %s has no replicas", k)
	}
	voters = slices.Sorted(slices.Values(voters)) // the creator first: it may have to start the group
	batch = bytes.Clone(batch)
	m.metrics.forwarded.Inc()
	return func(ctx context.Context) (int64, int64, error) {
		var last error
		for try := 0; ctx.Err() == nil; try++ {
			to := voters[try%len(voters)]
			tctx, cancel := context.WithTimeout(ctx, forwardTryTimeout)
			base, next, err := m.cfg.Forward(tctx, to, k, batch)
			cancel()
			if err == nil {
				return base, next, nil
			}
			last = err
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		return 0, 0, fmt.Errorf("partition %s: forwarded write: %w (last: %v)", k, ErrTimeout, last)
	}, nil
}

// forwardTryTimeout bounds one replica's answer to a forwarded write
// before the next is tried; the leader drops the copy if both arrive.
const forwardTryTimeout = 3 * time.Second

// HandleForward writes a batch forwarded by a node that holds no replica of
// k (the transport's ForwardHandler).
func (m *Replicas) HandleForward(ctx context.Context, k PartitionKey, batch []byte) (int64, int64, error) {
	r, err := m.group(k, forWrite)
	if err != nil {
		return 0, 0, err
	}
	wait, err := r.propose(ctx, batch)
	if err != nil {
		return 0, 0, err
	}
	return wait(ctx)
}

// Deliver steps messages from peer from into their groups (Transport's
// Deliver). Messages for a group this node holds no replica of are dropped.
func (m *Replicas) Deliver(from string, msgs []GroupMessage) {
	for _, gm := range msgs {
		r, err := m.group(gm.Key, forMessage)
		if err != nil {
			m.logger.Debug("drop raft message", "partition", gm.Key.String(), "from", from, "err", err)
			continue
		}
		m.mu.Lock()
		m.names[gm.Msg.GetFrom()] = from
		m.mu.Unlock()
		if err := m.step(r, gm.Msg); err != nil {
			m.logger.Debug("step raft message", "partition", gm.Key.String(), "err", err)
		}
	}
}

// step hands msg to r's raft node. A forwarded proposal waits at most
// proposalStepWait: raft holds proposals back while the group has no
// leader, and the connection's other messages must not wait behind it (the
// proposer proposes again).
func (m *Replicas) step(r *replica, msg *raftpb.Message) error {
	ctx := m.ctx
	if msg.GetType() == raftpb.MessageType_MsgProp {
		if msg = r.filterProposal(msg); msg == nil {
			return nil
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, proposalStepWait)
		defer cancel()
	}
	err := r.node.Step(ctx, msg)
	if err != nil && msg.GetType() == raftpb.MessageType_MsgProp {
		for _, e := range msg.Entries {
			if isBatch(e) {
				r.untake(keyOf(e.Data))
			}
		}
	}
	if errors.Is(err, raft.ErrStopped) || m.ctx.Err() != nil {
		return nil
	}
	return err
}

// proposalStepWait bounds how long a forwarded proposal waits for a leader.
const proposalStepWait = 50 * time.Millisecond

// groupMode says why a group is needed where it does not run yet.
type groupMode int

const (
	// forWrite: a write arrived here. A group that does not exist yet is
	// created by its creator alone (the first of its replicas by ID), with
	// the voters of its placement; other nodes hand the write on.
	forWrite groupMode = iota
	// forMessage: a peer sent a message, so the group exists elsewhere; a
	// new replica starts empty and learns its configuration from the log.
	forMessage
)

// creator is the replica that creates a new group: the first by ID, so
// that nodes agree on it.
func creator(voters []string) string { return slices.Min(voters) }

// group returns k's replica, opening it on first use (see groupMode).
func (m *Replicas) group(k PartitionKey, mode groupMode) (*replica, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.groups[k]; ok {
		if r.removed.Load() {
			return nil, fmt.Errorf("partition %s: %w", k, ErrNotReplica)
		}
		return r, nil
	}
	if m.ctx.Err() != nil {
		return nil, topics.ErrNotRunning
	}
	var bootstrap []string
	_, err := os.Stat(filepath.Join(m.cfg.Store.PartitionDir(k.Tenant, k.Topic, int(k.Partition)), WALFile))
	if errors.Is(err, fs.ErrNotExist) && mode == forWrite {
		voters, err := m.cfg.Voters(k)
		switch {
		case err != nil:
			return nil, fmt.Errorf("partition %s: %w", k, err)
		case !slices.Contains(voters, m.cfg.Self):
			return nil, fmt.Errorf("partition %s (replicas %v): %w", k, voters, ErrNotReplica)
		case creator(voters) != m.cfg.Self:
			return nil, fmt.Errorf("partition %s: %w", k, errNotCreator)
		}
		bootstrap = voters
		m.learnNamesLocked(voters)
	}
	log, err := m.cfg.Store.Partition(k.Tenant, k.Topic, int(k.Partition))
	if err != nil {
		return nil, err
	}
	r, err := openReplica(k, m.cfg.Self, bootstrap, log, m.cfg.FS, m.cfg.Raft, m.logger.With("partition", k.String()))
	if err != nil {
		return nil, err
	}
	r.send, r.metrics = m.send, m.metrics
	m.groups[k] = r
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run(m.ctx, m.cfg.Raft.Tick)
	}()
	return r, nil
}

// learnNamesLocked records the raft IDs of instances. Callers hold mu.
func (m *Replicas) learnNamesLocked(instances []string) {
	for _, v := range instances {
		m.names[raftID(v)] = v
	}
}

// send hands one of r's messages to the transport.
func (m *Replicas) send(r *replica, msg *raftpb.Message) {
	m.mu.Lock()
	to, ok := m.names[msg.GetTo()]
	m.mu.Unlock()
	if !ok && m.cfg.Peers != nil {
		peers := m.cfg.Peers()
		m.mu.Lock()
		m.learnNamesLocked(peers)
		to, ok = m.names[msg.GetTo()]
		m.mu.Unlock()
	}
	if !ok || !m.cfg.Send(to, GroupMessage{Key: r.key, Msg: msg}) {
		r.node.ReportUnreachable(msg.GetTo())
	}
}

// running moves, once a second, the configuration of every group led here
// one step toward its placement.
func (m *Replicas) running(ctx context.Context) error {
	t := time.NewTicker(reconfigureEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.reconfigureAll()
		}
	}
}

// reconfigureEvery is how often leaders compare their groups with placement.
const reconfigureEvery = time.Second

// orphanAfter is how long a replica not placed on this node may go without
// a leader before it stops.
const orphanAfter = 10 * time.Second

func (m *Replicas) reconfigureAll() {
	m.mu.Lock()
	var led, orphans []*replica
	for _, r := range m.groups {
		switch {
		case r.removed.Load():
		case r.isLeader():
			led = append(led, r)
		case r.leaderlessFor() > orphanAfter:
			orphans = append(orphans, r)
		}
	}
	m.mu.Unlock()
	for _, r := range orphans {
		// A replica removed while it was away never hears of it: the
		// group stopped sending to it. One that has had no leader for long
		// and is not placed here any more stops.
		if want, err := m.cfg.Voters(r.key); err == nil && !slices.Contains(want, m.cfg.Self) {
			r.logger.Info("replica has had no leader and is not placed here; it stops", "leaderless", r.leaderlessFor())
			r.removed.Store(true)
		}
	}
	for _, r := range led {
		want, err := m.cfg.Voters(r.key)
		if err != nil || len(want) == 0 {
			continue
		}
		m.mu.Lock()
		m.learnNamesLocked(want)
		m.mu.Unlock()
		if err := r.reconfigure(m.ctx, raftIDs(want)); err != nil {
			r.logger.Warn("raft configuration change", "err", err)
		}
	}
}

// stopping hands leadership of every group this node leads to another
// replica, then stops the groups.
func (m *Replicas) stopping(error) error {
	m.transferLeadership()
	m.cancel()
	m.wg.Wait()
	return nil
}

// transferLeadership asks every group led here to elect another replica and
// waits, up to TransferTimeout, until none is led here.
func (m *Replicas) transferLeadership() {
	m.mu.Lock()
	var led []*replica
	for _, r := range m.groups {
		if r.isLeader() {
			led = append(led, r)
		}
	}
	m.mu.Unlock()
	if len(led) == 0 || m.cfg.Raft.TransferTimeout == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.Raft.TransferTimeout)
	defer cancel()
	// Raft gives a transfer up after an election timeout (its message may
	// be lost): ask again until the deadline.
	retry := time.Duration(m.cfg.Raft.ElectionTicks) * m.cfg.Raft.Tick
	for _, r := range led {
		var asked time.Time
		for r.isLeader() && ctx.Err() == nil {
			if to := r.transferee(); to != 0 && time.Since(asked) > retry {
				r.node.TransferLeadership(ctx, r.id, to)
				asked = time.Now()
			}
			time.Sleep(20 * time.Millisecond)
		}
		if r.isLeader() {
			m.metrics.transfers.WithLabelValues("timeout").Inc()
		} else {
			m.metrics.transfers.WithLabelValues("ok").Inc()
		}
	}
	if ctx.Err() != nil {
		m.logger.Warn("leadership transfer timed out; peers will elect a leader after the election timeout")
	}
}

// GroupStatus is one raft group as seen from this node.
type GroupStatus struct {
	Key       PartitionKey `json:"key"`
	Leader    string       `json:"leader"` // instance ID; empty while unknown
	Term      uint64       `json:"term"`
	Commit    uint64       `json:"commit_index"`
	Applied   uint64       `json:"applied_index"`
	HighWater int64        `json:"high_watermark"`
	LogEnd    int64        `json:"log_end_offset"`
	Role      string       `json:"role"`
}

// Status lists this node's groups, sorted by partition.
func (m *Replicas) Status() []GroupStatus {
	m.mu.Lock()
	list := make([]*replica, 0, len(m.groups))
	for _, r := range m.groups {
		if !r.removed.Load() {
			list = append(list, r)
		}
	}
	names := m.names
	m.mu.Unlock()
	out := make([]GroupStatus, 0, len(list))
	for _, r := range list {
		st := r.node.Status()
		m.mu.Lock()
		lead := names[st.Lead]
		m.mu.Unlock()
		out = append(out, GroupStatus{
			Key: r.key, Leader: lead, Term: st.HardState.GetTerm(), Commit: st.HardState.GetCommit(), Applied: st.Applied,
			HighWater: r.log.NextOffset(), LogEnd: r.log.WrittenEnd(), Role: st.RaftState.String(),
		})
	}
	slices.SortFunc(out, func(a, b GroupStatus) int {
		if keyLess(a.Key, b.Key) {
			return -1
		}
		if keyLess(b.Key, a.Key) {
			return 1
		}
		return 0
	})
	return out
}

// raftMetrics are the raft groups' metrics.
type raftMetrics struct {
	transfers *prometheus.CounterVec
	forwarded prometheus.Counter
	proposals prometheus.Counter
	committed prometheus.Counter
	failures  prometheus.Counter
}

func newRaftMetrics(reg prometheus.Registerer, m *Replicas) *raftMetrics {
	f := promauto.With(reg)
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_raft_groups", Help: "Raft groups (partition replicas) open on this node."},
		func() float64 { m.mu.Lock(); defer m.mu.Unlock(); return float64(len(m.groups)) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_raft_leaders", Help: "Raft groups this node leads."},
		func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			n := 0
			for _, r := range m.groups {
				if r.isLeader() {
					n++
				}
			}
			return float64(n)
		})
	return &raftMetrics{
		transfers: f.NewCounterVec(prometheus.CounterOpts{Name: "silt_raft_leadership_transfers_total",
			Help: "Leaderships handed over by a stopping node, by result (ok, timeout)."}, []string{"result"}),
		forwarded: f.NewCounter(prometheus.CounterOpts{Name: "silt_raft_forwarded_writes_total", Help: "Writes handed to another node because this one holds no replica of the partition."}),
		proposals: f.NewCounter(prometheus.CounterOpts{Name: "silt_raft_proposals_total", Help: "Writes proposed to raft groups on this node."}),
		committed: f.NewCounter(prometheus.CounterOpts{Name: "silt_raft_committed_entries_total", Help: "Raft entries applied as committed on this node."}),
		failures:  f.NewCounter(prometheus.CounterOpts{Name: "silt_raft_group_failures_total", Help: "Raft groups stopped by a storage error."}),
	}
}

// raftLogger sends etcd raft's logs to slog.
type raftLogger struct{ l *slog.Logger }

func (g raftLogger) Debug(v ...any)              { g.l.Debug(fmt.Sprint(v...)) }
func (g raftLogger) Debugf(f string, v ...any)   { g.l.Debug(fmt.Sprintf(f, v...)) }
func (g raftLogger) Info(v ...any)               { g.l.Debug(fmt.Sprint(v...)) }
func (g raftLogger) Infof(f string, v ...any)    { g.l.Debug(fmt.Sprintf(f, v...)) }
func (g raftLogger) Warning(v ...any)            { g.l.Warn(fmt.Sprint(v...)) }
func (g raftLogger) Warningf(f string, v ...any) { g.l.Warn(fmt.Sprintf(f, v...)) }
func (g raftLogger) Error(v ...any)              { g.l.Error(fmt.Sprint(v...)) }
func (g raftLogger) Errorf(f string, v ...any)   { g.l.Error(fmt.Sprintf(f, v...)) }
func (g raftLogger) Fatal(v ...any)              { g.Panic(v...) }
func (g raftLogger) Fatalf(f string, v ...any)   { g.Panicf(f, v...) }
func (g raftLogger) Panic(v ...any)              { panic(fmt.Sprint(v...)) }
func (g raftLogger) Panicf(f string, v ...any)   { panic(fmt.Sprintf(f, v...)) }
