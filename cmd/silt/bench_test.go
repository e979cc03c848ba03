package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/grafana/loki/pkg/push"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

// benchSample is a small corpus in the style of loghub's files.
var benchSample = map[string]string{
	"HDFS_2k.log": "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating\r\n" +
		"081109 203807 222 INFO dfs.DataNode$PacketResponder: Received block blk_-6952295868487656571 of size 67108864 from /10.251.39.179\r\n\r\n",
	"OpenStack_2k.log": "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server [req-38101a0b-2096-447d-96ea-a692162415ae] \"GET /v2/servers/detail HTTP/1.1\" status: 200 len: 1893\n" +
		"quote \" backslash \\ tab \t and unicode é\n",
	"Apache_2k.log": "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties\n",
}

// writeBenchCorpus writes benchSample to a temp dir and returns its glob.
func writeBenchCorpus(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range benchSample {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "*.log")
}

// templateMask renders a template with its ID segments as d (digits), D
// (digits, first non-zero), x and X (hex).
func templateMask(t template) string {
	var b strings.Builder
	for _, s := range t.segs {
		c := map[segKind]string{segDigits: "d", segDigitsNZ: "D", segHexLower: "x", segHexUpper: "X"}[s.kind]
		if s.kind == segLiteral {
			b.WriteString(t.line[s.start:s.end])
			continue
		}
		b.WriteString(strings.Repeat(c, s.end-s.start))
	}
	return b.String()
}

func TestBenchTemplate(t *testing.T) {
	for _, tc := range []struct{ name, line, mask string }{
		{"hdfs", "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38865049064139660 terminating",
			"dddddd DDDDDD DDD INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_DDDDDDDDDDDDDDDDD terminating"},
		{"uuid", "instance: 3edec1e4-f678-40a2-a3e2-6f0f8d8e4d1a done", "instance: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx done"},
		{"upper hex", "id=AB12CD34 and 3eDc", "id=XXXXXXXX and 3eDc"},
		{"ip and port", "from 10.0.0.1 port 22", "from DD.0.0.1 port DD"},
		{"digits inside words", "jk2_init() Found child 6725 in workers2.properties", "jk2_init() Found child DDDD in workers2.properties"},
		{"words that look like hex", "cafe DEADBEEF 0xAB12 face", "cafe DEADBEEF 0xABDD face"},
		{"no ids", "plain text: a b c", "plain text: a b c"},
		{"unicode kept", "é 42 ü", "é DD ü"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := templateMask(parseTemplate(tc.line)); got != tc.mask {
				t.Errorf("mask\n got %q\nwant %q", got, tc.mask)
			}
		})
	}
}

// checkRandomized checks that line is tmpl with only its ID characters
// changed, and to characters of the same class.
func checkRandomized(t *testing.T, tmpl template, line string) {
	t.Helper()
	if len(line) != len(tmpl.line) {
		t.Fatalf("%q: length %d, template %q has %d", line, len(line), tmpl.line, len(tmpl.line))
	}
	for _, s := range tmpl.segs {
		for i := s.start; i < s.end; i++ {
			c := line[i]
			var ok bool
			switch s.kind {
			case segDigits:
				ok = isDigit(c)
			case segDigitsNZ:
				ok = isDigit(c) && (c != '0' || i > s.start)
			case segHexLower:
				ok = strings.IndexByte(hexLowerChars, c) >= 0
			case segHexUpper:
				ok = strings.IndexByte(hexUpperChars, c) >= 0
			default:
				ok = c == tmpl.line[i]
			}
			if !ok {
				t.Fatalf("%q byte %d (%q) does not fit template %q (mask %q)", line, i, c, tmpl.line, templateMask(tmpl))
			}
		}
	}
}

