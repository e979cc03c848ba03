package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/siltlog/silt/segments/testtool"
)

// TestColdTierEndToEnd runs silt with a cold tier on a real S3 server
// (versitygw), ingests through the Loki push API, waits until the segments
// have aged into the cold tier with their local copies deleted, then reads
// everything back from offset 0 over HTTP replay and over Kafka, and with a
// LogQL query over the whole time range, comparing every record.
func TestColdTierEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs an S3 server")
	}
	srv := testtool.StartS3(t)
	cfgFile := writeFile(t, "storage:\n  cold:\n"+indent(srv.YAML("e2e"), "    "))
	ts := startServer(t, "-config.file="+cfgFile,
		"-storage.segments.segment-bytes=16384", "-storage.segments.block-bytes=4096", "-storage.segments.hot-bytes=0",
		"-ingest.max-request-bytes=8192", "-topics.builtin-partitions=1",
		"-topics.retention-check-interval=50ms", "-topics.local-retention-ms=1")

	const n = 3000
	want := pushLines(t, ts, n)
	p := waitCold(t, ts)
	if p.LocalStartOffset == 0 || p.Tiers["cold"].Segments < 2 || p.StartOffset != 0 {
		t.Fatalf("partition not tiered: %+v", p)
	}
	t.Logf("tiers after ingest: start %d local start %d end %d, %+v", p.StartOffset, p.LocalStartOffset, p.EndOffset, p.Tiers)

	t.Run("http replay", func(t *testing.T) { compareLines(t, httpReplay(t, ts), want) })
	t.Run("kafka", func(t *testing.T) { compareLines(t, kafkaReplay(t, ts, n), want) })
	t.Run("logql", func(t *testing.T) { compareLines(t, lokiQuery(t, ts, `{app="tiers"}`), want) })
	t.Run("logql filter", func(t *testing.T) {
		got := lokiQuery(t, ts, `{app="tiers"} |= "line 000042 "`)
		compareLines(t, got, want[42:43])
	})
	t.Run("retention changed at run time", func(t *testing.T) {
		// The records are an hour old: a 10-minute retention.ms removes every
		// sealed segment from every tier, without a restart.
		code, body := ts.do(t, http.MethodPatch, "/api/v1/topics/logs/config", "application/json", `{"retention.ms": 600000}`)
		if code != http.StatusOK || !strings.Contains(body, `"retention.ms":{"value":600000,"source":"topic"}`) {
			t.Fatalf("PATCH config: %d %s", code, body)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var tj topicJSON
			ts.getJSON(t, "/api/v1/topics/logs", &tj)
			p := tj.Partitions[0]
			if p.Tiers["cold"].Segments == 0 && p.StartOffset == p.LocalStartOffset {
				compareLines(t, httpReplay(t, ts), want[p.StartOffset:])
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("retention did not apply: %+v", p)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	if code, body := ts.do(t, http.MethodGet, "/metrics", "", ""); code != 200 ||
		!strings.Contains(body, `silt_tier_segments{tier="cold"}`) || !strings.Contains(body, "silt_tier_cache_hits_total") {
		t.Errorf("metrics lack tier series: %d", code)
	}
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n"+prefix) + "\n"
}

// pushLines pushes n lines of one stream in small requests and returns them.
func pushLines(t *testing.T, ts *testServer, n int) []string {
	t.Helper()
	start := time.Now().Add(-time.Hour).UnixNano()
	lines := make([]string, n)
	for i := 0; i < n; i += 20 {
		var vals []string
		for j := i; j < min(i+20, n); j++ {
			lines[j] = fmt.Sprintf("line %06d %s", j, strings.Repeat(string(rune('a'+j%26)), 20+j%50))
			vals = append(vals, fmt.Sprintf(`["%d",%q]`, start+int64(j)*int64(time.Millisecond), lines[j]))
		}
		body := `{"streams":[{"stream":{"app":"tiers"},"values":[` + strings.Join(vals, ",") + `]}]}`
		if code, resp := ts.do(t, http.MethodPost, "/loki/api/v1/push", "application/json", body); code != http.StatusNoContent {
			t.Fatalf("push: %d %s", code, resp)
		}
	}
	return lines
}

// waitCold waits until every sealed segment of logs/0 is cold and deleted locally.
func waitCold(t *testing.T, ts *testServer) partitionJSON {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var tj topicJSON
		ts.getJSON(t, "/api/v1/topics/logs", &tj)
		p := tj.Partitions[0]
		if p.Tiers["warm"].Segments == 0 && p.Tiers["hot"].Segments == 1 && p.Tiers["cold"].Segments > 0 {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments not cold after 30s: %+v", p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpReplay reads logs/0 from its start offset over the native HTTP API.
func httpReplay(t *testing.T, ts *testServer) []string {
	t.Helper()
	var out []string
	var first consumeResponse
	ts.getJSON(t, "/api/v1/topics/logs/partitions/0/records?limit=1", &first)
	for off := first.LogStartOffset; ; {
		var resp consumeResponse
		ts.getJSON(t, fmt.Sprintf("/api/v1/topics/logs/partitions/0/records?offset=%d&limit=500", off), &resp)
		for _, r := range resp.Records {
			if r.Offset != off {
				t.Fatalf("offset %d, want %d", r.Offset, off)
			}
			out = append(out, *r.Value)
			off++
		}
		if off >= resp.HighWatermark || len(resp.Records) == 0 {
			return out
		}
	}
}

func kafkaReplay(t *testing.T, ts *testServer, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.app.kafka.Addr().String()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"logs": {0: kgo.NewOffset().At(0)}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("kafka fetch after %d records: %v", len(out), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != int64(len(out)) {
				t.Fatalf("kafka offset %d, want %d", r.Offset, len(out))
			}
			out = append(out, string(r.Value))
		})
	}
	return out
}

// lokiQuery runs a LogQL query over the last two hours, oldest first.
func lokiQuery(t *testing.T, ts *testServer, q string) []string {
	t.Helper()
	v := url.Values{"query": {q}, "since": {"2h"}, "direction": {"forward"}, "limit": {"5000"}}
	code, body := ts.do(t, http.MethodGet, "/loki/api/v1/query_range?"+v.Encode(), "", "")
	if code != http.StatusOK {
		t.Fatalf("query_range: %d %s", code, body)
	}
	var resp struct {
		Data struct {
			Result []struct {
				Values [][2]string `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range resp.Data.Result {
		for _, v := range s.Values {
			out = append(out, v[1])
		}
	}
	return out
}

func compareLines(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d: %q, want %q", i, got[i], want[i])
		}
	}
}
