package segments

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashChildEnv = "SILT_SEGMENTS_CRASH_CHILD"

func crashConfig() Config {
	c := testConfig()
	c.SegmentBytes = 32 << 10
	c.HotBytes = 64 << 10 // compaction runs while the child is killed
	return c
}

// crashChild appends batches forever, printing "ack <base> <count>" after each
// append returns. The parent kills it with SIGKILL at a random moment.
func crashChild() {
	l, err := Open(os.Getenv(crashChildEnv), crashConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for {
		next := l.NextOffset()
		n := 1 + r.IntN(40)
		base, err := l.Append(context.Background(), recordsFor(next, n))
		if err != nil || base != next {
			fmt.Fprintln(os.Stderr, "append:", base, err)
			os.Exit(3)
		}
		fmt.Fprintf(os.Stdout, "ack %d %d\n", base, n)
	}
}

// TestCrashRecovery SIGKILLs a real appending process 50 times. After every restart
// each acknowledged offset reads back byte-identical, offsets are dense, and
// anything past the acknowledged end is whole, correct records (never half a batch).
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs 50 child processes; skipped in -short")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	var ackedEnd int64
	for cycle := 0; cycle < 50; cycle++ {
		end := runAndKill(t, dir, time.Duration(20+rng.IntN(150))*time.Millisecond)
		ackedEnd = max(ackedEnd, end)
		l, err := Open(dir, crashConfig())
		if err != nil {
			t.Fatalf("cycle %d: reopen: %v", cycle, err)
		}
		next := l.NextOffset()
		if next < ackedEnd {
			t.Fatalf("cycle %d: NextOffset %d below acknowledged end %d", cycle, next, ackedEnd)
		}
		if rec := l.Recovery(); len(rec.Lost) > 0 {
			t.Fatalf("cycle %d: recovery lost offsets %v", cycle, rec.Lost)
		}
		checkRange(t, l, 0, next)
		ackedEnd = next // whatever survived is now the baseline the child extends
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if ackedEnd < 1000 {
		t.Fatalf("only %d records acknowledged over 50 cycles: the child barely ran", ackedEnd)
	}
	if warm, _ := filepath.Glob(filepath.Join(dir, "*"+zstExt)); len(warm) == 0 {
		t.Fatal("no warm segment: the crashes never met a compaction")
	}
	t.Logf("%d records acknowledged and read back over 50 SIGKILLs", ackedEnd)
}

// runAndKill runs a child for about d, SIGKILLs it, and returns the end of the
// highest acknowledged batch it reported.
func runAndKill(t *testing.T, dir string, d time.Duration) int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(chan int64, 1)
	go func() {
		var end int64
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 3 && f[0] == "ack" {
				base, _ := strconv.ParseInt(f[1], 10, 64)
				n, _ := strconv.ParseInt(f[2], 10, 64)
				end = max(end, base+n)
			}
		}
		acked <- end
	}()
	time.Sleep(d)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	end := <-acked
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child exited on its own: %v", err)
	}
	return end
}
