package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryEndToEnd builds the real binary, runs `silt server` on a free
// port, produces and consumes with the CLI, then stops the server with
// SIGTERM and expects a clean exit.
func TestBinaryEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "silt")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	srv := exec.Command(bin, "server", "-server.http-listen-address=127.0.0.1:0", "-syslog.listen-address=127.0.0.1:0", "-kafka.listen-address=127.0.0.1:0",
		"-storage.data-dir="+t.TempDir(), "-log.format=json")
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill() // no-op once it has exited
	addr, logs := waitReady(t, bufio.NewScanner(stderr))

	cli := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args[:1:1], append([]string{"-addr", "http://" + addr}, args[1:]...)...)...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("silt %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	if out := cli("hello\nworld\n", "produce", "-topic", "logs", "-partition", "3"); !strings.Contains(out, "produced 2 records") {
		t.Errorf("produce printed %q", out)
	}
	if out := cli("", "consume", "-topic", "logs", "-partition", "3"); out != "hello\nworld\n" {
		t.Errorf("consume printed %q", out)
	}

	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	l := logs() // before Wait: it closes the pipe, which may drop the last lines
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exit after SIGTERM: %v\nlogs:\n%s", err, l)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not exit after SIGTERM\nlogs:\n%s", logs())
	}
	if !strings.Contains(l, `"msg":"silt stopped"`) {
		t.Errorf("no clean-stop log line:\n%s", l)
	}
}

// waitReady reads the server's JSON logs until it is ready and returns its
// address and a function returning every log line read so far: up to the end
// of the output (the process exited), or 2 s without a new line, or 15 s.
// Read the logs of a process that is exiting before calling its Wait, which
// closes the pipe and may drop the last lines.
func waitReady(t *testing.T, sc *bufio.Scanner) (string, func() string) {
	t.Helper()
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var seen []string
	logs := func() string {
		deadline := time.After(15 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return strings.Join(seen, "\n")
				}
				seen = append(seen, l)
			case <-time.After(2 * time.Second):
				return strings.Join(seen, "\n")
			case <-deadline:
				return strings.Join(seen, "\n")
			}
		}
	}
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("server exited before ready:\n%s", strings.Join(seen, "\n"))
			}
			seen = append(seen, l)
			var entry struct{ Msg, Addr string }
			if json.Unmarshal([]byte(l), &entry) == nil && entry.Msg == "silt is ready" {
				return entry.Addr, logs
			}
		case <-timeout:
			t.Fatalf("server not ready after 15s:\n%s", strings.Join(seen, "\n"))
		}
	}
}
