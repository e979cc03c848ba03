package ingest

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

// syslogE2ELines are sent through a real rsyslogd and must come out of silt
// byte for byte: quotes, backslashes, brackets, non-ASCII, inner spaces, a
// long line.
var syslogE2ELines = []string{
	"first line",
	`quote " backslash \ bracket ] brace }`,
	"héllo wörld ✓ 日本語",
	"  two leading spaces, trailing one ",
	"key=value level=info msg=\"something happened\"",
	strings.Repeat("long-", 600),
	"last line",
}

// startRsyslog runs rsyslogd in the foreground with a config that accepts TCP
// (LF framing) on a free 127.0.0.1 port and forwards everything from it to
// forwardPort with the given action parameters. It returns the input port.
func startRsyslog(t *testing.T, forwardPort int, action string) int {
	t.Helper()
	bin := testtool.Require(t, "rsyslogd")
	dir := t.TempDir()
	portFile := filepath.Join(dir, "imtcp.port")
	conf := fmt.Sprintf(`global(workDirectory=%q)
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName=%q ruleset="forward")
ruleset(name="forward") {
	action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" %s)
}
`, dir, portFile, forwardPort, action)
	return testtool.RunRsyslogd(t, bin, dir, conf, portFile)
}

// sendToRsyslog writes messages, one per line, to rsyslog's TCP input.
func sendToRsyslog(t *testing.T, port int, msgs []string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range msgs {
		if _, err := io.WriteString(c, m+"\n"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSyslogRsyslogE2E5424OctetCounted(t *testing.T) {
	h := newSyslogHarness(t, nil)
	port := startRsyslog(t, h.srv.TCPAddr().(*net.TCPAddr).Port,
		`template="RSYSLOG_SyslogProtocol23Format" TCP_Framing="octet-counted"`)
	sent := time.Now().UTC().Truncate(time.Millisecond)
	var msgs []string
	for i, line := range syslogE2ELines {
		msgs = append(msgs, fmt.Sprintf(`<165>1 %s client-%d.example myapp 4242 MSG%d [ex@32473 seq="%d" q="a\"b"] %s`,
			sent.Format("2006-01-02T15:04:05.000Z07:00"), i%2, i, i, line))
	}
	sendToRsyslog(t, port, msgs)
	h.waitLines(t, syslogE2ELines)

	for _, r := range h.records(t) {
		i := syslogIndexOf(syslogE2ELines, r.Line)
		want := fmt.Sprintf(`{app="myapp", facility="local4", host="client-%d.example", job="syslog"}`, i%2)
		if r.Labels != want {
			t.Errorf("line %d: labels %s, want %s", i, r.Labels, want)
		}
		if r.TS != sent.UnixNano() {
			t.Errorf("line %d: timestamp %s, want the sender's %s", i, time.Unix(0, r.TS).UTC(), sent)
		}
		md := r.Metadata
		if md["severity"] != "notice" || md["level"] != "info" || md["procid"] != "4242" || md["msgid"] != fmt.Sprintf("MSG%d", i) ||
			md["sd_ex_32473_seq"] != strconv.Itoa(i) || md["sd_ex_32473_q"] != `a"b` {
			t.Errorf("line %d: metadata %v", i, md)
		}
	}
}

func TestSyslogRsyslogE2E3164Newline(t *testing.T) {
	h := newSyslogHarness(t, nil)
	port := startRsyslog(t, h.srv.TCPAddr().(*net.TCPAddr).Port,
		`template="RSYSLOG_TraditionalForwardFormat" TCP_Framing="traditional"`)
	sent := time.Now().Truncate(time.Second)
	var msgs []string
	for _, line := range syslogE2ELines {
		msgs = append(msgs, fmt.Sprintf("<30>%s web-1 nginx[77]: %s", sent.Format(time.Stamp), line))
	}
	sendToRsyslog(t, port, msgs)
	h.waitLines(t, syslogE2ELines)

	for _, r := range h.records(t) {
		if want := `{app="nginx", facility="daemon", host="web-1", job="syslog"}`; r.Labels != want {
			t.Errorf("labels %s, want %s", r.Labels, want)
		}
		if r.TS != sent.UnixNano() {
			t.Errorf("timestamp %s, want the sender's %s", time.Unix(0, r.TS), sent)
		}
		if r.Metadata["procid"] != "77" || r.Metadata["severity"] != "info" {
			t.Errorf("metadata %v", r.Metadata)
		}
	}
}

func syslogIndexOf(ss []string, s string) int {
	for i, x := range ss {
		if x == s {
			return i
		}
	}
	return -1
}