func TestBenchCorpus(t *testing.T) {
	srcs, err := loadCorpusSources(writeBenchCorpus(t))
	if err != nil {
		t.Fatal(err)
	}
	apps := []string{}
	for _, s := range srcs {
		apps = append(apps, s.app)
		for _, tm := range s.templates {
			if strings.ContainsAny(tm.line, "\r\n") || tm.line == "" {
				t.Errorf("template %q keeps a CR, LF or is empty", tm.line)
			}
		}
	}
	if want := []string{"Apache_2k", "HDFS_2k", "OpenStack_2k"}; !slices.Equal(apps, want) {
		t.Fatalf("apps %v, want %v", apps, want)
	}
	a := buildCorpus(srcs, 600, 3, 7)
	b := buildCorpus(srcs, 600, 3, 7)
	c := buildCorpus(srcs, 600, 3, 8)
	if a.data != b.data || !slices.Equal(a.stream, b.stream) {
		t.Error("the same seed built different corpora")
	}
	if a.data == c.data {
		t.Error("different seeds built the same corpus")
	}
	if len(a.streams) != 9 || a.len() != 600 {
		t.Fatalf("%d streams and %d lines, want 9 and 600", len(a.streams), a.len())
	}
	seen := map[string]bool{}
	for i := 0; i < a.len(); i++ {
		src := &srcs[i%len(srcs)]
		tm := src.templates[(i/len(srcs))%len(src.templates)]
		line := a.line(i)
		checkRandomized(t, tm, line)
		if st := a.labels(i); st.app != src.app {
			t.Fatalf("line %d of %s has app %q", i, src.app, st.app)
		}
		if len(tm.segs) > 1 || tm.segs[0].kind != segLiteral {
			if line == tm.line || seen[line] {
				t.Errorf("line %d %q repeats its template or an earlier line", i, line)
			}
		} else if line != tm.line {
			t.Errorf("line %q without IDs changed to %q", tm.line, line)
		}
		seen[line] = true
	}
}

// benchEntry is one decoded entry; ts is in ns (ms for remote_write).
type benchEntry struct {
	app, host, line string
	ts              int64
}

// benchDecoders decode each protocol's body (after Content-Encoding) with the
// same libraries the receivers use.
var benchDecoders = map[string]func(t *testing.T, body []byte) []benchEntry{
	"jsonline": func(t *testing.T, body []byte) []benchEntry {
		var out []benchEntry
		for _, l := range bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n")) {
			var m map[string]string
			mustJSON(t, l, &m)
			out = append(out, benchEntry{m["app"], m["host"], m["_msg"], parseRFC3339(t, m["_time"])})
		}
		return out
	},
	"bulk": func(t *testing.T, body []byte) []benchEntry {
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		var out []benchEntry
		for i := 0; i+1 < len(lines); i += 2 {
			var action map[string]map[string]string
			mustJSON(t, lines[i], &action)
			if action["index"]["_index"] == "" {
				t.Fatalf("action line %s", lines[i])
			}
			var doc map[string]string
			mustJSON(t, lines[i+1], &doc)
			out = append(out, benchEntry{doc["app"], doc["host"], doc["message"], parseRFC3339(t, doc["@timestamp"])})
		}
		return out
	},
	"loki-json": func(t *testing.T, body []byte) []benchEntry {
		var req struct {
			Streams []struct {
				Stream map[string]string
				Values [][2]string
			}
		}
		mustJSON(t, body, &req)
		var out []benchEntry
		for _, s := range req.Streams {
			for _, v := range s.Values {
				ts, err := strconv.ParseInt(v[0], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, benchEntry{s.Stream["app"], s.Stream["host"], v[1], ts})
			}
		}
		return out
	},
	"loki":         decodeLokiProto,
	"otlp":         decodeOTLP,
	"syslog":       decodeSyslog,
	"remote_write": decodeRemoteWrite,
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func parseRFC3339(t *testing.T, s string) int64 {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts.UnixNano()
}

func decodeLokiProto(t *testing.T, body []byte) []benchEntry {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var req push.PushRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	var out []benchEntry
	for _, s := range req.Streams {
		var app, host string
		if _, err := fmt.Sscanf(s.Labels, "{app=%q, host=%q}", &app, &host); err != nil {
			t.Fatalf("labels %q: %v", s.Labels, err)
		}
		for _, e := range s.Entries {
			out = append(out, benchEntry{app, host, e.Line, e.Timestamp.UnixNano()})
		}
	}
	return out
}

func decodeOTLP(t *testing.T, body []byte) []benchEntry {
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	var out []benchEntry
	rls := req.Logs().ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		attrs := rls.At(i).Resource().Attributes()
		app, _ := attrs.Get("service.name")
		host, _ := attrs.Get("host.name")
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				r := recs.At(k)
				out = append(out, benchEntry{app.Str(), host.Str(), r.Body().Str(), int64(r.Timestamp())})
			}
		}
	}
	return out
}

func decodeSyslog(t *testing.T, body []byte) []benchEntry {
	var out []benchEntry
	rd := bufio.NewReader(bytes.NewReader(body))
	for {
		var n int
		if _, err := fmt.Fscanf(rd, "%d ", &n); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(rd, msg); err != nil {
			t.Fatal(err)
		}
		f := strings.SplitN(string(msg), " ", 8)
		if len(f) != 8 || f[0] != "<14>1" || f[4] != "-" || f[5] != "-" || f[6] != "-" {
			t.Fatalf("syslog message %q", msg)
		}
		out = append(out, benchEntry{f[3], f[2], f[7], parseRFC3339(t, f[1])})
	}
}

