package ingest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// syslogHarness is a topic store, a distributor and a syslog server on
// 127.0.0.1 port 0, all stopped at the end of the test.
type syslogHarness struct {
	store *topics.Store
	d     *Distributor
	srv   *SyslogServer
}

func newSyslogHarness(t *testing.T, mutate func(*SyslogConfig, *Config)) *syslogHarness {
	t.Helper()
	f := flag.NewFlagSet("syslog-test", flag.ContinueOnError)
	var cfg Config
	cfg.RegisterFlags(f)
	var scfg SyslogConfig
	scfg.RegisterFlags(f)
	var tcfg topics.Config
	tcfg.RegisterFlags(f)
	scfg.ListenAddress = "127.0.0.1:0"
	scfg.BatchWait = 20 * time.Millisecond
	if mutate != nil {
		mutate(&scfg, &cfg)
	}
	if err := scfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	seg := segments.DefaultConfig()
	seg.FsyncInterval = time.Second // no fsync per batch: tests need not wait for the disk
	h := &syslogHarness{store: topics.NewStore(t.TempDir(), tcfg, seg, logger, nil)}
	h.d = NewDistributor(cfg, h.store, NewMetrics(nil), func(*http.Request) (string, error) { return DefaultTenant, nil })
	h.srv = NewSyslogServer(scfg, h.d, logger)
	ctx := context.Background()
	if err := services.StartAndAwaitRunning(ctx, h.store); err != nil {
		t.Fatal(err)
	}
	if err := services.StartAndAwaitRunning(ctx, h.srv); err != nil {
		_ = services.StopAndAwaitTerminated(ctx, h.store)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := services.StopAndAwaitTerminated(ctx, h.srv); err != nil {
			t.Error(err)
		}
		if err := services.StopAndAwaitTerminated(ctx, h.store); err != nil {
			t.Error(err)
		}
	})
	return h
}

// syslogStored is one stored entry as a test compares it.
type syslogStored struct {
	Labels   string
	Line     string
	TS       int64
	Metadata map[string]string
}

// records returns every record of the tenant's logs topic, all partitions,
// each partition in offset order and partitions in turn.
func (h *syslogHarness) records(t testing.TB) []syslogStored {
	t.Helper()
	reg, err := h.store.Registry()
	if err != nil {
		t.Fatal(err)
	}
	topic, err := reg.Get(DefaultTenant, topics.TopicLogs)
	if err != nil {
		t.Fatal(err)
	}
	var out []syslogStored
	for p := 0; p < topic.Partitions; p++ {
		l, err := h.store.Partition(DefaultTenant, topics.TopicLogs, p)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := l.Read(l.StartOffset(), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			md := map[string]string{}
			for _, hd := range r.Headers {
				md[hd.Key] = string(hd.Value)
			}
			out = append(out, syslogStored{Labels: string(r.Key), Line: string(r.Value), TS: r.Timestamp, Metadata: md})
		}
	}
	return out
}

// lines returns the stored lines, sorted.
func (h *syslogHarness) lines(t testing.TB) []string {
	var out []string
	for _, r := range h.records(t) {
		out = append(out, r.Line)
	}
	sort.Strings(out)
	return out
}

// count returns how many records the tenant's logs topic holds. Tests poll it,
// not the records: segments' Read is not safe against a concurrent Append
// (Log.ReadBatches calls segment.next without Log.mu), so records are read
// only once the expected count is in and no more appends are coming.
func (h *syslogHarness) count(t testing.TB) int {
	t.Helper()
	reg, err := h.store.Registry()
	if err != nil {
		t.Fatal(err)
	}
	topic, err := reg.Get(DefaultTenant, topics.TopicLogs)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for p := 0; p < topic.Partitions; p++ {
		l, err := h.store.Partition(DefaultTenant, topics.TopicLogs, p)
		if err != nil {
			t.Fatal(err)
		}
		n += int(l.NextOffset() - l.StartOffset())
	}
	return n
}

func (h *syslogHarness) waitCount(t *testing.T, n int) {
	t.Helper()
	syslogPoll(t, 10*time.Second, n, func() any { return h.count(t) })
}

// waitLines waits for len(want) records, then checks that their sorted
// lines are want.
func (h *syslogHarness) waitLines(t *testing.T, want []string) {
	t.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	h.waitCount(t, len(want))
	if got := h.lines(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored lines\n got %q\nwant %q", got, want)
	}
}

