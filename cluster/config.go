package cluster

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/grafana/dskit/flagext"
	"github.com/grafana/dskit/kv/memberlist"
)

// Default ports, from DESIGN.md.
const (
	DefaultGossipPort   = 7946
	DefaultInternalPort = 9095
)

// Config is this node's place in the cluster: its identity in the ring and
// how placement picks replicas. Cluster mode is off by default: a node
// without -cluster.enabled (or -memberlist.join) runs alone and opens no
// cluster port.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// InstanceID names the node in the ring; it must survive restarts, since
	// the node's tokens and placement are recorded under it.
	InstanceID string `yaml:"instance_id"`
	// InstanceAddr and InstancePort are the internal (replication) address
	// peers reach this node at; the ring records them.
	InstanceAddr string `yaml:"instance_addr"`
	InstancePort int    `yaml:"instance_port"`
	// ListenAddress is where the internal transport listens, when it differs
	// from the address peers reach (NAT, a proxy in front).
	ListenAddress     string        `yaml:"listen_address"`
	Zone              string        `yaml:"zone"`
	NumTokens         int           `yaml:"num_tokens"`
	HeartbeatPeriod   time.Duration `yaml:"heartbeat_period"`
	HeartbeatTimeout  time.Duration `yaml:"heartbeat_timeout"`
	ReplicationFactor int           `yaml:"replication_factor"`
	ZoneAwareness     bool          `yaml:"zone_awareness_enabled"`
	// ReplaceAfter is how long a replica's node may be unhealthy (or gone
	// from the ring) before placement replaces it; shorter absences, such as
	// a restart or gossip jitter, never move a partition.
	ReplaceAfter time.Duration `yaml:"replace_after"`
	// Raft tunes the partitions' raft groups.
	Raft RaftConfig `yaml:"raft"`
}

// RegisterFlags registers the -cluster.* flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.BoolVar(&c.Enabled, "cluster.enabled", false,
		"Run as a member of a cluster (memberlist gossip and the ring). Implied by -memberlist.join.")
	f.StringVar(&c.InstanceID, "cluster.instance-id", "",
		"This node's name in the ring; must be unique and stable across restarts (default: the hostname).")
	f.StringVar(&c.InstanceAddr, "cluster.instance-addr", "",
		"Host or IP peers reach this node at (default: -memberlist.advertise-addr, else the first private address of eth0/en0).")
	f.IntVar(&c.InstancePort, "cluster.instance-port", DefaultInternalPort,
		"Port of this node's internal replication traffic, as recorded in the ring.")
	f.StringVar(&c.ListenAddress, "cluster.listen-address", "",
		"host:port the internal replication transport listens on (default: -cluster.instance-addr and -cluster.instance-port).")
	f.StringVar(&c.Zone, "cluster.zone", "", "Availability zone of this node (used by zone-aware placement).")
	f.IntVar(&c.NumTokens, "cluster.num-tokens", 128, "Number of tokens this node owns in the ring.")
	f.DurationVar(&c.HeartbeatPeriod, "cluster.heartbeat-period", 5*time.Second, "How often this node heartbeats in the ring.")
	f.DurationVar(&c.HeartbeatTimeout, "cluster.heartbeat-timeout", time.Minute,
		"A node whose last heartbeat is older is unhealthy.")
	f.IntVar(&c.ReplicationFactor, "cluster.replication-factor", 3,
		"Replicas of each partition (capped at the number of nodes).")
	f.BoolVar(&c.ZoneAwareness, "cluster.zone-awareness-enabled", false,
		"Place the replicas of a partition in distinct zones.")
	f.DurationVar(&c.ReplaceAfter, "cluster.replace-after", 10*time.Minute,
		"How long a replica's node may be unhealthy or gone before its partitions are placed on another node.")
	c.Raft.RegisterFlags(f)
}

// Validate reports the first invalid cluster setting.
func (c *Config) Validate() error {
	switch {
	case c.InstancePort < 0 || c.InstancePort > 65535:
		return fmt.Errorf("cluster.instance-port must be 0 to 65535, got %d", c.InstancePort)
	case c.NumTokens < 1:
		return errors.New("cluster.num-tokens must be positive")
	case c.HeartbeatPeriod <= 0:
		return errors.New("cluster.heartbeat-period must be positive")
	case c.HeartbeatTimeout <= c.HeartbeatPeriod:
		return errors.New("cluster.heartbeat-timeout must be longer than cluster.heartbeat-period")
	case c.ReplicationFactor < 1:
		return errors.New("cluster.replication-factor must be at least 1")
	case c.ReplaceAfter < c.HeartbeatTimeout:
		return errors.New("cluster.replace-after must be at least cluster.heartbeat-timeout")
	case c.ZoneAwareness && c.Enabled && c.Zone == "":
		return errors.New("cluster.zone-awareness-enabled needs cluster.zone on every node")
	case c.Enabled && c.InstancePort == 0:
		return errors.New("cluster.instance-port must be set in cluster mode: peers find it in the ring")
	}
	return c.Raft.Validate()
}

