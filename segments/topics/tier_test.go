package topics

import (
	"context"
	"flag"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/dskit/services"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/tier"
)

// TestStoreColdTier runs the store with a filesystem cold tier: a topic whose
// local.retention.ms is tiny goes cold, a topic with the default (-2, same as
// an unlimited retention) stays local, and deleting the topic deletes its
// objects, found from its MANIFESTs.
func TestStoreColdTier(t *testing.T) {
	dir, bucketDir := t.TempDir(), t.TempDir()
	var tc tier.Config
	tc.RegisterFlags("", flag.NewFlagSet("", flag.ContinueOnError))
	tc.Type, tc.Config = tier.TypeFilesystem, map[string]any{"directory": bucketDir}
	bkt, err := tier.NewBucket(tc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cold, err := tier.New(tc, bkt, t.TempDir(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	seg := segments.DefaultConfig()
	seg.SegmentBytes, seg.HotBytes = 4096, 0
	s := NewStore(dir, testConfig(), seg, slog.New(slog.DiscardHandler), nil, WithColdTier(cold))
	if err := services.StartAndAwaitRunning(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	defer stopStore(t, s)
	reg, _ := s.Registry()
	for _, tp := range []Topic{{Name: "cold", LocalRetentionMs: 1}, {Name: "local"}} {
		if _, err := reg.Create("t1", tp); err != nil {
			t.Fatal(err)
		}
		for range 100 {
			appendValues(t, s, "t1", tp.Name, 0, strings.Repeat("x", 200))
		}
		l, _ := s.Partition("t1", tp.Name, 0)
		if err := l.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	s.RunTiers(context.Background(), time.Now().Add(time.Second))
	for _, tc := range []struct {
		topic    string
		wantCold bool
	}{{"cold", true}, {"local", false}} {
		st, err := s.Stats("t1", Topic{Name: tc.topic, Partitions: 1})
		if err != nil {
			t.Fatal(err)
		}
		tiers := st[0].Tiers
		if gotCold := tiers.Cold.Segments > 0 && tiers.LocalStartOffset > 0; gotCold != tc.wantCold || st[0].StartOffset != 0 {
			t.Errorf("%s: %+v start %d, want cold=%v", tc.topic, tiers, st[0].StartOffset, tc.wantCold)
		}
	}
	if n := countFiles(t, filepath.Join(bucketDir, "t1", "cold")); n == 0 {
		t.Fatal("no objects uploaded")
	}
	if err := s.DeleteTopic("t1", "cold"); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, filepath.Join(bucketDir, "t1", "cold")); n != 0 {
		t.Fatalf("%d objects left after DeleteTopic", n)
	}
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
