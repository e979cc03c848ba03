package tier

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/testtool"
)

const (
	killChildEnv    = "SILT_TIER_KILL_CHILD"
	killChildS3Env  = "SILT_TIER_KILL_S3"
	killChildRecord = 4000
)

// killChild fills a log and uploads it to the S3 server described by
// $SILT_TIER_KILL_S3 at 4 KiB/s, so that the parent can SIGKILL it mid-upload.
func killChild(dir string) {
	var conf map[string]any
	if err := json.Unmarshal([]byte(os.Getenv(killChildS3Env)), &conf); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		os.Exit(2)
	}
	cfg := testConfig(TypeS3, conf)
	cfg.UploadBytesPerSecond = 4 << 10
	bkt, err := NewBucket(cfg, quiet)
	if err == nil {
		var tr *Tier
		tr, err = New(cfg, bkt, filepath.Join(dir, "cache"), quiet, nil)
		if err == nil {
			var l *segments.Log
			l, err = segments.Open(filepath.Join(dir, "log"), segConfig(), segments.WithColdStore(tr.Partition("t1", "logs", 0)), segments.WithLogger(quiet))
			if err == nil {
				fill(exitTB{}, l, killChildRecord)
				fmt.Println("filled")
				err = l.Tier(context.Background(), time.Now(), allCold)
			}
		}
	}
	fmt.Println("done", err)
	os.Exit(0)
}

// exitTB lets the child use the test helpers: a failure exits with status 3.
type exitTB struct{ testing.TB }

func (exitTB) Helper() {}
func (exitTB) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(3)
}
func (exitTB) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(3)
}

// TestKillMidUpload SIGKILLs a process while it uploads to a real S3 server,
// once an attempt has some objects but not meta.json. The restarted log still
// reads every record, the next tier cycle deletes the orphaned objects and
// uploads the segment again, and nothing half-uploaded is ever read.
func TestKillMidUpload(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a child process")
	}
	srv := testtool.StartS3(t)
	cfg := s3Config(srv)
	tr, _ := newTier(t, cfg)
	conf, _ := json.Marshal(cfg.Config)
	dir := t.TempDir()
	orphan := runUntilPartialUpload(t, dir, string(conf), tr)
	t.Logf("killed with attempt %s partly uploaded", orphan)

	l := openLog(t, filepath.Join(dir, "log"), tr)
	defer l.Close()
	check(t, l, 0, killChildRecord)
	if err := l.Tier(context.Background(), time.Now(), allCold); err != nil {
		t.Fatal(err)
	}
	if _, ok := listAttempts(t, tr.Bucket())[orphan]; ok {
		t.Fatalf("orphaned attempt %s still in the bucket", orphan)
	}
	assertClean(t, l, tr, killChildRecord)
}

// runUntilPartialUpload runs the child and kills it once the bucket holds an
// attempt without meta.json; it returns that attempt's key.
func runUntilPartialUpload(t *testing.T, dir, conf string, tr *Tier) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killChildEnv+"="+dir, killChildS3Env+"="+conf)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok || strings.HasPrefix(l, "done") {
				t.Fatalf("child finished before a partial upload was seen: %q", l)
			}
		case <-deadline:
			t.Fatal("no partial upload seen in 60s")
		case <-time.After(5 * time.Millisecond):
		}
		for key, objs := range listAttempts(t, tr.Bucket()) {
			if len(objs) > 0 && !contains(objs, MetaObject) {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = cmd.Wait()
				return key
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
