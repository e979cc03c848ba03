package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestJSONLinePushRoundTrip(t *testing.T) {
	base := time.Now().Add(-time.Minute).Truncate(time.Second)
	rfc := func(d time.Duration) string { return base.Add(d).UTC().Format(time.RFC3339Nano) }
	ns := func(d time.Duration) int64 { return base.Add(d).UnixNano() }
	const unknown = `{service_name="unknown_service"}`
	tests := []struct {
		name    string
		query   string
		headers []string
		body    string
		want    []testRecord
		wantNow bool // timestamps are the time of the push
	}{
		{
			name: "defaults",
			body: `{"_msg":"hello","_time":"` + rfc(0) + `","app":"x","n":12.5e1,"ok":true}` + "\n",
			want: []testRecord{{Key: unknown, Value: "hello", Timestamp: ns(0), Headers: []string{"app=x", "n=12.5e1", "ok=true"}}},
		},
		{
			name: "empty and CRLF lines are skipped",
			body: "\n" + `{"_msg":"a","_time":"` + rfc(0) + `"}` + "\r\n   \n\r\n" + `{"_msg":"b","_time":"` + rfc(1) + `"}`,
			want: []testRecord{{Key: unknown, Value: "a", Timestamp: ns(0)}, {Key: unknown, Value: "b", Timestamp: ns(1)}},
		},
		{
			name:  "msg field fallbacks",
			query: "_msg_field=message,log.text",
			body: `{"log":{"text":"nested"},"_time":"` + rfc(0) + `"}` + "\n" +
				`{"message":"","log":{"text":"empty message falls back"},"_time":"` + rfc(1) + `"}` + "\n" +
				`{"log":{"text":"second"},"message":"first wins","_time":"` + rfc(2) + `"}`,
			want: []testRecord{
				{Key: unknown, Value: "nested", Timestamp: ns(0)},
				{Key: unknown, Value: "empty message falls back", Timestamp: ns(1)},
				{Key: unknown, Value: "first wins", Timestamp: ns(2), Headers: []string{"log.text=second"}},
			},
		},
		{
			name:  "time field in every unit",
			query: "_time_field=ts",
			body: fmt.Sprintf(`{"_msg":"s","ts":%d}`+"\n"+`{"_msg":"ms","ts":%d}`+"\n"+`{"_msg":"us","ts":"%d"}`+"\n"+
				`{"_msg":"ns","ts":%d}`+"\n"+`{"_msg":"frac","ts":"%d.25"}`+"\n"+`{"_msg":"rfc","ts":"%s"}`+"\n"+`{"_msg":"space","ts":"%s"}`,
				base.Unix(), base.UnixMilli()+1, base.UnixMicro()+2, ns(3), base.Unix(), rfc(5*time.Millisecond),
				base.UTC().Format("2006-01-02 15:04:05.000")),
			want: []testRecord{
				{Key: unknown, Value: "s", Timestamp: ns(0)},
				{Key: unknown, Value: "ms", Timestamp: ns(time.Millisecond)},
				{Key: unknown, Value: "us", Timestamp: ns(2 * time.Microsecond)},
				{Key: unknown, Value: "ns", Timestamp: ns(3)},
				{Key: unknown, Value: "frac", Timestamp: ns(250 * time.Millisecond)},
				{Key: unknown, Value: "rfc", Timestamp: ns(5 * time.Millisecond)},
				{Key: unknown, Value: "space", Timestamp: ns(0)},
			},
		},
		{
			name:    "missing or zero time is now",
			body:    `{"_msg":"no time"}` + "\n" + `{"_msg":"zero","_time":0}` + "\n" + `{"_msg":"empty","_time":""}`,
			want:    []testRecord{{Key: unknown, Value: "no time"}, {Key: unknown, Value: "zero"}, {Key: unknown, Value: "empty"}},
			wantNow: true,
		},
		{
			name:  "stream fields",
			query: "_stream_fields=app,kubernetes.pod-name,host",
			body: `{"_msg":"a","_time":"` + rfc(0) + `","app":"api","kubernetes":{"pod-name":"p1"},"host":"h1","x":"1"}` + "\n" +
				`{"_msg":"b","_time":"` + rfc(1) + `","host":"h2"}` + "\n" +
				`{"_msg":"c","_time":"` + rfc(2) + `","kubernetes":{"pod-name":"p1"},"app":"api","host":"h1"}`,
			want: []testRecord{
				{Key: `{app="api", host="h1", kubernetes_pod_name="p1", service_name="api"}`, Value: "a", Timestamp: ns(0), Headers: []string{"x=1"}},
				{Key: `{app="api", host="h1", kubernetes_pod_name="p1", service_name="api"}`, Value: "c", Timestamp: ns(2)},
				{Key: `{host="h2", service_name="unknown_service"}`, Value: "b", Timestamp: ns(1)},
			},
		},
		{
			name:  "ignore fields",
			query: "ignore_fields=secret,debug.*",
			body:  `{"_msg":"m","_time":"` + rfc(0) + `","secret":"pw","debug":{"a":1,"b":{"c":2}},"debugger":"kept","keep":"k"}`,
			want:  []testRecord{{Key: unknown, Value: "m", Timestamp: ns(0), Headers: []string{"debugger=kept", "keep=k"}}},
		},
		{
			name:    "parameters from VL headers",
			headers: []string{"VL-Msg-Field", "text", "VL-Time-Field", "when", "VL-Stream-Fields", "svc", "VL-Ignore-Fields", "drop"},
			body:    `{"text":"from headers","when":"` + rfc(0) + `","svc":"billing","drop":"x","other":"y"}`,
			want:    []testRecord{{Key: `{service_name="unknown_service", svc="billing"}`, Value: "from headers", Timestamp: ns(0), Headers: []string{"other=y"}}},
		},
		{
			name:    "query arguments win over headers",
			query:   "_msg_field=q",
			headers: []string{"VL-Msg-Field", "h"},
			body:    `{"q":"query","h":"header","_time":"` + rfc(0) + `"}`,
			want:    []testRecord{{Key: unknown, Value: "query", Timestamp: ns(0), Headers: []string{"h=header"}}},
		},
		{
			name: "flattening, arrays, literals, nulls and escapes",
			body: `{"_msg":"tab\there \"q\" \u00e9\ud83d\ude00 \\ /","_time":"` + rfc(0) + `","a":{"b":{"c":"deep"},"n":null,"e":""},` +
				`"arr":[1, "x", {"y":null}],"f":false,"neg":-0.5,"k\u0065y":"escaped key","uni":"ü€"}`,
			want: []testRecord{{Key: unknown, Value: "tab\there \"q\" é😀 \\ /", Timestamp: ns(0),
				Headers: []string{"a.b.c=deep", `arr=[1, "x", {"y":null}]`, "f=false", "neg=-0.5", "key=escaped key", "uni=ü€"}}},
		},
		{
			name: "missing message",
			body: `{"_time":"` + rfc(0) + `","level":"info"}`,
			want: []testRecord{{Key: unknown, Value: missingMsg, Timestamp: ns(0), Headers: []string{"level=info"}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, nil)
			path := jsonlinePath
			if tc.query != "" {
				path += "?" + tc.query
			}
			before := time.Now().UnixNano()
			code, body := ts.post(t, path, []byte(tc.body), tc.headers...)
			after := time.Now().UnixNano()
			if code != http.StatusOK || body != "" {
				t.Fatalf("push: %d %q, want 200 and no body", code, body)
			}
			got := testRecords(ts.readAll(t, DefaultTenant, "logs"))
			if tc.wantNow {
				for i := range got {
					if got[i].Timestamp < before || got[i].Timestamp > after {
						t.Errorf("record %d: timestamp %d is not the push time [%d, %d]", i, got[i].Timestamp, before, after)
					}
					got[i].Timestamp = 0
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("records:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestJSONLinePushBadInput(t *testing.T) {
	now := time.Now()
	line := func(msg, tm string) string { return `{"_msg":` + msg + `,"_time":"` + tm + `"}` }
	ok := line(`"fine"`, now.Format(time.RFC3339Nano))
	smallMax := func(c *Config) { c.MaxRequestBytes, c.MaxInflightBytes = 1<<20, 4<<20 }
	runBadInputCases(t, jsonlinePath, []badInputCase{
		{name: "malformed line", body: []byte(ok + "\n" + `{"_msg":"x",}`), wantCode: 400, wantText: "line 2: byte 13: want a field name"},
		{name: "not an object", body: []byte(`[1,2]`), wantCode: 400, wantText: "line 1: byte 1: want a JSON object"},
		{name: "trailing data", body: []byte(`{"_msg":"x"} {}`), wantCode: 400, wantText: "unexpected data after the object"},
		{name: "unterminated string", body: []byte(`{"_msg":"x`), wantCode: 400, wantText: "unterminated string"},
		{name: "raw control character", body: []byte("{\"_msg\":\"a\tb\"}"), wantCode: 400, wantText: "control character in a string"},
		{name: "bad escape", body: []byte(`{"_msg":"\x"}`), wantCode: 400, wantText: "invalid escape"},
		{name: "bad unicode escape", body: []byte(`{"_msg":"\u12G4"}`), wantCode: 400, wantText: `want 4 hex digits after \u`},
		{name: "bad number", body: []byte(`{"_msg":"x","n":01}`), wantCode: 400, wantText: "want ',' or '}'"},
		{name: "nested too deep", body: []byte(`{"a":` + strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 71)), wantCode: 400, wantText: "nested deeper than 64"},
		{name: "bad time", body: []byte(line(`"x"`, "yesterday")), wantCode: 400, wantText: `line 1: timestamp "yesterday" is neither RFC 3339 nor a Unix timestamp`},
		{name: "negative time", body: []byte(`{"_msg":"x","_time":-5}`), wantCode: 400, wantText: "not a Unix timestamp at or after 1970"},
		{name: "time in the future", body: []byte(line(`"x"`, now.Add(time.Hour).Format(time.RFC3339))), wantCode: 400, wantText: "in the future"},
		{name: "time too old", body: []byte(ok + "\n" + line(`"x"`, now.Add(-30*24*time.Hour).Format(time.RFC3339))), wantCode: 400, wantText: "is older than"},
		{name: "line over the limit", body: []byte(line(`"`+strings.Repeat("y", 101)+`"`, now.Format(time.RFC3339))), cfg: func(c *Config) { c.Limits.MaxLineSize = 100 }, wantCode: 400, wantText: "line of 101 bytes is over the limit of 100"},
		{name: "invalid UTF-8", body: []byte(ok + "\n" + "{\"_msg\":\"\xff\"}"), wantCode: 400, wantText: "line 2 is not valid UTF-8"},
		{name: "label value too long", path: jsonlinePath + "?_stream_fields=app", body: []byte(`{"_msg":"x","app":"` + strings.Repeat("v", 3000) + `"}`), wantCode: 400, wantText: `value of label "app" is over 2048 bytes`},
		{name: "stream fields that sanitize alike", path: jsonlinePath + "?_stream_fields=a.b,a_b", body: []byte(`{"_msg":"x","a.b":"1","a_b":"2"}`), wantCode: 400, wantText: `duplicate label name "a_b"`},
		{name: "gzip bomb", body: gzipped(t, bytes.Repeat([]byte(ok+"\n"), 100_000)), headers: []string{"Content-Encoding", "gzip"}, cfg: smallMax, wantCode: 413, wantText: "gzip body decompresses to over"},
		{name: "missing tenant with auth", body: []byte(ok), auth: true, wantCode: 401, wantText: "no org id"},
		{name: "empty body", body: nil, wantCode: 400, wantText: "empty request body"},
	})
}

func TestParseLogTime(t *testing.T) {
	const sec = int64(1_700_000_000)
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "1700000000", want: sec * 1e9},
		{in: "1700000000.5", want: sec*1e9 + 5e8},
		{in: "1700000000.123456789123", want: sec*1e9 + 123456789},
		{in: "1700000000123", want: sec*1e9 + 123e6},
		{in: "1700000000123.5", want: sec*1e9 + 123e6 + 5e5},
		{in: "1700000000123456", want: sec*1e9 + 123456e3},
		{in: "1700000000123456789", want: sec*1e9 + 123456789},
		{in: "1.7e9", want: sec * 1e9},
		{in: "0", want: 0},
		{in: "2023-11-14T22:13:20Z", want: sec * 1e9},
		{in: "2023-11-14T23:13:20.25+01:00", want: sec*1e9 + 25e7},
		{in: "2023-11-14 22:13:20Z", want: sec * 1e9},
		{in: "2023-11-14T22:13:20", want: sec * 1e9},
		{in: "-1", wantErr: "at or after 1970"},
		{in: "17e", wantErr: "not a Unix timestamp"},
		{in: "1700000000.", wantErr: "not a Unix timestamp"},
		{in: "1700000000.5x", wantErr: "not a Unix timestamp"},
		{in: "99999999999999999999", wantErr: "not a Unix timestamp"},
		{in: "2023-13-14T22:13:20Z", wantErr: "neither RFC 3339"},
		{in: "3000-01-01T00:00:00Z", wantErr: "outside 1678-2262"},
	}
	for _, tc := range tests {
		got, err := parseLogTime([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseLogTime(%q) = %d, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseLogTime(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// TestJSONScannerMatchesEncodingJSON runs the scanner and encoding/json over
// the same lines: they must agree on validity and on every field.
func TestJSONScannerMatchesEncodingJSON(t *testing.T) {
	for _, line := range jsonScannerSeeds {
		checkScannerLine(t, []byte(line))
	}
}

var jsonScannerSeeds = []string{
	`{}`, ` { } `, `{"a":"b"}`, `{"a":1,"b":-0.5e+10,"c":true,"d":false,"e":null}`,
	`{"a":{"b":{"c":[1,{"d":[]},"x"]}},"e":""}`, `{"s":"\"\\\/\b\f\n\r\t\u0041\u00e9\ud83d\ude00\ud800\udc00x"}`,
	`{"bad pair":"\ud800\u0041","lone low":"\udc00","high then escape":"\ud800\n"}`, `{"0123456789abcdef":"0123456789abcdef0123456789\"abcdef"}`,
	`{"a":"b",}`, `{"a" "b"}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":tru}`, `{"a":nul}`, `[1]`, `"x"`, `{"a":"b"}x`,
	`{"a":[1,]}`, `{"a":{"b":1,}}`, `{"a":"\u12"}`, `{"a":"\q"}`, "{\"a\":\"\x01\"}", `{"a":-}`, `{"a":-01}`, `{"é":"ü"}`, `{"a":1}   `, `{"a":[1 2]}`,
}

// checkScannerLine checks the scanner against encoding/json on one line of
// valid UTF-8.
func checkScannerLine(t *testing.T, line []byte) {
	t.Helper()
	s := jsonScanner{maxArena: 2*len(line) + 64<<10}
	blank, err := s.parse(line)
	if blank {
		if len(bytes.TrimLeft(line, " \t\r\n")) != 0 {
			t.Fatalf("%q: blank but has content", line)
		}
		return
	}
	var depthErr *jsonSyntaxError
	if errors.As(err, &depthErr) && strings.Contains(depthErr.msg, "nested deeper") {
		return
	}
	isObject := json.Valid(line) && bytes.TrimLeft(line, " \t\r\n")[0] == '{'
	if (err == nil) != isObject {
		t.Fatalf("%q: scanner error %v, but encoding/json says it is a valid object: %v", line, err, isObject)
	}
	if err != nil {
		return
	}
	want, err := flattenJSON(nil, "", false, line)
	if err != nil {
		t.Fatalf("%q: encoding/json: %v", line, err)
	}
	if len(s.fields) != len(want) {
		t.Fatalf("%q: scanner has %d fields, encoding/json %d: %+v", line, len(s.fields), len(want), want)
	}
	for i, f := range s.fields {
		name, value, w := string(s.bytes(f.name)), s.bytes(f.value), want[i]
		if name != w.name {
			t.Fatalf("%q: field %d is named %q, encoding/json says %q", line, i, name, w.name)
		}
		if w.array { // arrays are kept as their JSON text
			var g, r any
			if json.Unmarshal(value, &g) != nil || json.Unmarshal(w.value, &r) != nil || !reflect.DeepEqual(g, r) {
				t.Fatalf("%q: field %q is %s, encoding/json has %s", line, name, value, w.value)
			}
			continue
		}
		if string(value) != string(w.value) {
			t.Fatalf("%q: field %q is %q, encoding/json has %q", line, name, value, w.value)
		}
	}
}

type flatField struct {
	name  string
	value []byte
	array bool
}

// flattenJSON flattens the object obj as the scanner does, in order and with
// duplicates, using encoding/json: dotted names, strings unescaped, other
// scalars as written, nulls dropped.
func flattenJSON(dst []flatField, prefix string, nested bool, obj []byte) ([]flatField, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name := tok.(string)
		if nested {
			name = prefix + "." + name
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		switch raw[0] {
		case '{':
			if dst, err = flattenJSON(dst, name, true, raw); err != nil {
				return nil, err
			}
		case 'n':
		case '"':
			var str string
			if err := json.Unmarshal(raw, &str); err != nil {
				return nil, err
			}
			dst = append(dst, flatField{name: name, value: []byte(str)})
		default:
			dst = append(dst, flatField{name: name, value: raw, array: raw[0] == '['})
		}
	}
	return dst, nil
}

func FuzzJSONLine(f *testing.F) {
	for _, s := range jsonScannerSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"_msg":"a","_time":"2023-11-14T22:13:20Z","app":"x","host":"h"}` + "\n\n" + `{"_msg":"b","_time":1700000000.5,"app":"y"}`))
	params := JSONLineParams{MsgFields: []string{"_msg", "message"}, TimeField: "_time", StreamFields: []string{"app", "host"}, IgnoreFields: []string{"x.*"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeJSONLines(data, params)
		if err != nil {
			if e := AsError(err); e.Status != 400 {
				t.Fatalf("error %v has status %d, want 400", err, e.Status)
			}
		} else {
			for _, s := range req.Streams {
				if _, ok := s.Labels.get(ServiceNameLabel); !ok || len(s.Entries) == 0 {
					t.Fatalf("stream %v: no service_name or no entries", s.Labels)
				}
			}
		}
		if !utf8Valid(data) {
			return
		}
		for line := range bytes.SplitSeq(data, []byte{'\n'}) {
			checkScannerLine(t, line)
		}
	})
}

// FuzzParseRFC3339Fast holds the fast path to time.Parse: whatever it accepts,
// time.Parse accepts with the same instant.
func FuzzParseRFC3339Fast(f *testing.F) {
	for _, s := range []string{"2023-11-14T22:13:20Z", "2023-11-14T23:13:20.25+01:00", "2024-02-29 00:00:00.123456789-07:30", "2023-02-29T00:00:00Z", "2199-12-31T23:59:59.999999999Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ns, ok := parseRFC3339Fast(s)
		if !ok {
			return
		}
		layout := time.RFC3339Nano
		if s[10] == ' ' {
			layout = "2006-01-02 15:04:05.999999999Z07:00"
		}
		tm, err := time.Parse(layout, s)
		if err != nil || tm.UnixNano() != ns {
			t.Fatalf("%q: fast %d, time.Parse %d, %v", s, ns, tm.UnixNano(), err)
		}
	})
}

func utf8Valid(b []byte) bool { return invalidUTF8At(b) == len(b) }

// loghubBody builds an NDJSON body as the bench load generator sends it: every
// line of /work/shared/data/loghub as {"_msg","_time","app","host"}.
func loghubBody(b *testing.B) (body []byte, lines int) {
	files, _ := filepath.Glob("/work/shared/data/loghub/*.log")
	if len(files) == 0 {
		b.Skip("no loghub data in /work/shared/data/loghub")
	}
	slices.Sort(files)
	ts := time.Now()
	for i, name := range files {
		fh, err := os.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		app := strings.TrimSuffix(filepath.Base(name), "_2k.log")
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			ts = ts.Add(time.Millisecond)
			line, err := json.Marshal(map[string]string{
				"_msg": sc.Text(), "_time": ts.UTC().Format(time.RFC3339Nano), "app": app, "host": fmt.Sprintf("host-%d", (lines+i)%8),
			})
			if err != nil {
				b.Fatal(err)
			}
			body = append(append(body, line...), '\n')
			lines++
		}
		fh.Close()
	}
	return body, lines
}

// BenchmarkJSONLineDecode measures the decode step of the jsonline receiver on
// loghub lines; lines/s is per core (run with -cpu 1).
func BenchmarkJSONLineDecode(b *testing.B) {
	body, lines := loghubBody(b)
	params := JSONLineParams{MsgFields: []string{"_msg"}, TimeField: "_time", StreamFields: []string{"app", "host"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	cpu0 := cpuTime()
	for b.Loop() {
		req, err := DecodeJSONLines(body, params)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := req.Lines(); n != lines {
			b.Fatalf("decoded %d lines, want %d", n, lines)
		}
	}
	reportLineRates(b, lines, cpu0)
}

// reportLineRates reports lines per second of wall time and per second of
// process CPU time (GC included), which a busy machine does not distort.
func reportLineRates(b *testing.B, lines int, cpu0 time.Duration) {
	total := float64(lines) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(total/(cpuTime()-cpu0).Seconds(), "lines/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJSONLineDecodeStdlib is the encoding/json baseline the hand-written
// scanner is measured against (decode only, no grouping).
func BenchmarkJSONLineDecodeStdlib(b *testing.B) {
	body, lines := loghubBody(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	cpu0 := cpuTime()
	for b.Loop() {
		for line := range bytes.SplitSeq(body, []byte{'\n'}) {
			if len(line) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(line, &m); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportLineRates(b, lines, cpu0)
}

// TestScanPlain checks the SWAR/SIMD scan against a byte loop for every
// length, start and position of each kind of stop byte.
func TestScanPlain(t *testing.T) {
	naive := func(b []byte, i int) (int, bool) {
		ascii := true
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
				break
			} else if c >= 0x80 {
				ascii = false
			}
		}
		return i, ascii
	}
	for n := 0; n < 48; n++ {
		for start := 0; start <= min(n, 3); start++ {
			for _, stop := range []byte{'"', '\\', 0x00, 0x1f, '\n', 'x'} {
				for pos := start; pos <= n; pos++ {
					for _, hi := range []int{-1, start, n - 1} {
						b := bytes.Repeat([]byte{'a'}, n)
						if hi >= start && hi < n {
							b[hi] = 0xc3
						}
						if pos < n {
							b[pos] = stop
						}
						gi, ga := scanPlain(b, start)
						wi, wa := naive(b, start)
						if gi != wi || ga != wa {
							t.Fatalf("scanPlain(%q, %d) = %d, %v; want %d, %v", b, start, gi, ga, wi, wa)
						}
					}
				}
			}
		}
	}
}
