package testtool

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// RunRsyslogd runs bin (rsyslogd) in the foreground with configuration conf,
// written to dir, and returns the TCP port its input wrote to portFile. The
// process is killed when the test ends; its output is logged if the test failed.
func RunRsyslogd(t testing.TB, bin, dir, conf, portFile string) int {
	t.Helper()
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out LockedBuffer
	cmd := exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(portFile)
		// rsyslogd may write the port file a moment before it accepts
		// connections: wait until one is accepted.
		if port, _ := strconv.Atoi(strings.TrimSpace(string(b))); port != 0 && accepts(port) {
			return port
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd wrote no port to %s within 15s; output:\n%s", portFile, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func accepts(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// LockedBuffer collects a process's output while it runs; safe for
// concurrent Write and String.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
