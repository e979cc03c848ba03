package topics

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestRegistryDelete(t *testing.T) {
	tests := []struct {
		name, tenant, topic string
		wantErr             error
	}{
		{"user topic", "t1", "orders", nil},
		{"builtin logs", "t1", TopicLogs, ErrBuiltinTopic},
		{"builtin metrics", "t1", TopicMetrics, ErrBuiltinTopic},
		{"unknown", "t1", "nope", ErrTopicNotFound},
		{"other tenant's topic", "t2", "orders", ErrTopicNotFound},
		{"bad name", "t1", "a/b", ErrInvalidTopicName},
		{"bad tenant", "..", "orders", ErrInvalidTenantID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := OpenRegistry(dir, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Create("t1", Topic{Name: "orders", Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			before, _ := r.List("t1")
			err = r.Delete(tc.tenant, tc.topic)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Delete: err = %v, want %v", err, tc.wantErr)
			}
			// The change (or its absence) is durable: a reopened registry agrees.
			r2, err := OpenRegistry(dir, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			for name, reg := range map[string]*Registry{"open": r, "reopened": r2} {
				got, _ := reg.List("t1")
				want := before
				if tc.wantErr == nil {
					want = []Topic{before[0], before[1]} // logs, metrics
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s registry lists %+v, want %+v", name, got, want)
				}
			}
			if tc.wantErr == nil {
				if _, err := r.Create("t1", Topic{Name: "orders"}); err != nil {
					t.Errorf("re-create after delete: %v", err)
				}
			}
		})
	}
}

func TestStoreDeleteTopic(t *testing.T) {
	tests := []struct {
		name, topic string
		write       bool // whether the topic has partition data
		wantErr     error
	}{
		{"with data", "orders", true, nil},
		{"never written", "orders", false, nil},
		{"builtin", TopicLogs, true, ErrBuiltinTopic},
		{"unknown", "nope", false, ErrTopicNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := startStore(t, dir)
			defer stopStore(t, s)
			reg, _ := s.Registry()
			for _, tenant := range []string{"t1", "t2"} {
				if _, err := reg.Create(tenant, Topic{Name: "orders", Partitions: 2}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.write {
				appendValues(t, s, "t1", tc.topic, 0, "a", "b")
				appendValues(t, s, "t1", tc.topic, 1, "c")
				appendValues(t, s, "t2", tc.topic, 0, "other tenant")
			}
			err := s.DeleteTopic("t1", tc.topic)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("DeleteTopic: err = %v, want %v", err, tc.wantErr)
			}
			topicDir := filepath.Join(dir, TenantsDir, "t1", tc.topic)
			_, statErr := os.Stat(topicDir)
			if tc.wantErr != nil {
				if tc.write && statErr != nil {
					t.Errorf("refused delete removed data: %v", statErr)
				}
				return
			}
			if !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("topic directory still there: %v", statErr)
			}
			if entries, _ := os.ReadDir(filepath.Join(dir, DeletedDir)); len(entries) != 0 {
				t.Errorf("%s holds %v after delete", DeletedDir, entries)
			}
			if _, err := s.Partition("t1", tc.topic, 0); !errors.Is(err, ErrTopicNotFound) {
				t.Errorf("Partition after delete: err = %v, want ErrTopicNotFound", err)
			}
			if tc.write {
				if got := readValues(t, s, "t2", tc.topic, 0); len(got) != 1 {
					t.Errorf("other tenant's topic: %v", got)
				}
			}
			// A topic created again under the name starts empty.
			if _, err := reg.Create("t1", Topic{Name: tc.topic, Partitions: 2}); err != nil {
				t.Fatal(err)
			}
			if got := readValues(t, s, "t1", tc.topic, 0); len(got) != 0 {
				t.Errorf("re-created topic holds %v", got)
			}
		})
	}
}

// TestStoreRemovesInterruptedDeletes: data a crash left in DeletedDir after
// the registry change is removed at the next start.
func TestStoreRemovesInterruptedDeletes(t *testing.T) {
	dir := t.TempDir()
	leftover := filepath.Join(dir, DeletedDir, "topic-123", "orders", "0")
	if err := os.MkdirAll(leftover, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startStore(t, dir)
	defer stopStore(t, s)
	if _, err := os.Stat(filepath.Join(dir, DeletedDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after start: %v, want removed", DeletedDir, err)
	}
}