func decodeRemoteWrite(t *testing.T, body []byte) []benchEntry {
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatal(err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	var out []benchEntry
	for _, ts := range req.Timeseries {
		l := map[string]string{}
		for _, lb := range ts.Labels {
			l[lb.Name] = lb.Value
		}
		if l["__name__"] != "silt_bench_line_bytes" {
			t.Fatalf("series %v", l)
		}
		for _, s := range ts.Samples {
			out = append(out, benchEntry{l["app"], l["host"], strconv.Itoa(int(s.Value)), s.Timestamp})
		}
	}
	return out
}

// expectedEntries is what decoding b should give for protocol name.
func expectedEntries(name string, b benchBatch) []benchEntry {
	var out []benchEntry
	perStream := map[uint16]int64{}
	for j := 0; j < b.n; j++ {
		i := b.index(j)
		st := b.c.labels(i)
		e := benchEntry{st.app, st.host, b.c.line(i), b.ts(j)}
		switch name {
		case "syslog":
			e.ts = e.ts / 1000 * 1000
		case "remote_write":
			e.line = strconv.Itoa(len(e.line))
			e.ts = b.t0/1e6 + perStream[b.c.stream[i]]
			perStream[b.c.stream[i]]++
		}
		out = append(out, e)
	}
	return out
}

func sortEntries(es []benchEntry) {
	slices.SortFunc(es, func(a, b benchEntry) int {
		return strings.Compare(fmt.Sprint(a.app, a.host, a.ts, a.line), fmt.Sprint(b.app, b.host, b.ts, b.line))
	})
}

func TestBenchEncoders(t *testing.T) {
	srcs, err := loadCorpusSources(writeBenchCorpus(t))
	if err != nil {
		t.Fatal(err)
	}
	c := buildCorpus(srcs, 300, 3, 1)
	b := benchBatch{c: c, start: 250, n: 100, t0: 1_700_000_000_123_456_789} // wraps around
	for name, p := range benchProtocols {
		for _, gz := range []bool{false, true} {
			if gz && !p.gzipOK {
				continue
			}
			t.Run(fmt.Sprintf("%s gzip=%v", name, gz), func(t *testing.T) {
				e := newBenchEncoder(p, c, gz)
				var body []byte
				for range 2 { // the second time reuses the encoder's scratch space
					var payload int
					body, payload, err = e.encode(b, body)
					if err != nil {
						t.Fatal(err)
					}
					if !gz && !p.snappy && payload != len(body) {
						t.Errorf("payload %d bytes, body %d", payload, len(body))
					}
				}
				if gz {
					zr, err := gzip.NewReader(bytes.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					if body, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				got, want := benchDecoders[name](t, body), expectedEntries(name, b)
				sortEntries(got)
				sortEntries(want)
				if !slices.Equal(got, want) {
					t.Fatalf("decoded %d entries, want %d\nfirst got  %+v\nfirst want %+v", len(got), len(want), got[0], want[0])
				}
			})
		}
	}
}

func TestBenchLatencyHistogram(t *testing.T) {
	for b := 1; b < len(latencyHistogram{}.counts); b++ {
		if latencyUpper(b) <= latencyUpper(b-1) || latencyBucket(latencyUpper(b)) != b || latencyBucket(latencyUpper(b-1)+1) != b {
			t.Fatalf("bucket %d: upper %d, previous upper %d", b, latencyUpper(b), latencyUpper(b-1))
		}
		if latencyUpper(b) > 1<<40 {
			break
		}
	}
	var h latencyHistogram
	for i := 1; i <= 10000; i++ {
		h.observe(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := time.Duration(q*10000) * time.Microsecond
		if got := h.quantile(q); got < want || float64(got) > float64(want)*1.07 {
			t.Errorf("q%.2f = %s, want %s within 7%%", q, got, want)
		}
	}
	if h.quantile(1) != 10*time.Millisecond || h.max != 10*time.Millisecond {
		t.Errorf("q1 %s, max %s", h.quantile(1), h.max)
	}
}

func TestBenchProcStats(t *testing.T) {
	busy := time.Now()
	for time.Since(busy) < 30*time.Millisecond {
	}
	cpu, err := procCPUSeconds(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Errorf("procCPUSeconds = %g, %v", cpu, err)
	}
	rss, hwm, err := procMemory(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Errorf("procMemory = %d, %d, %v", rss, hwm, err)
	}
	if cpuSeconds() <= 0 {
		t.Error("cpuSeconds is 0")
	}
}

func TestBenchRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{"": time.Second, "3": 3 * time.Second, "0": 0, "soon": time.Second,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0} {
		if got := retryAfter(in); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBenchFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		target string
		err    string
	}{
		{nil, "http://127.0.0.1:3100/api/v1/push/jsonline?_stream_fields=app,host", ""},
		{[]string{"-url", "http://vl:9428/", "-path", "/insert/jsonline"}, "http://vl:9428/insert/jsonline?_stream_fields=app,host", ""},
		{[]string{"-protocol", "loki", "-loki-json", "-url", "https://loki/base"}, "https://loki/base/loki/api/v1/push", ""},
		{[]string{"-protocol", "bulk", "-query", "_msg_field=message"}, "http://127.0.0.1:3100/_bulk?_msg_field=message", ""},
		{[]string{"-protocol", "syslog"}, "127.0.0.1:5514", ""},
		{[]string{"-protocol", "syslog", "-url", "tcp://h:601"}, "h:601", ""},
		{[]string{"-protocol", "loki-json"}, "", "unknown -protocol"},
		{[]string{"-protocol", "nope"}, "", "unknown -protocol"},
		{[]string{"-protocol", "loki", "-gzip"}, "", "-gzip does not apply"},
		{[]string{"-loki-json"}, "", "needs -protocol loki"},
		{[]string{"-batch", "0"}, "", "at least 1"},
		{[]string{"-url", "127.0.0.1:3100"}, "", "http:// or https://"},
		{[]string{"-protocol", "syslog", "-url", "http://x/"}, "", "host:port"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cfg, err := parseBenchArgs(tc.args, io.Discard)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			case tc.err == "" && err != nil:
				t.Fatal(err)
			case tc.err == "" && cfg.target != tc.target:
				t.Errorf("target %q, want %q", cfg.target, tc.target)
			}
		})
	}
}

// BenchmarkBenchEncode measures the generator's encoding cost per protocol
// (1000-line batches); SetBytes is the uncompressed payload.
func BenchmarkBenchEncode(b *testing.B) {
	glob := filepath.Join("..", "..", "..", "shared", "data", "loghub", "*.log")
	srcs, err := loadCorpusSources(glob)
	if err != nil {
		b.Skip(err)
	}
	c := buildCorpus(srcs, 100_000, 4, 1)
	for _, name := range []string{"jsonline", "loki", "loki-json", "bulk", "otlp", "syslog"} {
		b.Run(name, func(b *testing.B) {
			e := newBenchEncoder(benchProtocols[name], c, false)
			var body []byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				var payload int
				body, payload, err = e.encode(benchBatch{c: c, start: i * 1000 % c.len(), n: 1000, t0: time.Now().UnixNano()}, body)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(payload))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/line")
		})
	}
}

