package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "silt.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	yamlFile := writeFile(t, `
server:
  http_listen_address: 0.0.0.0:4000
  graceful_shutdown_timeout: 5s
auth_enabled: true
storage:
  data_dir: /yaml/data
  segments:
    retention_age: 48h
topics:
  builtin_partitions: 8
`)
	tests := []struct {
		name  string
		args  []string
		check func(*testing.T, *Config)
	}{
		{"defaults", nil, func(t *testing.T, c *Config) {
			want(t, c.Server.HTTPListenAddress, "127.0.0.1:3100")
			want(t, c.Storage.DataDir, "./data")
			want(t, c.AuthEnabled, false)
			want(t, c.Topics.BuiltinPartitions, 4)
		}},
		{"yaml over defaults", []string{"-config.file", yamlFile}, func(t *testing.T, c *Config) {
			want(t, c.Server.HTTPListenAddress, "0.0.0.0:4000")
			want(t, c.Server.GracefulShutdownTimeout, 5*time.Second)
			want(t, c.Storage.DataDir, "/yaml/data")
			want(t, c.Storage.Segments.RetentionAge, 48*time.Hour)
			want(t, c.AuthEnabled, true)
			want(t, c.Topics.BuiltinPartitions, 8)
			want(t, c.Server.LogLevel, "info") // not in the file: default kept
		}},
		{"flags over yaml, before or after -config.file", []string{
			"-storage.data-dir=/flag/data", "-config.file", yamlFile, "-auth.enabled=false", "-topics.builtin-partitions=2",
		}, func(t *testing.T, c *Config) {
			want(t, c.Storage.DataDir, "/flag/data")
			want(t, c.AuthEnabled, false)
			want(t, c.Topics.BuiltinPartitions, 2)
			want(t, c.Server.HTTPListenAddress, "0.0.0.0:4000")
			want(t, c.Storage.Segments.RetentionAge, 48*time.Hour)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sa, err := parseServerArgs(tc.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, &sa.cfg)
		})
	}
}

func want[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown yaml key", []string{"-config.file", writeFile(t, "server:\n  http_listen_adress: x\n")}, "field http_listen_adress not found"},
		{"yaml type error", []string{"-config.file", writeFile(t, "topics:\n  builtin_partitions: many\n")}, "cannot unmarshal"},
		{"missing file", []string{"-config.file", "/nonexistent/silt.yaml"}, "read config file"},
		{"unknown flag", []string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{"positional argument", []string{"extra"}, `unexpected argument "extra"`},
		{"invalid value", []string{"-topics.builtin-partitions=0"}, "topics.builtin-partitions must be between 1"},
		{"bad log level", []string{"-log.level=loud"}, `log.level must be debug, info, warn or error, got "loud"`},
		{"bad segments setting", []string{"-storage.segments.segment-bytes=0"}, "storage.segments:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServerArgs(tc.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestConfigPrintRoundTrips(t *testing.T) {
	sa, err := parseServerArgs([]string{"-auth.enabled", "-storage.segments.retention-age=36h"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	out, err := dumpYAML(&sa.cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"auth_enabled: true", "http_listen_address: 127.0.0.1:3100", "retention_age: 36h0m0s"} {
		if !strings.Contains(out, w) {
			t.Errorf("-config.print output lacks %q:\n%s", w, out)
		}
	}
	sa2, err := parseServerArgs([]string{"-config.file", writeFile(t, out)}, io.Discard)
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(sa2.cfg, sa.cfg) {
		t.Errorf("round trip changed config:\n%+v\n%+v", sa2.cfg, sa.cfg)
	}
}

func TestConfigColdTierYAML(t *testing.T) {
	sa, err := parseServerArgs([]string{"-config.file", writeFile(t, `
storage:
  cold:
    type: s3
    prefix: silt
    config:
      bucket: logs
      endpoint: 127.0.0.1:9000
      insecure: true
    upload_bytes_per_second: 1000000
topics:
  local_retention_ms: 3600000
  tenant_overrides:
    team-a:
      retention.ms: 86400000
      local.retention.bytes: -2
`)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := sa.cfg
	want(t, c.Storage.Cold.Type, "s3")
	want(t, c.Storage.Cold.Prefix, "silt")
	want(t, c.Storage.Cold.Config["bucket"], any("logs"))
	want(t, c.Storage.Cold.UploadBytesPerSecond, int64(1000000))
	want(t, c.Topics.LocalRetentionMs, int64(3600000))
	want(t, c.Topics.TenantOverrides["team-a"].RetentionMs, int64(86400000))
	want(t, c.Topics.TenantOverrides["team-a"].LocalRetentionBytes, int64(-2))

	for _, bad := range []string{"storage:\n  cold:\n    type: gcs\n", "topics:\n  tenant_overrides:\n    a:\n      retention.ms: -5\n"} {
		if _, err := parseServerArgs([]string{"-config.file", writeFile(t, bad)}, io.Discard); err == nil {
			t.Errorf("config %q accepted", bad)
		}
	}
}