func (h *syslogHarness) dialTCP(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", h.srv.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func syslogOctet(msg string) string { return fmt.Sprintf("%d %s", len(msg), msg) }

func TestSyslogTCPFraming(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string
	}{
		{"octet counting", []string{syslogOctet("<13>1 - h a - - - one") + syslogOctet("<13>1 - h a - - - two")}, []string{"one", "two"}},
		{"octet counting with LF inside", []string{syslogOctet("<13>1 - h a - - - multi\nline") + syslogOctet("<13>1 - h a - - - x\n")}, []string{"multi\nline", "x"}},
		{"newline", []string{"<13>1 - h a - - - one\n<13>Mar 15 11:00:00 h b: two\n"}, []string{"one", "two"}},
		{"CRLF and NUL", []string{"<13>h: one\r\n<13>h: two\x00<13>h: three\n"}, []string{"one", "two", "three"}},
		{"blank lines skipped", []string{"\n\n<13>h: one\n\n"}, []string{"one"}},
		{"mixed per message", []string{syslogOctet("<13>1 - h a - - - one") + "<13>h: two\n" + syslogOctet("<13>h: three") + "<13>h: four\n"}, []string{"one", "two", "three", "four"}},
		{"split across writes", []string{"2", "3 <13>1 - h a - - - sp", "lit", "<13>h: ne", "wline\n", syslogOctet("<13>h: last")[:4], syslogOctet("<13>h: last")[4:]}, []string{"split", "newline", "last"}},
		{"unterminated last line at close", []string{"<13>h: one\n<13>h: tail"}, []string{"one", "tail"}},
		{"digits then no space is newline framing", []string{"12ab\n"}, []string{"12ab"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newSyslogHarness(t, nil)
			c := h.dialTCP(t)
			for _, w := range tc.writes {
				if _, err := io.WriteString(c, w); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond) // let each write be its own segment
			}
			_ = c.Close()
			h.waitLines(t, tc.want)
		})
	}
}

func TestSyslogTCPOversizeMessages(t *testing.T) {
	h := newSyslogHarness(t, func(c *SyslogConfig, _ *Config) { c.MaxMessageSize = 512 })
	long := strings.Repeat("x", 1000)
	c := h.dialTCP(t)
	_, err := io.WriteString(c, syslogOctet("<13>h: "+long)+"<13>h: "+long+"\n"+syslogOctet("<13>h: after"))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	cut := long[:512-len("<13>h: ")]
	h.waitLines(t, []string{cut, cut, "after"})
}

