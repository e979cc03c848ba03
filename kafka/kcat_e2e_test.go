package kafka

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

func runKcat(t *testing.T, kcat, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("kcat %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

func TestKcat(t *testing.T) {
	kcat := testtool.Require(t, "kcat")
	ts := startServer(t, nil)
	ts.createTopic(t, "kcat", 1)
	b := "-b" + ts.addr

	meta := runKcat(t, kcat, "", b, "-L", "-t", "kcat")
	if !strings.Contains(meta, `topic "kcat" with 1 partitions`) || !strings.Contains(meta, "broker 0 at "+ts.addr) {
		t.Fatalf("kcat -L:\n%s", meta)
	}

	codecs := []struct {
		name string
		attr byte
	}{{"none", 0}, {"gzip", 1}, {"snappy", 2}, {"lz4", 3}, {"zstd", 4}}
	var want []string
	for i, c := range codecs {
		var in strings.Builder
		for j := range 5 {
			line := fmt.Sprintf("%s line %d", c.name, j)
			want = append(want, line)
			in.WriteString(line + "\n")
		}
		runKcat(t, kcat, in.String(), b, "-P", "-t", "kcat", "-p", "0", "-z", c.name, "-X", "linger.ms=100")
		batches := ts.storedBatches(t, "kcat", 0)
		if len(batches) <= i {
			t.Fatalf("%s: %d batches stored", c.name, len(batches))
		}
		for _, bt := range batches[i:] {
			if got := bt[batchPosAttributes+1] & attrCompression; got != c.attr {
				t.Fatalf("-z %s: stored batch codec %d, want %d", c.name, got, c.attr)
			}
		}
		if len(batches) != i+1 {
			t.Logf("-z %s produced %d batches", c.name, len(batches)-i)
		}
	}
	stamps := strings.Fields(runKcat(t, kcat, "", b, "-C", "-t", "kcat", "-p", "0", "-o", "beginning", "-e", "-f", "%T\n"))
	// Records of one producer call can share a millisecond: the timestamp
	// query answers the first record at or after it.
	fromStamp := slices.Index(stamps, stamps[12])
	cases := []struct {
		name   string
		offset string
		from   int
	}{
		{"beginning", "beginning", 0},
		{"end", "end", len(want)},
		{"offset", "7", 7},
		{"timestamp", "s@" + stamps[12], fromStamp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := runKcat(t, kcat, "", b, "-C", "-t", "kcat", "-p", "0", "-o", tc.offset, "-e", "-f", "%o %s\n")
			var wantOut strings.Builder
			for i := tc.from; i < len(want); i++ {
				fmt.Fprintf(&wantOut, "%d %s\n", i, want[i])
			}
			if out != wantOut.String() {
				t.Fatalf("kcat -C -o %s:\n%s\nwant:\n%s", tc.offset, out, wantOut.String())
			}
		})
	}
}
