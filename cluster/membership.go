package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/go-kit/log"
	"github.com/grafana/dskit/dns"
	"github.com/grafana/dskit/kv"
	"github.com/grafana/dskit/kv/codec"
	"github.com/grafana/dskit/kv/memberlist"
	"github.com/grafana/dskit/netutil"
	"github.com/grafana/dskit/ring"
	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
)

// Membership is this node's membership in the cluster: the memberlist KV
// (gossip), the ring client (everyone's view of the ring) and the lifecycler
// (this node's entry in the ring). They are three services so that they
// start in that order and stop in the reverse one: the lifecycler marks the
// node LEAVING and removes it while the ring client and gossip still run, so
// peers see it go.
type Membership struct {
	cfg     Config
	id      string
	addr    string
	dataDir string
	logger  log.Logger
	reg     prometheus.Registerer

	kvInit          *memberlist.KVInitService
	kvInitBindAddrs []string
	kv              kv.Client
	ring            *ring.Ring
	lifecycler      *ring.BasicLifecycler
}

// NewMembership prepares the services; nothing listens until they start.
func NewMembership(cfg Config, ml MemberlistConfig, dataDir string, logger log.Logger, reg prometheus.Registerer) (*Membership, error) {
	id, err := cfg.instanceID()
	if err != nil {
		return nil, err
	}
	host := cfg.InstanceAddr
	if host == "" {
		host = ml.AdvertiseAddr
	}
	if host == "" && len(ml.BindAddrs) > 0 && ml.BindAddrs[0] != "0.0.0.0" && ml.BindAddrs[0] != "::" {
		host = ml.BindAddrs[0]
	}
	if host == "" {
		ifaces := netutil.PrivateNetworkInterfacesWithFallback([]string{"eth0", "en0"}, logger)
		if host, err = ring.GetInstanceAddr("", ifaces, logger, false); err != nil {
			return nil, fmt.Errorf("cluster: find this node's address (set -cluster.instance-addr): %w", err)
		}
	}
	m := &Membership{
		cfg: cfg, id: id, addr: joinHostPort(host, cfg.InstancePort), dataDir: dataDir,
		logger: logger, reg: reg,
	}
	nodeName := ml.NodeName
	if nodeName == "" {
		nodeName = id
	}
	kc := ml.kvConfig(nodeName)
	kc.MetricsNamespace = "silt"
	kc.Codecs = []codec.Codec{ring.GetCodec()}
	dnsProvider := dns.NewProvider(dns.GolangResolverType, 0, m.logger, prometheus.WrapRegistererWithPrefix("silt_memberlist_", reg))
	m.kvInit = memberlist.NewKVInitService(&kc, m.logger, dnsProvider, reg)
	m.kvInitBindAddrs = ml.BindAddrs
	return m, nil
}

// ID is this node's instance ID in the ring.
func (m *Membership) ID() string { return m.id }

// Addr is this node's internal address as recorded in the ring.
func (m *Membership) Addr() string { return m.addr }

// KVService is the gossip service (first to start, last to stop).
func (m *Membership) KVService() services.Service { return m.kvInit }

// RingService builds the ring client over the memberlist KV; call it after
// KVService, since building the client starts gossip.
func (m *Membership) RingService() (services.Service, error) {
	client, err := kv.NewClient(kv.Config{Store: "memberlist", StoreConfig: kv.StoreConfig{MemberlistKV: m.kvInit.GetMemberlistKV}},
		ring.GetCodec(), kv.RegistererWithKVName(m.reg, ringName+"-ring"), m.logger)
	if err != nil {
		return nil, fmt.Errorf("cluster: ring KV client: %w", err)
	}
	m.kv = client
	rc := ring.Config{
		HeartbeatTimeout:     m.cfg.HeartbeatTimeout,
		ReplicationFactor:    m.cfg.ReplicationFactor,
		ZoneAwarenessEnabled: m.cfg.ZoneAwareness,
		SubringCacheDisabled: true,
	}
	m.ring, err = ring.NewWithStoreClientAndStrategy(rc, ringName, ringKey, client, ring.NewDefaultReplicationStrategy(),
		prometheus.WrapRegistererWithPrefix("silt_", m.reg), m.logger)
	if err != nil {
		return nil, fmt.Errorf("cluster: ring client: %w", err)
	}
	return m.ring, nil
}

