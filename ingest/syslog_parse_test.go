package ingest

import (
	"reflect"
	"testing"
	"time"
)

var syslogTestNow = time.Date(2024, 3, 15, 12, 0, 0, 0, time.UTC)

func syslogTS(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}

func TestSyslogParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want syslogMessage
	}{
		// RFC 5424
		{"5424 RFC example 1", "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick on /dev/pts/8",
			syslogMessage{pri: 34, ts: syslogTS("2003-10-11T22:14:15.003Z"), hostname: "mymachine.example.com", appName: "su", msgID: "ID47", msg: "'su root' failed for lonvick on /dev/pts/8"}},
		{"5424 RFC example 2 offset and micros", "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
			syslogMessage{pri: 165, ts: syslogTS("2003-08-24T12:14:15.000003Z"), hostname: "192.0.2.1", appName: "myproc", procID: "8710", msg: "%% It's time to make the do-nuts."}},
		{"5424 structured data and message", `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event`,
			syslogMessage{pri: 165, ts: syslogTS("2003-10-11T22:14:15.003Z"), hostname: "mymachine.example.com", appName: "evntslog", msgID: "ID47",
				sd: []syslogSDParam{{"exampleSDID@32473", "iut", "3"}, {"exampleSDID@32473", "eventSource", "Application"}, {"exampleSDID@32473", "eventID", "1011"}}, msg: "An application event"}},
		{"5424 two SD elements no message", `<165>1 2003-10-11T22:14:15.003Z host app - - [a@1 x="1"][b@2 y="2"]`,
			syslogMessage{pri: 165, ts: syslogTS("2003-10-11T22:14:15.003Z"), hostname: "host", appName: "app",
				sd: []syslogSDParam{{"a@1", "x", "1"}, {"b@2", "y", "2"}}}},
		{"5424 SD escapes", `<13>1 - h a - - [id k="q\"b\\s\]e\x"] m`,
			syslogMessage{pri: 13, hostname: "h", appName: "a", sd: []syslogSDParam{{"id", "k", `q"b\s]e\x`}}, msg: "m"}},
		{"5424 SD element without params", `<13>1 - h a - - [timeQuality] m`,
			syslogMessage{pri: 13, hostname: "h", appName: "a", msg: "m"}},
		{"5424 all NILVALUE", "<14>1 - - - - - -",
			syslogMessage{pri: 14}},
		{"5424 nil header with message", "<14>1 - - - - - - hello world",
			syslogMessage{pri: 14, msg: "hello world"}},
		{"5424 nanosecond fraction", "<14>1 2024-01-02T03:04:05.123456789+01:30 h a p m - x",
			syslogMessage{pri: 14, ts: syslogTS("2024-01-02T01:34:05.123456789Z"), hostname: "h", appName: "a", procID: "p", msgID: "m", msg: "x"}},
		{"5424 message keeps inner spaces and brackets", "<14>1 - h a - - -  [not sd] x ",
			syslogMessage{pri: 14, hostname: "h", appName: "a", msg: " [not sd] x "}},
		{"5424 pri 0", "<0>1 - h kernel - - - panic",
			syslogMessage{pri: 0, hostname: "h", appName: "kernel", msg: "panic"}},
		{"5424 bad timestamp is raw", "<14>1 2024-13-02T03:04:05Z h a - - - x",
			syslogMessage{pri: 14, raw: true, msg: "<14>1 2024-13-02T03:04:05Z h a - - - x"}},
		{"5424 truncated header is raw", "<14>1 2024-01-02T03:04:05Z host",
			syslogMessage{pri: 14, raw: true, msg: "<14>1 2024-01-02T03:04:05Z host"}},
		{"5424 unterminated SD is raw", `<14>1 - h a - - [id k="v] x`,
			syslogMessage{pri: 14, raw: true, msg: `<14>1 - h a - - [id k="v] x`}},
		{"5424 unquoted SD value is raw", `<14>1 - h a - - [id k=v] x`,
			syslogMessage{pri: 14, raw: true, msg: `<14>1 - h a - - [id k=v] x`}},
		{"5424 garbage instead of SD is raw", `<14>1 - h a - - x y`,
			syslogMessage{pri: 14, raw: true, msg: `<14>1 - h a - - x y`}},
		{"5424 double space in header is raw", "<14>1  - h a - - - x",
			syslogMessage{pri: 14, raw: true, msg: "<14>1  - h a - - - x"}},
		{"5424 Feb 30 is raw", "<14>1 2023-02-30T00:00:00Z h a - - - x",
			syslogMessage{pri: 14, raw: true, msg: "<14>1 2023-02-30T00:00:00Z h a - - - x"}},

		// RFC 3164
		{"3164 RFC example", "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
			syslogMessage{pri: 34, ts: syslogTS("2023-10-11T22:14:15Z"), hostname: "mymachine", appName: "su", msg: "'su root' failed for lonvick on /dev/pts/8"}},
		{"3164 tag with pid, space-padded day", "<13>Mar  5 01:02:03 web-1 nginx[1234]: GET / 200",
			syslogMessage{pri: 13, ts: syslogTS("2024-03-05T01:02:03Z"), hostname: "web-1", appName: "nginx", procID: "1234", msg: "GET / 200"}},
		{"3164 December read in January is last year", "<13>Dec 31 23:59:59 h app: bye",
			syslogMessage{pri: 13, ts: syslogTS("2023-12-31T23:59:59Z"), hostname: "h", appName: "app", msg: "bye"}},
		{"3164 no hostname, tag right after timestamp", "<86>Mar 15 11:00:00 sshd[77]: Accepted publickey",
			syslogMessage{pri: 86, ts: syslogTS("2024-03-15T11:00:00Z"), appName: "sshd", procID: "77", msg: "Accepted publickey"}},
		{"3164 RFC 3339 timestamp (RSYSLOG_ForwardFormat)", "<30>2024-03-15T11:59:58.25+00:00 db1 postgres[9]: checkpoint",
			syslogMessage{pri: 30, ts: syslogTS("2024-03-15T11:59:58.25Z"), hostname: "db1", appName: "postgres", procID: "9", msg: "checkpoint"}},
		{"3164 year and millis", "<187>Mar 14 2024 10:00:00.123 sw1 %LINK-3-UPDOWN: Interface down",
			syslogMessage{pri: 187, ts: syslogTS("2024-03-14T10:00:00.123Z"), hostname: "sw1", appName: "%LINK-3-UPDOWN", msg: "Interface down"}},
		{"3164 no tag keeps the whole message", "<13>Mar 15 11:00:00 host just some words",
			syslogMessage{pri: 13, ts: syslogTS("2024-03-15T11:00:00Z"), hostname: "host", msg: "just some words"}},
		{"3164 without timestamp", "<13>app: hello",
			syslogMessage{pri: 13, appName: "app", msg: "hello"}},
		{"3164 without PRI", "Mar 15 11:00:00 host app: no pri",
			syslogMessage{pri: syslogDefaultPRI, ts: syslogTS("2024-03-15T11:00:00Z"), hostname: "host", appName: "app", msg: "no pri"}},
		{"plain text is kept", "hello world",
			syslogMessage{pri: syslogDefaultPRI, msg: "hello world"}},
		{"colon inside a word is not a tag", "<13>see http://x/y now",
			syslogMessage{pri: 13, msg: "see http://x/y now"}},
		{"3164 bad month stays in message", "<13>Foo 15 11:00:00 host app: x",
			syslogMessage{pri: 13, msg: "Foo 15 11:00:00 host app: x"}},
		{"PRI out of range is raw", "<192>Mar 15 11:00:00 host app: x",
			syslogMessage{pri: syslogDefaultPRI, raw: true, msg: "<192>Mar 15 11:00:00 host app: x"}},
		{"PRI not a number is raw", "<ab>hello",
			syslogMessage{pri: syslogDefaultPRI, raw: true, msg: "<ab>hello"}},
		{"PRI with leading zero is raw", "<013>hello",
			syslogMessage{pri: syslogDefaultPRI, raw: true, msg: "<013>hello"}},
		{"empty message after PRI", "<13>",
			syslogMessage{pri: 13}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m syslogMessage
			parseSyslog(&m, tc.in, syslogTestNow, time.UTC)
			if len(m.sd) == 0 {
				m.sd = nil
			}
			if !reflect.DeepEqual(m, tc.want) {
				t.Errorf("parse %q\n got %+v\nwant %+v", tc.in, m, tc.want)
			}
		})
	}
}

func TestSyslogParseReusesSDSlice(t *testing.T) {
	var m syslogMessage
	parseSyslog(&m, `<13>1 - h a - - [x a="1"][y b="2"] m`, syslogTestNow, time.UTC)
	parseSyslog(&m, `<13>1 - h a - - - m`, syslogTestNow, time.UTC)
	if len(m.sd) != 0 {
		t.Fatalf("sd of the previous message leaked: %v", m.sd)
	}
	parseSyslog(&m, `<13>1 - h a - - [z c="3"] m`, syslogTestNow, time.UTC)
	if want := []syslogSDParam{{"z", "c", "3"}}; !reflect.DeepEqual(m.sd, want) {
		t.Fatalf("sd = %v, want %v", m.sd, want)
	}
}
