package ingest

import (
	"testing"
	"time"
)

func BenchmarkSyslog5424Parse(b *testing.B) {
	msg := `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry with some text`
	benchmarkSyslogParse(b, msg)
}

func BenchmarkSyslog3164Parse(b *testing.B) {
	benchmarkSyslogParse(b, "<13>Mar  5 01:02:03 web-1 nginx[1234]: 10.0.0.1 - - GET /index.html HTTP/1.1 200 512")
}

func benchmarkSyslogParse(b *testing.B, msg string) {
	var m syslogMessage
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		parseSyslog(&m, msg, now, time.UTC)
	}
	if m.raw {
		b.Fatal("benchmark message did not parse")
	}
}

// BenchmarkSyslogBatchAdd is the whole per-message cost of a connection:
// parse, map to labels and metadata, append to the batch.
func BenchmarkSyslogBatchAdd(b *testing.B) {
	msg := []byte(`<165>1 2003-10-11T22:14:15.003Z host1 evntslog 1234 ID47 [x@1 a="3"] An application event log entry`)
	lim := Limits{MaxLineSize: 256 << 10, MaxLabelValueLength: 2048}
	batch := newSyslogBatch("fake", &lim, time.UTC)
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		batch.add(msg, "127.0.0.1", now)
		if batch.lines == 1000 {
			batch.take()
		}
	}
}
