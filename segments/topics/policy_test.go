package topics

import (
	"errors"
	"testing"
	"time"

	"github.com/siltlog/silt/segments"
)

func TestResolvePolicy(t *testing.T) {
	server := Policy{RetentionMs: 7 * 86400000, RetentionBytes: Unlimited, LocalRetentionMs: SameAsRetention, LocalRetentionBytes: SameAsRetention}
	tests := []struct {
		name           string
		topic, tenant  Policy
		want           segments.Retention
		wantRetSource  string
		wantLocalSouce string
	}{
		{"server defaults", Policy{}, Policy{},
			segments.Retention{Age: 7 * 24 * time.Hour, LocalAge: 7 * 24 * time.Hour}, "default", "default"},
		{"tenant override", Policy{}, Policy{RetentionMs: 3600000, LocalRetentionMs: 60000},
			segments.Retention{Age: time.Hour, LocalAge: time.Minute}, "tenant", "tenant"},
		{"topic over tenant", Policy{RetentionMs: 7200000}, Policy{RetentionMs: 3600000},
			segments.Retention{Age: 2 * time.Hour, LocalAge: 2 * time.Hour}, "topic", "default"},
		{"-2 follows the resolved retention", Policy{RetentionBytes: 1 << 30, LocalRetentionBytes: SameAsRetention}, Policy{},
			segments.Retention{Age: 7 * 24 * time.Hour, Bytes: 1 << 30, LocalAge: 7 * 24 * time.Hour, LocalBytes: 1 << 30}, "default", "default"},
		{"unlimited", Policy{RetentionMs: Unlimited, LocalRetentionMs: 60000}, Policy{},
			segments.Retention{LocalAge: time.Minute}, "topic", "topic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eff := Resolve(tc.topic, tc.tenant, server)
			if got := eff.Retention(); got != tc.want {
				t.Errorf("retention %+v, want %+v", got, tc.want)
			}
			if eff.Sources[ConfigRetentionMs] != tc.wantRetSource || eff.Sources[ConfigLocalRetentionMs] != tc.wantLocalSouce {
				t.Errorf("sources %v, want retention.ms from %s, local.retention.ms from %s", eff.Sources, tc.wantRetSource, tc.wantLocalSouce)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"empty", Policy{}, true},
		{"kafka values", Policy{RetentionMs: -1, RetentionBytes: 100, LocalRetentionMs: -2, LocalRetentionBytes: -1}, true},
		{"-2 for retention", Policy{RetentionMs: -2}, false},
		{"-3 for local", Policy{LocalRetentionBytes: -3}, false},
		{"local longer than retention", Policy{RetentionMs: 1000, LocalRetentionMs: 2000}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidTopic)) {
				t.Fatalf("Validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestRegistrySetConfig(t *testing.T) {
	dir := t.TempDir()
	r, err := OpenRegistry(dir, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetConfig("t1", TopicLogs, map[string]int64{ConfigRetentionMs: 60000, ConfigLocalRetentionBytes: -2}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetConfig("t1", TopicLogs, map[string]int64{"retention.hours": 1}); !errors.Is(err, ErrInvalidTopic) {
		t.Fatalf("unknown setting: %v", err)
	}
	if _, err := r.SetConfig("t1", "nope", map[string]int64{ConfigRetentionMs: 1}); !errors.Is(err, ErrTopicNotFound) {
		t.Fatalf("unknown topic: %v", err)
	}
	r2, err := OpenRegistry(dir, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	got, err := r2.Get("t1", TopicLogs)
	if err != nil || got.RetentionMs != 60000 || got.LocalRetentionBytes != -2 {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
}
