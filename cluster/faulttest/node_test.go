package faulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

// node is one silt process of the harness, with its ports, its data
// directory and the proxy in front of its raft port.
type node struct {
	id                        string
	dir                       string
	http, kafka, gossip, raft int
	proxy                     *proxy
	proxyPort                 int
	cmd                       *exec.Cmd
	out                       *testtool.LockedBuffer
	paused                    bool
}

func newNode(t *testing.T, id string) *node {
	n := &node{id: id, dir: t.TempDir(), http: testtool.FreePort(t), kafka: testtool.FreePort(t), gossip: testtool.FreePort(t), raft: testtool.FreePort(t), proxyPort: testtool.FreePort(t)}
	n.proxy = startProxy(t, fmt.Sprintf("127.0.0.1:%d", n.proxyPort), fmt.Sprintf("127.0.0.1:%d", n.raft))
	return n
}

// start runs the node's process, joining gossip through seed.
func (n *node) start(t *testing.T, bin string, seed int) {
	t.Helper()
	args := []string{
		"-storage.data-dir=" + n.dir, "-log.level=" + logLevel(),
		"-server.http-listen-address=127.0.0.1:" + strconv.Itoa(n.http),
		"-kafka.listen-address=127.0.0.1:" + strconv.Itoa(n.kafka),
		"-syslog.listen-address=127.0.0.1:0",
		"-cluster.enabled", "-cluster.instance-id=" + n.id, "-cluster.instance-addr=127.0.0.1",
		"-cluster.instance-port=" + strconv.Itoa(n.proxyPort),
		"-cluster.listen-address=127.0.0.1:" + strconv.Itoa(n.raft),
		"-cluster.heartbeat-period=200ms", "-cluster.raft-tick=50ms",
		"-memberlist.bind-addr=127.0.0.1", "-memberlist.bind-port=" + strconv.Itoa(n.gossip),
		"-memberlist.join=127.0.0.1:" + strconv.Itoa(seed),
		"-topics.builtin-partitions=2", "-search.index.enabled=false", "-metrics.enabled=false",
	}
	if n.out == nil {
		n.out = &testtool.LockedBuffer{} // kept across restarts
	}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Stdout, n.cmd.Stderr = n.out, n.out
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.paused = false
	deadline := time.Now().Add(30 * time.Second)
	for !n.ready() {
		if time.Now().After(deadline) || n.cmd.ProcessState != nil {
			t.Fatalf("%s did not become ready:\n%s", n.id, n.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) ready() bool {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/ready", n.http))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// signal sends sig; SIGKILL also waits for the process to end.
func (n *node) signal(sig syscall.Signal) {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM:
		if n.paused {
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
		}
		_ = n.cmd.Wait()
		n.cmd = nil
	case syscall.SIGSTOP:
		n.paused = true
	case syscall.SIGCONT:
		n.paused = false
	}
}

func (n *node) running() bool { return n.cmd != nil }

// groupStatus is a raft group as /api/v1/cluster/partitions shows it.
type groupStatus struct {
	Key struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
	} `json:"key"`
	Leader    string `json:"leader"`
	Commit    uint64 `json:"commit_index"`
	HighWater int64  `json:"high_watermark"`
	LogEnd    int64  `json:"log_end_offset"`
	Role      string `json:"role"`
}

func (n *node) partitions() ([]groupStatus, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/cluster/partitions", n.http))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var body struct {
		Partitions []groupStatus `json:"partitions"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	return body.Partitions, err
}

// ringSize is how many ACTIVE nodes n sees in the ring.
func (n *node) ringSize() int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/cluster", n.http))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var body struct {
		Nodes []struct {
			State string `json:"state"`
		} `json:"nodes"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return 0
	}
	active := 0
	for _, m := range body.Nodes {
		if m.State == "ACTIVE" {
			active++
		}
	}
	return active
}

func (n *node) logs() string {
	if n.out == nil {
		return ""
	}
	s := n.out.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// logLevel is the nodes' log level: debug with SILT_FAULT_DUMP, for the
// transport's connection logs.
func logLevel() string {
	if os.Getenv("SILT_FAULT_DUMP") != "" {
		return "debug"
	}
	return "warn"
}