// BenchmarkBenchCorpus measures building the line pool.
func BenchmarkBenchCorpus(b *testing.B) {
	srcs, err := loadCorpusSources(filepath.Join("..", "..", "..", "shared", "data", "loghub", "*.log"))
	if err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		buildCorpus(srcs, 100_000, 4, 1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100_000, "ns/line")
}

// TestSeriesTemplate: the patched copies of a series template are the
// requests prompb would marshal for each round.
func TestSeriesTemplate(t *testing.T) {
	ts0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixMilli()
	tmpl, err := newSeriesTemplate(100, 250, ts0)
	if err != nil {
		t.Fatal(err)
	}
	var raw, body []byte
	for _, round := range []int{0, 1, 77} {
		ts := ts0 + int64(round)*15_000
		var ok bool
		if raw, body, ok = tmpl.encode(raw, body, round, ts); !ok {
			t.Fatalf("round %d: timestamp %d not encodable", round, ts)
		}
		plain, err := snappy.Decode(nil, body)
		if err != nil {
			t.Fatal(err)
		}
		var wr prompb.WriteRequest
		if err := wr.Unmarshal(plain); err != nil {
			t.Fatal(err)
		}
		if len(wr.Timeseries) != 150 {
			t.Fatalf("%d series, want 150", len(wr.Timeseries))
		}
		for i, s := range wr.Timeseries {
			k := 100 + i
			want := fmt.Sprint(seriesLabels(k), []prompb.Sample{{Timestamp: ts, Value: float64(round * (k%7 + 1))}})
			if got := fmt.Sprint(s.Labels, s.Samples); got != want {
				t.Fatalf("round %d, series %d: %s, want %s", round, k, got, want)
			}
		}
	}
	if _, _, ok := tmpl.encode(raw, body, 1, 1<<50); ok {
		t.Error("a timestamp of another varint length was patched in")
	}
}
