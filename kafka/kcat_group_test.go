package kafka

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments/testtool"
)

// kcatMember is a running `kcat -G` and the lines it printed.
type kcatMember struct {
	mu    sync.Mutex
	lines []string // "partition value"
}

func (m *kcatMember) snapshot() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.lines...)
}

func startKcatMember(t *testing.T, kcat, addr, group, topic string) *kcatMember {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, kcat, "-b", addr, "-G", group, "-X", "auto.offset.reset=earliest",
		"-f", "%p %s\n", "-q", "-u", topic)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &kcatMember{}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m.mu.Lock()
			m.lines = append(m.lines, sc.Text())
			m.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		cancel() // kills the process
		_ = cmd.Wait()
		<-read
	})
	return m
}

// TestKcatGroupMembers runs two `kcat -G` consumers of one group over a
// 4-partition topic: each gets some partitions, together every record once.
func TestKcatGroupMembers(t *testing.T) {
	kcat := testtool.Require(t, "kcat")
	const total = 400
	ts := startServer(t, nil)
	ts.createTopic(t, "kg", 4)
	members := []*kcatMember{
		startKcatMember(t, kcat, ts.addr, "kcat-group", "kg"),
		startKcatMember(t, kcat, ts.addr, "kcat-group", "kg"),
	}
	// Produce once both members hold partitions, so neither takes all.
	waitFor(t, 60*time.Second, "two kcat members with assignments", func() bool {
		g := ts.coord.group("kcat-group", false)
		if g == nil {
			return false
		}
		var d kmsg.DescribeGroupsResponseGroup
		g.describe(&d)
		if d.State != "Stable" || len(d.Members) != 2 {
			return false
		}
		for _, m := range d.Members {
			if len(m.MemberAssignment) == 0 {
				return false
			}
		}
		return true
	})
	produceNumbered(t, ts.addr, "kg", 4, 0, total)
	waitFor(t, 60*time.Second, "kcat members to print every record", func() bool {
		return len(members[0].snapshot())+len(members[1].snapshot()) >= total
	})
	seen := map[string]int{}
	parts := []map[string]bool{{}, {}}
	for i, m := range members {
		for _, line := range m.snapshot() {
			p, v, ok := strings.Cut(line, " ")
			if !ok {
				t.Fatalf("kcat printed %q", line)
			}
			parts[i][p] = true
			seen[v]++
		}
	}
	for i := range total {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Fatalf("record %d printed %d times", i, n)
		}
	}
	if len(seen) != total || len(parts[0]) == 0 || len(parts[1]) == 0 {
		t.Fatalf("%d distinct records; partitions per member %v / %v", len(seen), parts[0], parts[1])
	}
	for p := range parts[0] {
		if parts[1][p] {
			t.Fatalf("partition %s consumed by both members", p)
		}
	}
}
