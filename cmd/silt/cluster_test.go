package main

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

func TestConfigCluster(t *testing.T) {
	sa, err := parseServerArgs(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if sa.cfg.Cluster.Enabled || sa.cfg.Memberlist.BindPort != 7946 || sa.cfg.Cluster.InstancePort != 9095 {
		t.Errorf("defaults: cluster %+v, memberlist %+v", sa.cfg.Cluster, sa.cfg.Memberlist)
	}
	sa, err = parseServerArgs([]string{"-memberlist.join=a:7946,b:7946"}, io.Discard)
	if err != nil || !sa.cfg.Cluster.Enabled || len(sa.cfg.Memberlist.JoinMembers) != 2 {
		t.Errorf("-memberlist.join: %v %+v", err, sa.cfg)
	}
	yamlFile := writeFile(t, `
cluster:
  instance_id: silt-0
  zone: eu-1a
  zone_awareness_enabled: true
memberlist:
  join_members: [dns+silt-gossip:7946]
  cluster_label: prod
`)
	sa, err = parseServerArgs([]string{"-config.file", yamlFile}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := sa.cfg
	if !c.Cluster.Enabled || c.Cluster.InstanceID != "silt-0" || c.Cluster.Zone != "eu-1a" || c.Memberlist.ClusterLabel != "prod" ||
		len(c.Memberlist.JoinMembers) != 1 {
		t.Errorf("yaml: %+v %+v", c.Cluster, c.Memberlist)
	}
	for args, wantErr := range map[string]string{
		"-cluster.enabled -cluster.zone-awareness-enabled": "needs cluster.zone",
		"-cluster.replication-factor=0":                    "replication-factor",
		"-memberlist.bind-port=70000":                      "bind-port",
		"-cluster.heartbeat-timeout=1s":                    "heartbeat-timeout",
	} {
		if _, err := parseServerArgs(strings.Fields(args), io.Discard); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v, want %q", args, err, wantErr)
		}
	}
}

// startClusterNode runs an in-process node with gossip on a free port.
func startClusterNode(t *testing.T, id string, join string) *testServer {
	t.Helper()
	args := []string{"-cluster.enabled", "-cluster.instance-id=" + id, "-cluster.instance-addr=127.0.0.1",
		"-cluster.instance-port=" + strconv.Itoa(testtool.FreePort(t)),
		"-cluster.heartbeat-period=200ms", "-memberlist.bind-addr=127.0.0.1", "-memberlist.bind-port=0",
		"-memberlist.leave-timeout=2s"}
	if join != "" {
		args = append(args, "-memberlist.join="+join)
	}
	return startServer(t, args...)
}

// TestClusterInProcess: three nodes form one ring; /api/v1/cluster on any
// of them lists the three with their tokens and places every partition on
// three replicas with one leader; the status pages and `silt cluster status`
// work; a node that stops leaves the others' view.
func TestClusterInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: three gossiping nodes")
	}
	a := startClusterNode(t, "a", "")
	seed, err := a.app.cluster.membership.GossipAddr()
	if err != nil {
		t.Fatal(err)
	}
	b := startClusterNode(t, "b", seed)
	c := startClusterNode(t, "c", seed)
	var st clusterJSON
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Partitions placed before every node joined grow to three
		// replicas at the next placement rounds.
		b.getJSON(t, "/api/v1/cluster", &st)
		if len(st.Nodes) == 3 && replicaCount(st) == 3*8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b sees %d nodes: %+v", len(st.Nodes), st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st.Mode != "cluster" || st.Self != "b" || st.Tenant != "fake" {
		t.Errorf("status: %+v", st)
	}
	leaders, replicas := map[string]int{}, map[string]int{}
	for i, n := range st.Nodes {
		if want := []string{"a", "b", "c"}[i]; n.ID != want || n.State != "ACTIVE" || !n.Healthy || n.Tokens != 128 ||
			!strings.HasPrefix(n.Address, "127.0.0.1:") {
			t.Errorf("node %d: %+v", i, n)
		}
		if _, err := time.Parse(time.RFC3339, n.Heartbeat); err != nil {
			t.Errorf("heartbeat %q: %v", n.Heartbeat, err)
		}
		for _, p := range n.Leader {
			leaders[p]++
			replicas[p]++
		}
		for _, p := range n.Follower {
			replicas[p]++
		}
	}
	if len(leaders) != 8 { // 4 partitions of logs, 4 of metrics
		t.Errorf("%d partitions with a leader, want 8: %v", len(leaders), leaders)
	}
	for p, n := range replicas {
		if n != 3 || leaders[p] != 1 {
			t.Errorf("partition %s: %d replicas, %d leaders; want 3 and 1", p, n, leaders[p])
		}
	}
	for path, want := range map[string]string{"/ring": "Ring Status", "/memberlist": "Memberlist"} {
		if code, body := a.do(t, http.MethodGet, path, "", ""); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %.200q", path, code, body)
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"cluster", "status", "-addr", c.url}, nil, &out, &errOut); code != 0 {
		t.Fatalf("silt cluster status: %d %s", code, errOut.String())
	}
	for _, w := range []string{"mode: cluster, 3 node(s)", "c (this)", "ACTIVE", "128"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("silt cluster status lacks %q:\n%s", w, out.String())
		}
	}

	// c stops cleanly: it leaves a's view long before a heartbeat timeout.
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for a.getJSON(t, "/api/v1/cluster", &st); len(st.Nodes) != 2; a.getJSON(t, "/api/v1/cluster", &st) {
		if time.Now().After(deadline) {
			t.Fatalf("a still sees %d nodes after c stopped", len(st.Nodes))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRingPagesSingleNode(t *testing.T) {
	ts := startServer(t)
	for _, path := range []string{"/ring", "/memberlist"} {
		if code, body := ts.do(t, http.MethodGet, path, "", ""); code != http.StatusOK || !strings.Contains(body, "single node") {
			t.Errorf("GET %s: %d %q", path, code, body)
		}
	}
}

func replicaCount(st clusterJSON) int {
	n := 0
	for _, node := range st.Nodes {
		n += len(node.Leader) + len(node.Follower)
	}
	return n
}
