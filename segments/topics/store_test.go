package topics

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grafana/dskit/services"

	"github.com/siltlog/silt/segments"
)

func startStore(t *testing.T, dir string) *Store {
	t.Helper()
	var seg segments.Config
	seg.RegisterFlags("segments.", newFlagSet())
	s := NewStore(dir, testConfig(), seg, slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s
}

func stopStore(t *testing.T, s *Store) {
	t.Helper()
	if err := services.StopAndAwaitTerminated(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

func appendValues(t *testing.T, s *Store, tenant, topic string, p int, values ...string) {
	t.Helper()
	l, err := s.Partition(tenant, topic, p)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]segments.Record, len(values))
	for i, v := range values {
		recs[i] = segments.Record{Timestamp: time.Now().UnixNano(), Value: []byte(v)}
	}
	if _, err := l.Append(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

func readValues(t *testing.T, s *Store, tenant, topic string, p int) []string {
	t.Helper()
	l, err := s.Partition(tenant, topic, p)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := l.Read(l.StartOffset(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	return out
}

func TestStoreTenantIsolationAndReopen(t *testing.T) {
	dir := t.TempDir()
	s := startStore(t, dir)
	appendValues(t, s, "alice", "logs", 0, "a1", "a2")
	appendValues(t, s, "bob", "logs", 0, "b1")

	check := func(s *Store) {
		t.Helper()
		if got := readValues(t, s, "alice", "logs", 0); len(got) != 2 || got[0] != "a1" || got[1] != "a2" {
			t.Errorf("alice logs/0 = %v, want [a1 a2]", got)
		}
		if got := readValues(t, s, "bob", "logs", 0); len(got) != 1 || got[0] != "b1" {
			t.Errorf("bob logs/0 = %v, want [b1]", got)
		}
	}
	check(s)
	for _, d := range []string{"alice", "bob"} {
		if _, err := os.Stat(filepath.Join(dir, TenantsDir, d, "logs", "0")); err != nil {
			t.Errorf("partition directory: %v", err)
		}
	}
	stopStore(t, s)

	s = startStore(t, dir)
	defer stopStore(t, s)
	check(s)
}

func TestStorePartitionErrors(t *testing.T) {
	s := startStore(t, t.TempDir())
	defer stopStore(t, s)
	reg, err := s.Registry()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Create("t1", Topic{Name: "two", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, tenant, topic string
		p                   int
		want                error
	}{
		{"ok", "t1", "two", 1, nil},
		{"builtin auto-created", "t9", "metrics", 3, nil},
		{"partition too high", "t1", "two", 2, ErrPartitionNotFound},
		{"negative partition", "t1", "two", -1, ErrPartitionNotFound},
		{"unknown topic", "t1", "nope", 0, ErrTopicNotFound},
		{"other tenant's topic", "t2", "two", 0, ErrTopicNotFound},
		{"bad tenant", "a/b", "logs", 0, ErrInvalidTenantID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Partition(tc.tenant, tc.topic, tc.p)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestStoreStatsAndStopped(t *testing.T) {
	s := startStore(t, t.TempDir())
	appendValues(t, s, "t1", "logs", 2, "x", "y", "z")
	reg, _ := s.Registry()
	topic, err := reg.Get("t1", "logs")
	if err != nil {
		t.Fatal(err)
	}
	stats, err := s.Stats("t1", topic)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 4 || stats[2].EndOffset != 3 || stats[2].Bytes == 0 || stats[0].EndOffset != 0 {
		t.Errorf("stats = %+v", stats)
	}
	s.EnforceRetention(time.Now())
	stopStore(t, s)
	if _, err := s.Partition("t1", "logs", 0); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Partition after stop: err = %v, want ErrNotRunning", err)
	}
}

func TestTopicSegmentsConfig(t *testing.T) {
	base := segments.Config{RetentionAge: time.Hour, RetentionBytes: 1000}
	s := &Store{segCfg: base}
	tests := []struct {
		name      string
		topic     Topic
		wantAge   time.Duration
		wantBytes int64
	}{
		{"inherit", Topic{}, time.Hour, 1000},
		{"override", Topic{RetentionMs: 1500, RetentionBytes: 7}, 1500 * time.Millisecond, 7},
		{"unlimited", Topic{RetentionMs: -1, RetentionBytes: -1}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := s.topicSegmentsConfig(tc.topic)
			if c.RetentionAge != tc.wantAge || c.RetentionBytes != tc.wantBytes {
				t.Errorf("got age %v bytes %d, want %v %d", c.RetentionAge, c.RetentionBytes, tc.wantAge, tc.wantBytes)
			}
		})
	}
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("test", flag.ContinueOnError) }

func TestStoreEnforcesTopicRetention(t *testing.T) {
	dir := t.TempDir()
	seg := segments.DefaultConfig()
	seg.SegmentBytes = 4096
	s := NewStore(dir, testConfig(), seg, slog.New(slog.DiscardHandler), nil)
	if err := services.StartAndAwaitRunning(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	defer stopStore(t, s)
	reg, _ := s.Registry()
	for _, tp := range []Topic{{Name: "small", RetentionBytes: 8192}, {Name: "kept"}} {
		if _, err := reg.Create("t1", tp); err != nil {
			t.Fatal(err)
		}
	}
	value := string(make([]byte, 500))
	for _, topic := range []string{"small", "kept"} {
		for range 100 {
			appendValues(t, s, "t1", topic, 0, value)
		}
	}
	s.EnforceRetention(time.Now())
	for _, tc := range []struct {
		topic    string
		wantTrim bool
	}{{"small", true}, {"kept", false}} {
		l, err := s.Partition("t1", tc.topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		if trimmed := l.StartOffset() > 0; trimmed != tc.wantTrim {
			t.Errorf("%s: start offset %d, size %d; want trimmed=%v", tc.topic, l.StartOffset(), l.Size(), tc.wantTrim)
		}
		if l.NextOffset() != 100 {
			t.Errorf("%s: next offset %d, want 100", tc.topic, l.NextOffset())
		}
	}
}
