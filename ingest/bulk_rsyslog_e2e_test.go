package ingest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/siltlog/silt/segments/testtool"
)

const bulkRsyslogModule = "/usr/lib/x86_64-linux-gnu/rsyslog/omelasticsearch.so"

// bulkRequireFile is testtool.Require for a file: skip locally, fail under CI=true.
func bulkRequireFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("required file %s not found (CI=true): add its package to scripts/test-deps.sh: %v", path, err)
		}
		t.Skipf("%s not installed; skipping (run scripts/test-deps.sh as root, or this fails under CI=true)", path)
	}
}

// TestBulkRsyslogE2E runs rsyslogd with omelasticsearch in bulk mode pointed
// at silt, sends it syslog lines over TCP and reads them back exactly.
func TestBulkRsyslogE2E(t *testing.T) {
	bin := testtool.Require(t, "rsyslogd")
	bulkRequireFile(t, bulkRsyslogModule)
	s := newRWServer(t)
	_, siltPort, err := net.SplitHostPort(strings.TrimPrefix(s.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	inPort := testtool.FreePort(t)
	errFile := filepath.Join(work, "es-errors.json")
	config := fmt.Sprintf(`global(workDirectory=%q)
module(load="imptcp")
module(load="omelasticsearch")
template(name="silt-es" type="list") {
  constant(value="{\"@timestamp\":\"")
  property(name="timereported" dateFormat="rfc3339")
  constant(value="\",\"message\":\"")
  property(name="msg" format="json")
  constant(value="\",\"host\":{\"name\":\"")
  property(name="hostname" format="json")
  constant(value="\"},\"app\":\"")
  property(name="app-name" format="json")
  constant(value="\"}")
}
ruleset(name="to-silt") {
  action(type="omelasticsearch" server="127.0.0.1" serverport=%q bulkmode="on" searchIndex="rsyslog"
         template="silt-es" errorfile=%q action.resumeRetryCount="-1" action.resumeInterval="1")
}
input(type="imptcp" address="127.0.0.1" port="%d" ruleset="to-silt")
`, work, siltPort, errFile, inPort)
	conf := rwWriteFile(t, "rsyslog.conf", config)
	proc := rwStart(t, bin, "-n", "-f", conf, "-i", filepath.Join(work, "rsyslogd.pid"))

	var conn net.Conn
	rwPoll(t, 30*time.Second, proc, func() (bool, string) {
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", inPort))
		return err == nil, fmt.Sprint(err)
	})
	defer conn.Close()

	base := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	var want []string
	for i := range 10 {
		ts := base.Add(time.Duration(i) * time.Millisecond)
		msg := fmt.Sprintf(`event %d: user "ann" paid 5€ \ done`, i)
		if _, err := fmt.Fprintf(conn, "<14>1 %s web-1 shop 123 - - %s\n", ts.Format("2006-01-02T15:04:05.000000Z07:00"), msg); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf(`{host="web-1", index="rsyslog"} %d %q {app=shop}`, ts.UnixNano(), msg))
	}
	rwPoll(t, 60*time.Second, proc, func() (bool, string) {
		got := s.logDump()
		errs, _ := os.ReadFile(errFile)
		return len(got) >= len(want), fmt.Sprintf("%d records; omelasticsearch errors: %s", len(got), errs)
	})
	got := s.logDump()
	sort.Strings(got) // same key and width: time order, whatever rsyslog's batching did
	rwDiffLines(t, got, want)
}