func TestSyslogUDP(t *testing.T) {
	h := newSyslogHarness(t, nil)
	c, err := net.Dial("udp", h.srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := []string{
		"<34>1 2024-03-15T11:00:00Z host1 app1 - - - five four two four",
		"<13>Mar 15 11:00:00 host2 app2[7]: rfc3164 over udp\n",
		"", // an empty datagram is ignored
		"<13>1 - - - - - - multi\nline datagram",
	}
	for _, m := range msgs {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	h.waitLines(t, []string{"five four two four", "rfc3164 over udp", "multi\nline datagram"})
	for _, r := range h.records(t) {
		if r.Line == "multi\nline datagram" && r.Labels != `{facility="user", host="127.0.0.1", job="syslog"}` {
			t.Errorf("a message without hostname gets the sender's address: labels %s", r.Labels)
		}
	}
}

func TestSyslogMapping(t *testing.T) {
	h := newSyslogHarness(t, func(_ *SyslogConfig, c *Config) { c.Limits.MaxLineSize = 64 })
	now := time.Now()
	recent := now.Add(-time.Hour).UTC().Truncate(time.Millisecond)
	msgs := []string{
		fmt.Sprintf(`<165>1 %s web-1 nginx 4242 ACCESS [req@1 path="/a\"b" code="200"][meta sequenceId="9"] GET /a`, recent.Format(time.RFC3339Nano)),
		"<11>1 2001-01-01T00:00:00Z web-1 nginx - - - too old for the limits",
		"<11>1 2999-01-01T00:00:00Z web-1 nginx - - - in the future",
		"<14>1 - web-1 nginx - - - bad utf8 \xff here",
		"<14>1 - web-1 nginx - - - " + strings.Repeat("é", 40),
		"<14>1 2024-13-01T00:00:00Z broken",
	}
	c := h.dialTCP(t)
	for _, m := range msgs {
		if _, err := io.WriteString(c, syslogOctet(m)); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Close()
	h.waitCount(t, len(msgs))
	got := map[string]syslogStored{}
	for _, r := range h.records(t) {
		got[r.Line] = r
	}
	first := got["GET /a"]
	if want := `{app="nginx", facility="local4", host="web-1", job="syslog"}`; first.Labels != want {
		t.Errorf("labels %s, want %s", first.Labels, want)
	}
	wantMD := map[string]string{"level": "info", "severity": "notice", "procid": "4242", "msgid": "ACCESS",
		"sd_req_1_path": `/a"b`, "sd_req_1_code": "200", "sd_meta_sequenceId": "9"}
	if !reflect.DeepEqual(first.Metadata, wantMD) {
		t.Errorf("metadata %v, want %v", first.Metadata, wantMD)
	}
	if first.TS != recent.UnixNano() {
		t.Errorf("timestamp %d, want the message's %d", first.TS, recent.UnixNano())
	}
	for _, line := range []string{"too old for the limits", "in the future"} {
		r := got[line]
		if r.TS < now.Add(-time.Minute).UnixNano() || r.TS > time.Now().UnixNano() {
			t.Errorf("%q: timestamp %s, want the receive time", line, time.Unix(0, r.TS))
		}
		if line == "too old for the limits" && r.Metadata["level"] != "error" {
			t.Errorf("severity err gives level %q, want error", r.Metadata["level"])
		}
	}
	if _, ok := got["bad utf8 \uFFFD here"]; !ok {
		t.Errorf("invalid UTF-8 not replaced: %q", syslogKeys(got))
	}
	if _, ok := got[strings.Repeat("é", 32)]; !ok {
		t.Errorf("long line not cut at 64 bytes on a rune boundary: %q", syslogKeys(got))
	}
	raw, ok := got["<14>1 2024-13-01T00:00:00Z broken"]
	if !ok || raw.Labels != `{facility="user", host="127.0.0.1", job="syslog"}` {
		t.Errorf("malformed message not kept whole: %q", syslogKeys(got))
	}
}

func syslogKeys(m map[string]syslogStored) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestSyslogBatching(t *testing.T) {
	h := newSyslogHarness(t, func(c *SyslogConfig, _ *Config) { c.BatchSize = 10; c.BatchWait = time.Hour })
	c := h.dialTCP(t)
	var want []string
	for i := range 25 {
		line := fmt.Sprintf("line %02d", i)
		want = append(want, line)
		if _, err := io.WriteString(c, "<13>app: "+line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Two full batches are pushed at once; the last 5 wait for the connection to end.
	h.waitCount(t, 20)
	_ = c.Close()
	h.waitLines(t, want)
	// One stream, one partition: the order of a connection's messages holds.
	var got []string
	for _, r := range h.records(t) {
		got = append(got, r.Line)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestSyslogBatchWaitFlushesOpenConnection(t *testing.T) {
	h := newSyslogHarness(t, nil)
	c := h.dialTCP(t)
	if _, err := io.WriteString(c, "<13>app: while open\n"); err != nil {
		t.Fatal(err)
	}
	h.waitLines(t, []string{"while open"})
}

func TestSyslogIdleTimeoutClosesConnection(t *testing.T) {
	h := newSyslogHarness(t, func(c *SyslogConfig, _ *Config) { c.IdleTimeout = 50 * time.Millisecond })
	c := h.dialTCP(t)
	if _, err := io.WriteString(c, "<13>app: hi\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after idle timeout: %v, want EOF", err)
	}
	h.waitLines(t, []string{"hi"})
}

func TestSyslogMaxConnections(t *testing.T) {
	h := newSyslogHarness(t, func(c *SyslogConfig, _ *Config) { c.MaxConnections = 1 })
	first := h.dialTCP(t)
	if _, err := io.WriteString(first, "<13>app: first\n"); err != nil {
		t.Fatal(err)
	}
	h.waitLines(t, []string{"first"}) // the first connection is being served
	second := h.dialTCP(t)
	_ = second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("second connection over the limit: read %v, want it closed", err)
	}
}

func TestSyslogStopPushesPendingBatch(t *testing.T) {
	h := newSyslogHarness(t, func(c *SyslogConfig, _ *Config) { c.BatchSize = 2; c.BatchWait = time.Hour })
	c := h.dialTCP(t)
	// One write, so one read: once the first two are stored as a full batch,
	// the third sits in the server's next batch.
	if _, err := io.WriteString(c, "<13>app: one\n<13>app: two\n<13>app: pending\n"); err != nil {
		t.Fatal(err)
	}
	h.waitCount(t, 2)
	if err := services.StopAndAwaitTerminated(context.Background(), h.srv); err != nil {
		t.Fatal(err)
	}
	if got := h.lines(t); !reflect.DeepEqual(got, []string{"one", "pending", "two"}) {
		t.Fatalf("after stop: %v, want [one pending two]", got)
	}
}

func TestSyslogPushFailureIsCountedNotBlocking(t *testing.T) {
	h := newSyslogHarness(t, func(_ *SyslogConfig, c *Config) {
		c.Limits.IngestionRateMB, c.Limits.IngestionBurstSizeMB = 0.000001, 0.000001 // 1 byte: every batch is refused
	})
	c := h.dialTCP(t)
	if _, err := io.WriteString(c, "<13>app: refused line\n"); err != nil {
		t.Fatal(err)
	}
	discarded := h.d.metrics.discarded.WithLabelValues(syslogProtocol, DefaultTenant, ReasonRateLimited)
	syslogPoll(t, 10*time.Second, 1.0, func() any { return syslogCounter(t, discarded) })
	if got := h.lines(t); len(got) != 0 {
		t.Fatalf("stored %v, want nothing", got)
	}
}

func TestSyslogRateLimitedBatchIsRetried(t *testing.T) {
	h := newSyslogHarness(t, func(_ *SyslogConfig, c *Config) {
		c.Limits.IngestionRateMB, c.Limits.IngestionBurstSizeMB = 0.0002, 0.0001 // 200 B/s, burst 100 B
	})
	c := h.dialTCP(t)
	line := strings.Repeat("a", 80)
	if _, err := io.WriteString(c, "<13>app: 1"+line+"\n"); err != nil {
		t.Fatal(err)
	}
	h.waitLines(t, []string{"1" + line})
	// The bucket is empty now: this batch is refused with 429, then retried.
	if _, err := io.WriteString(c, "<13>app: 2"+line+"\n"); err != nil {
		t.Fatal(err)
	}
	h.waitLines(t, []string{"1" + line, "2" + line})
	limited := h.d.metrics.discarded.WithLabelValues(syslogProtocol, DefaultTenant, ReasonRateLimited)
	if n := syslogCounter(t, limited); n != 0 {
		t.Errorf("a batch that got in on retry counted %v discarded lines", n)
	}
}

func TestSyslogConfigValidate(t *testing.T) {
	valid := func() SyslogConfig {
		var c SyslogConfig
		c.RegisterFlags(flag.NewFlagSet("", flag.ContinueOnError))
		return c
	}
	tests := []struct {
		name   string
		mutate func(*SyslogConfig)
		ok     bool
	}{
		{"defaults", func(*SyslogConfig) {}, true},
		{"disabled ignores the rest", func(c *SyslogConfig) { c.ListenAddress = ""; c.BatchSize = 0 }, true},
		{"address without port", func(c *SyslogConfig) { c.ListenAddress = "127.0.0.1" }, false},
		{"bad tenant", func(c *SyslogConfig) { c.Tenant = "a/b" }, false},
		{"empty tenant", func(c *SyslogConfig) { c.Tenant = "" }, false},
		{"tiny message size", func(c *SyslogConfig) { c.MaxMessageSize = 100 }, false},
		{"negative idle timeout", func(c *SyslogConfig) { c.IdleTimeout = -1 }, false},
		{"no connections", func(c *SyslogConfig) { c.MaxConnections = 0 }, false},
		{"zero batch", func(c *SyslogConfig) { c.BatchSize = 0 }, false},
		{"zero batch wait", func(c *SyslogConfig) { c.BatchWait = 0 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			if c.ListenAddress != "127.0.0.1:5514" || c.Tenant != "fake" || c.MaxMessageSize != 64<<10 {
				t.Fatalf("defaults changed: %+v", c)
			}
			tc.mutate(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestSyslogDisabled(t *testing.T) {
	f := flag.NewFlagSet("", flag.ContinueOnError)
	var cfg Config
	cfg.RegisterFlags(f)
	srv := NewSyslogServer(SyslogConfig{}, NewDistributor(cfg, nil, NewMetrics(nil), nil), slog.New(slog.DiscardHandler))
	ctx := context.Background()
	if err := services.StartAndAwaitRunning(ctx, srv); err != nil {
		t.Fatal(err)
	}
	if srv.TCPAddr() != nil || srv.UDPAddr() != nil {
		t.Errorf("disabled server listens on %v %v", srv.TCPAddr(), srv.UDPAddr())
	}
	if err := services.StopAndAwaitTerminated(ctx, srv); err != nil {
		t.Fatal(err)
	}
}

func TestSyslogListenConflictFailsStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	f := flag.NewFlagSet("", flag.ContinueOnError)
	var cfg Config
	cfg.RegisterFlags(f)
	var scfg SyslogConfig
	scfg.RegisterFlags(f)
	scfg.ListenAddress = busy.Addr().String()
	srv := NewSyslogServer(scfg, NewDistributor(cfg, nil, NewMetrics(nil), nil), slog.New(slog.DiscardHandler))
	if err := services.StartAndAwaitRunning(context.Background(), srv); err == nil {
		t.Fatal("start on a busy port succeeded")
	}
}

func syslogCounter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// syslogPoll calls have until it returns want or d passes, as dskit's
// test.Poll does (whose package needs modules silt does not require).
func syslogPoll(t testing.TB, d time.Duration, want any, have func() any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := have()
		if reflect.DeepEqual(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: got %v, want %v", d, got, want)
		}
		time.Sleep(d / 200)
	}
}
