package topics

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testConfig() Config {
	return Config{BuiltinPartitions: 4, DefaultPartitions: 1, MaxPartitions: 16, RetentionCheckInterval: time.Minute}
}

func TestRegistryCreate(t *testing.T) {
	tests := []struct {
		name    string
		tenant  string
		topic   Topic
		want    Topic
		wantErr error
		errText string
	}{
		{"defaults", "t1", Topic{Name: "orders"}, Topic{Name: "orders", Partitions: 1}, nil, ""},
		{"explicit settings", "t1", Topic{Name: "a.b-c_d", Partitions: 3, RetentionMs: 60000, RetentionBytes: -1},
			Topic{Name: "a.b-c_d", Partitions: 3, RetentionMs: 60000, RetentionBytes: -1}, nil, ""},
		{"builtin exists", "t1", Topic{Name: "logs"}, Topic{}, ErrTopicExists, `already has topic "logs"`},
		{"bad topic name", "t1", Topic{Name: "a/b"}, Topic{}, ErrInvalidTopicName, "illegal character"},
		{"bad tenant", "..", Topic{Name: "x"}, Topic{}, ErrInvalidTenantID, `".."`},
		{"too many partitions", "t1", Topic{Name: "x", Partitions: 17}, Topic{}, ErrInvalidTopic, "between 1 and 16, got 17"},
		{"negative partitions", "t1", Topic{Name: "x", Partitions: -1}, Topic{}, ErrInvalidTopic, "got -1"},
		{"bad retention", "t1", Topic{Name: "x", RetentionMs: -2}, Topic{}, ErrInvalidTopic, "retention.ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := OpenRegistry(t.TempDir(), testConfig())
			if err != nil {
				t.Fatal(err)
			}
			got, err := r.Create(tc.tenant, tc.topic)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Create = %+v, want %+v", got, tc.want)
			}
			if _, err := r.Create(tc.tenant, tc.topic); !errors.Is(err, ErrTopicExists) {
				t.Errorf("second Create: err = %v, want ErrTopicExists", err)
			}
		})
	}
}

func TestRegistryBuiltinsAndNotFound(t *testing.T) {
	r, err := OpenRegistry(t.TempDir(), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get("t1", "nope"); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("Get unknown: err = %v, want ErrTopicNotFound", err)
	}
	got, err := r.Get("t1", TopicMetrics)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Topic{Name: TopicMetrics, Partitions: 4}); got != want {
		t.Errorf("Get(metrics) = %+v, want %+v", got, want)
	}
}

func TestRegistryPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenRegistry(dir, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create("t1", Topic{Name: "orders", Partitions: 3, RetentionMs: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create("t2", Topic{Name: "clicks"}); err != nil {
		t.Fatal(err)
	}
	before1, _ := r.List("t1")
	before2, _ := r.List("t2")

	// A changed default must not alter topics that already exist.
	cfg := testConfig()
	cfg.BuiltinPartitions = 8
	r2, err := OpenRegistry(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	after1, _ := r2.List("t1")
	after2, _ := r2.List("t2")
	if !reflect.DeepEqual(before1, after1) || !reflect.DeepEqual(before2, after2) {
		t.Errorf("after reopen:\n t1 %+v\n t2 %+v\nwant\n t1 %+v\n t2 %+v", after1, after2, before1, before2)
	}
	if got := r2.Tenants(); !reflect.DeepEqual(got, []string{"t1", "t2"}) {
		t.Errorf("Tenants = %v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != RegistryFile {
		t.Errorf("data dir holds %v, want only %s (no temp files left)", entries, RegistryFile)
	}
}

func TestOpenRegistryErrors(t *testing.T) {
	tests := []struct {
		name, content, errText string
	}{
		{"garbage", "{not json", "parse topic registry"},
		{"future version", `{"version":99,"tenants":{}}`, "unsupported version 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, RegistryFile), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenRegistry(dir, testConfig())
			if err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Errorf("err = %v, want %q", err, tc.errText)
			}
		})
	}
}

func TestRegistryFailedSaveChangesNothing(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenRegistry(filepath.Join(dir, "missing"), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create("t1", Topic{Name: "x"}); err == nil || !strings.Contains(err.Error(), "save topic registry") {
		t.Fatalf("Create in missing dir: err = %v", err)
	}
	if got := r.Tenants(); len(got) != 0 {
		t.Errorf("Tenants after failed save = %v, want none", got)
	}
}
