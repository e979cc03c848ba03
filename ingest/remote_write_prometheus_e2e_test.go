package ingest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

// rwProc is an external program run for the length of a test, its output kept
// for failure messages.
type rwProc struct {
	name string
	cmd  *exec.Cmd
	out  *testtool.LockedBuffer
	done chan struct{} // closed once the process exited
}

// rwStart runs path with args in the foreground of the test; the process is
// killed (SIGTERM, then SIGKILL) at the end of the test.
func rwStart(t *testing.T, path string, args ...string) *rwProc {
	t.Helper()
	p := &rwProc{name: filepath.Base(path), cmd: exec.Command(path, args...), out: &testtool.LockedBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// rwPoll calls check every 100ms until it reports done, failing the test after
// timeout (with check's last state) or when proc exits early.
func rwPoll(t *testing.T, timeout time.Duration, proc *rwProc, check func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := check()
		if ok {
			return
		}
		if proc != nil {
			select {
			case <-proc.done:
				t.Fatalf("%s exited early (%v); last state: %s\noutput:\n%s", proc.name, proc.cmd.ProcessState, state, proc.out.String())
			default:
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done after %s; last state: %s", timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rwWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRemoteWritePrometheusE2E runs the real prometheus binary scraping a
// gauge of known value and remote-writing to silt, then decodes the stored
// records with the FORMAT.md decoder.
func TestRemoteWritePrometheusE2E(t *testing.T) {
	bin := testtool.Require(t, "prometheus")
	s := newRWServer(t)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# HELP silt_e2e_gauge A gauge of known value.\n# TYPE silt_e2e_gauge gauge\n",
			"silt_e2e_gauge{kind=\"known\"} 42.5\nsilt_e2e_gauge{kind=\"negative\"} -0.25\n")
	}))
	t.Cleanup(target.Close)
	targetHost := strings.TrimPrefix(target.URL, "http://")

	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: e2e
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
    metadata_config:
      send_interval: 1s
`, targetHost, s.srv.URL)
	webAddr := fmt.Sprintf("127.0.0.1:%d", testtool.FreePort(t))
	proc := rwStart(t, bin,
		"--config.file="+rwWriteFile(t, "prometheus.yml", config),
		"--storage.tsdb.path="+t.TempDir(),
		"--web.listen-address="+webAddr,
		"--log.level=debug")

	wantKeys := map[string]float64{
		fmt.Sprintf(`{__name__="silt_e2e_gauge", instance=%q, job="e2e", kind="known"}`, targetHost):    42.5,
		fmt.Sprintf(`{__name__="silt_e2e_gauge", instance=%q, job="e2e", kind="negative"}`, targetHost): -0.25,
		fmt.Sprintf(`{__name__="up", instance=%q, job="e2e"}`, targetHost):                              1,
	}
	started := time.Now().Add(-time.Minute).UnixMilli()
	rwPoll(t, 90*time.Second, proc, func() (bool, string) {
		seen := map[string]int{}
		for _, r := range s.metricRecords() {
			want, ok := wantKeys[r.key]
			if !ok {
				continue
			}
			for _, smp := range r.samples {
				if smp.V != want || smp.T < started || smp.T > time.Now().UnixMilli() {
					t.Fatalf("series %s: sample %+v, want value %g at a recent time", r.key, smp, want)
				}
			}
			if r.ts != r.samples[0].T*1e6 {
				t.Fatalf("series %s: record timestamp %d, first sample %d ms", r.key, r.ts, r.samples[0].T)
			}
			seen[r.key] += len(r.samples)
		}
		// Two samples each: at least two scrapes arrived, deltas included.
		for k := range wantKeys {
			if seen[k] < 2 {
				return false, fmt.Sprintf("samples per series: %v", seen)
			}
		}
		return true, ""
	})
}