// LifecyclerService builds the lifecycler (last to start, first to stop):
// it registers this node ACTIVE with the tokens of its tokens file (new ones
// the first time) and, at shutdown, marks it LEAVING and unregisters it.
func (m *Membership) LifecyclerService() (services.Service, error) {
	if m.kv == nil {
		return nil, fmt.Errorf("cluster: the lifecycler needs the ring service first")
	}
	dir := filepath.Join(m.dataDir, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	lcfg := ring.BasicLifecyclerConfig{
		ID: m.id, Addr: m.addr, Zone: m.cfg.Zone,
		HeartbeatPeriod: m.cfg.HeartbeatPeriod, HeartbeatTimeout: m.cfg.HeartbeatTimeout,
		NumTokens: m.cfg.NumTokens,
	}
	var delegate ring.BasicLifecyclerDelegate = ring.NewInstanceRegisterDelegate(ring.ACTIVE, m.cfg.NumTokens)
	delegate = ring.NewLeaveOnStoppingDelegate(delegate, m.logger)
	delegate = ring.NewTokensPersistencyDelegate(filepath.Join(dir, TokensFile), ring.ACTIVE, delegate, m.logger)
	lc, err := ring.NewBasicLifecycler(lcfg, ringName, ringKey, m.kv, delegate, m.logger, prometheus.WrapRegistererWithPrefix("silt_", m.reg))
	if err != nil {
		return nil, fmt.Errorf("cluster: lifecycler: %w", err)
	}
	m.lifecycler = lc
	return lc, nil
}

// Member is one node of the ring as the status API shows it.
type Member struct {
	ID        string
	State     string // ACTIVE, JOINING, LEAVING, LEFT, PENDING
	Healthy   bool   // heartbeat within -cluster.heartbeat-timeout
	Zone      string
	Addr      string
	Heartbeat time.Time
	Tokens    int
}

// Members lists the ring's nodes sorted by ID, from this node's view.
func (m *Membership) Members(ctx context.Context) ([]Member, error) {
	desc, err := m.Desc(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]Member, 0, len(desc.Ingesters))
	for id, inst := range desc.Ingesters {
		out = append(out, Member{
			ID: id, State: inst.State.String(), Zone: inst.Zone, Addr: inst.Addr,
			Healthy:   inst.IsHeartbeatHealthy(m.cfg.HeartbeatTimeout, now),
			Heartbeat: time.Unix(inst.Timestamp, 0).UTC(), Tokens: len(inst.Tokens),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Desc is a copy of the ring as this node sees it.
func (m *Membership) Desc(ctx context.Context) (*ring.Desc, error) {
	if m.kv == nil {
		return nil, fmt.Errorf("cluster: ring not started")
	}
	v, err := m.kv.Get(ctx, ringKey)
	if err != nil {
		return nil, fmt.Errorf("cluster: read the ring: %w", err)
	}
	return ring.GetOrCreateRingDesc(v), nil
}

// RingHandler serves dskit's ring status page (/ring).
func (m *Membership) RingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.ring == nil {
			http.Error(w, "ring not started", http.StatusServiceUnavailable)
			return
		}
		m.ring.ServeHTTP(w, r)
	})
}

// MemberlistHandler serves dskit's memberlist status page (/memberlist).
func (m *Membership) MemberlistHandler() http.Handler { return m.kvInit }

// GossipAddr is the host:port memberlist listens on, once KVService runs
// (useful with -memberlist.bind-port=0).
func (m *Membership) GossipAddr() (string, error) {
	kv, err := m.kvInit.GetMemberlistKV()
	if err != nil {
		return "", err
	}
	host := "127.0.0.1"
	if len(m.kvInitBindAddrs) > 0 {
		host = m.kvInitBindAddrs[0]
	}
	return joinHostPort(host, kv.GetListeningPort()), nil
}
