package ingest

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
)

// checkSyslogParse parses s and checks what holds for any input: no panic, a
// PRI in range, a raw message kept whole, a parsed MSG that is a suffix of
// the input, and a batch entry with valid UTF-8.
func checkSyslogParse(t *testing.T, s string) {
	var m syslogMessage
	parseSyslog(&m, s, syslogTestNow, time.UTC)
	if m.pri < 0 || m.pri > 191 {
		t.Fatalf("pri %d out of range for %q", m.pri, s)
	}
	if m.raw && m.msg != s {
		t.Fatalf("raw message %q is not the input %q", m.msg, s)
	}
	if !m.raw && !strings.HasSuffix(s, m.msg) {
		t.Fatalf("msg %q is not a suffix of %q", m.msg, s)
	}
	lim := Limits{MaxLineSize: 1 << 10, MaxLabelValueLength: 64}
	b := newSyslogBatch("fake", &lim, time.UTC)
	b.add([]byte(s), "127.0.0.1", syslogTestNow)
	req := b.take()
	for _, st := range req.Streams {
		for _, l := range st.Labels {
			if !utf8.ValidString(l.Value) || len(l.Value) > 64 {
				t.Fatalf("label %s=%q invalid", l.Name, l.Value)
			}
		}
		for _, e := range st.Entries {
			if !utf8.ValidString(e.Line) || len(e.Line) > 1<<10 {
				t.Fatalf("line %q invalid", e.Line)
			}
		}
	}
}

func FuzzSyslog5424(f *testing.F) {
	for _, s := range []string{
		"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed",
		`<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="App"][x@1 a="\"\\\]"] msg`,
		"<14>1 - - - - - -",
		"<14>1 2024-01-02T03:04:05.123456789+01:30 h a p m - x",
		`<14>1 - h a - - [id k="v] x`,
		"<14>1 2023-02-30T00:00:00Z h a - - - x",
		" ", "1 ", "12ab\n", "3 abc5 <13>x\x00\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSyslogParse(t, s)
		// Framing: the same bytes as a TCP stream, one byte per read, never
		// yield a message over the limit and always end.
		fr := newSyslogFramer(iotest.OneByteReader(strings.NewReader(s)), 480)
		for i := 0; ; i++ {
			msg, err := fr.next()
			if err != nil {
				if err != io.EOF {
					t.Fatalf("framer: %v", err)
				}
				break
			}
			if len(msg) > 480 || len(msg) == 0 || i > len(s) {
				t.Fatalf("framer returned %q (message %d of a %d-byte stream)", msg, i, len(s))
			}
			if !bytes.Contains([]byte(s), msg) {
				t.Fatalf("framer invented %q", msg)
			}
		}
	})
}

func FuzzSyslog3164(f *testing.F) {
	for _, s := range []string{
		"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
		"<13>Mar  5 01:02:03 web-1 nginx[1234]: GET / 200",
		"<30>2024-03-15T11:59:58.25+00:00 db1 postgres[9]: checkpoint",
		"<187>Mar 14 2024 10:00:00.123 sw1 %LINK-3-UPDOWN: Interface down",
		"Mar 15 11:00:00 host app: no pri",
		"<13>app[: x",
		"<192>x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSyslogParse(t, s)
		var m syslogMessage
		m.reset()
		parseRFC3164(&m, s, syslogTestNow, time.UTC)
		if strings.ContainsRune(m.appName, ' ') || strings.ContainsRune(m.hostname, ' ') {
			t.Fatalf("tag %q or host %q holds a space", m.appName, m.hostname)
		}
	})
}