// MemberlistConfig is the gossip layer: the subset of dskit's memberlist KV
// settings an operator tunes, under Loki's names. Everything else keeps
// dskit's defaults.
type MemberlistConfig struct {
	NodeName      string                      `yaml:"node_name"`
	JoinMembers   flagext.StringSliceCSVMulti `yaml:"join_members"`
	BindAddrs     flagext.StringSlice         `yaml:"bind_addr"`
	BindPort      int                         `yaml:"bind_port"`
	AdvertiseAddr string                      `yaml:"advertise_addr"`
	AdvertisePort int                         `yaml:"advertise_port"`
	ClusterLabel  string                      `yaml:"cluster_label"`
	// LeftTimeout is how long a node that left stays in the ring (as LEFT).
	LeftTimeout  time.Duration `yaml:"left_ingesters_timeout"`
	LeaveTimeout time.Duration `yaml:"leave_timeout"`
	// GossipInterval and PushPullInterval trade convergence speed for traffic.
	GossipInterval   time.Duration `yaml:"gossip_interval"`
	PushPullInterval time.Duration `yaml:"pull_push_interval"`
}

// RegisterFlags registers the -memberlist.* flags.
func (c *MemberlistConfig) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.NodeName, "memberlist.nodename", "", "Name of this node in gossip (default: the cluster instance ID).")
	f.Var(&c.JoinMembers, "memberlist.join",
		"Members to join: host, host:port or dns+host:port (e.g. a Kubernetes headless Service). Repeatable or comma-separated. Enables cluster mode.")
	f.Var(&c.BindAddrs, "memberlist.bind-addr", "IP address to listen on for gossip; repeatable (default 0.0.0.0).")
	f.IntVar(&c.BindPort, "memberlist.bind-port", DefaultGossipPort, "Port to listen on for gossip (0 picks a free port).")
	f.StringVar(&c.AdvertiseAddr, "memberlist.advertise-addr", "", "Gossip address to advertise to other members (for NAT).")
	f.IntVar(&c.AdvertisePort, "memberlist.advertise-port", 0, "Gossip port to advertise to other members, with -memberlist.advertise-addr (default: the bind port).")
	f.StringVar(&c.ClusterLabel, "memberlist.cluster-label", "",
		"Label carried by every gossip message; nodes with another label are ignored, so two clusters on one network never merge.")
	f.DurationVar(&c.LeftTimeout, "memberlist.left-ingesters-timeout", 5*time.Minute, "How long a node that left stays in the ring as LEFT.")
	f.DurationVar(&c.LeaveTimeout, "memberlist.leave-timeout", 20*time.Second, "How long leaving the gossip cluster may take at shutdown.")
	f.DurationVar(&c.GossipInterval, "memberlist.gossip-interval", 200*time.Millisecond, "How often to gossip.")
	f.DurationVar(&c.PushPullInterval, "memberlist.pull-push-interval", 30*time.Second, "How often to exchange full state with a random member.")
}

// Validate reports the first invalid memberlist setting.
func (c *MemberlistConfig) Validate() error {
	switch {
	case c.BindPort < 0 || c.BindPort > 65535:
		return fmt.Errorf("memberlist.bind-port must be 0 to 65535, got %d", c.BindPort)
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return fmt.Errorf("memberlist.advertise-port must be 0 to 65535, got %d", c.AdvertisePort)
	case c.AdvertiseAddr != "" && c.AdvertisePort == 0 && c.BindPort == 0:
		return errors.New("memberlist.advertise-addr with memberlist.bind-port 0 needs memberlist.advertise-port")
	case c.GossipInterval <= 0 || c.PushPullInterval <= 0:
		return errors.New("memberlist.gossip-interval and memberlist.pull-push-interval must be positive")
	}
	return nil
}

// kvConfig builds dskit's memberlist KV configuration: dskit's defaults (as
// its flags register them) overlaid with ours.
func (c *MemberlistConfig) kvConfig(nodeName string) memberlist.KVConfig {
	var kc memberlist.KVConfig
	fs := flag.NewFlagSet("memberlist defaults", flag.ContinueOnError)
	kc.RegisterFlags(fs)
	kc.NodeName = nodeName
	kc.RandomizeNodeName = false
	kc.JoinMembers = c.JoinMembers
	kc.TCPTransport.BindAddrs = c.BindAddrs
	kc.TCPTransport.BindPort = c.BindPort
	kc.AdvertiseAddr = c.AdvertiseAddr
	kc.AdvertisePort = c.AdvertisePort
	if kc.AdvertisePort == 0 {
		kc.AdvertisePort = c.BindPort // used by dskit only with an advertise address
	}
	kc.ClusterLabel = c.ClusterLabel
	kc.LeftIngestersTimeout = c.LeftTimeout
	kc.LeaveTimeout = c.LeaveTimeout
	kc.GossipInterval = c.GossipInterval
	kc.PushPullInterval = c.PushPullInterval
	kc.MinJoinBackoff = 200 * time.Millisecond
	kc.MaxJoinBackoff = 5 * time.Second
	return kc
}

// instanceID is the configured ID or the hostname.
func (c *Config) instanceID() (string, error) {
	if c.InstanceID != "" {
		return c.InstanceID, nil
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "", fmt.Errorf("cluster.instance-id is empty and the hostname is unknown: %v", err)
	}
	return h, nil
}

// joinHostPort is net.JoinHostPort with an int port.
func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
