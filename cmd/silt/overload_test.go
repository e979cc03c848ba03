package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

// buildSilt builds cmd/silt once per test process.
func buildSilt(t *testing.T) string { return testtool.BuildSilt(t) }

// startSilt runs `silt server` with extra flags on a free port and returns its
// address and process.
func startSilt(t *testing.T, flags ...string) (string, *exec.Cmd) {
	t.Helper()
	args := append([]string{"server", "-server.http-listen-address=127.0.0.1:0", "-syslog.listen-address=127.0.0.1:0", "-kafka.listen-address=127.0.0.1:0",
		"-storage.data-dir=" + t.TempDir(), "-log.format=json"}, flags...)
	srv := exec.Command(buildSilt(t), args...)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	addr, _ := waitReady(t, bufio.NewScanner(stderr))
	return addr, srv
}

// TestOverload pushes at several times what silt will take: in-flight bytes and
// the tenant's rate are small, so most requests must get 503 or 429 with
// Retry-After. RSS stays under a fixed bound, every acknowledged line reads back
// exactly once, and no line of a refused request was written.
func TestOverload(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a loaded server process")
	}
	addr, srv := startSilt(t, "-ingest.max-request-bytes=2000000", "-ingest.max-inflight-bytes=8000000",
		"-ingest.admit-wait=50ms", "-limits.ingestion-rate-mb=8", "-limits.ingestion-burst-size-mb=16")
	const workers, lineBytes, linesPerReq = 32, 400, 1500
	var mu sync.Mutex
	acked, refused := map[string]bool{}, map[string]bool{}
	codes := map[int]int{}
	deadline := time.Now().Add(5 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; time.Now().Before(deadline); r++ {
				id := fmt.Sprintf("w%d-r%d", w, r)
				code, retry := pushLoki(t, addr, id, linesPerReq, lineBytes)
				mu.Lock()
				codes[code]++
				switch {
				case code == http.StatusNoContent:
					acked[id] = true
				case code == 429 || code == 503:
					refused[id] = true
					if retry == "" {
						t.Errorf("%d without Retry-After", code)
					}
				default:
					t.Errorf("push %s: status %d", id, code)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("status counts: %v", codes)
	if codes[http.StatusNoContent] == 0 || codes[503]+codes[429] == 0 {
		t.Fatalf("want both acknowledged and refused pushes, got %v", codes)
	}
	if peak := peakRSS(t, srv.Process.Pid); peak > 300<<20 {
		t.Errorf("peak RSS %d MiB, want under 300 MiB", peak>>20)
	} else {
		t.Logf("peak RSS %d MiB", peak>>20)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(metrics, []byte(`silt_ingest_discarded_requests_total{protocol="loki",reason="overloaded",tenant="fake"}`)) {
		t.Errorf("refusals not counted by reason in /metrics")
	}
	got := readAllLines(t, addr)
	for id := range acked {
		if got[id] != linesPerReq {
			t.Errorf("acknowledged request %s: %d of %d lines read back", id, got[id], linesPerReq)
		}
	}
	for id := range refused {
		if got[id] != 0 {
			t.Errorf("refused request %s: %d lines were written", id, got[id])
		}
	}
}

// pushLoki sends one Loki JSON push of n lines tagged with id.
func pushLoki(t *testing.T, addr, id string, n, size int) (int, string) {
	var b strings.Builder
	b.WriteString(`{"streams":[{"stream":{"app":"overload"},"values":[`)
	now := time.Now().UnixNano()
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		line := fmt.Sprintf("%s line %d ", id, i)
		line += strings.Repeat("x", max(0, size-len(line)))
		fmt.Fprintf(&b, `[%q,%q]`, strconv.FormatInt(now+int64(i), 10), line)
	}
	b.WriteString(`]}]}`)
	resp, err := http.Post("http://"+addr+"/loki/api/v1/push", "application/json", strings.NewReader(b.String()))
	if err != nil {
		t.Errorf("push: %v", err)
		return 0, ""
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// readAllLines reads every record of the logs topic and counts lines per
// request id.
func readAllLines(t *testing.T, addr string) map[string]int {
	got := map[string]int{}
	for p := 0; p < 4; p++ {
		for off := int64(0); ; {
			url := fmt.Sprintf("http://%s/api/v1/topics/logs/partitions/%d/records?offset=%d&limit=10000", addr, p, off)
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Records []struct {
					Value string `json:"value"`
				} `json:"records"`
				NextOffset int64 `json:"next_offset"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read partition %d at %d: %v", p, off, err)
			}
			if len(page.Records) == 0 {
				break
			}
			for _, r := range page.Records {
				id, _, _ := strings.Cut(r.Value, " ")
				got[id]++
			}
			off = page.NextOffset
		}
	}
	return got
}

// peakRSS returns the process's peak resident set size (VmHWM).
func peakRSS(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}
