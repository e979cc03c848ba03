//go:build slicelabels

package ingest

import (
	"flag"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	kitlog "github.com/go-kit/kit/log"
	"github.com/grafana/loki-client-go/loki"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
)

// TestLokiClientEndToEnd pushes through Grafana's loki-client-go (the client
// Promtail's is derived from: snappy protobuf, no Content-Encoding) and reads
// every line back from the log.
func TestLokiClientEndToEnd(t *testing.T) {
	ts := newTestServer(t, nil, withAuth())
	var cfg loki.Config
	cfg.RegisterFlags(flag.NewFlagSet("loki", flag.PanicOnError))
	if err := cfg.URL.Set(ts.URL + lokiPushPath); err != nil {
		t.Fatal(err)
	}
	cfg.TenantID = "team-a"
	cfg.BatchWait = 10 * time.Millisecond
	cfg.BatchSize = 4 << 10 // several batches
	cfg.BackoffConfig.MaxRetries = 1
	client, err := loki.NewWithLogger(cfg, kitlog.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}

	base := time.Now().Add(-time.Minute)
	var want []testRecord
	for i := range 300 {
		ls := model.LabelSet{"app": "checkout", "host": model.LabelValue(fmt.Sprintf("h%d", i%3))}
		key := fmt.Sprintf(`{app="checkout", host="h%d", service_name="checkout"}`, i%3)
		at := base.Add(time.Duration(i) * time.Millisecond).Add(time.Duration(i) * time.Nanosecond)
		line := fmt.Sprintf("line %d: ünïcödé \"quoted\" \t tab", i)
		rec := testRecord{Key: key, Value: line, Timestamp: at.UnixNano()}
		if i%5 == 0 {
			md := push.LabelsAdapter{{Name: "trace_id", Value: fmt.Sprintf("%032x", i)}}
			err = client.HandleWithMetadata(ls, at, line, md)
			rec.Headers = []string{"trace_id=" + md[0].Value}
		} else {
			err = client.Handle(ls, at, line)
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, rec)
	}
	client.Stop() // flushes the last batch
	ts.srv.CloseClientConnections()

	got := testRecords(ts.readAll(t, "team-a", "logs"))
	slices.SortStableFunc(want, func(a, b testRecord) int { return strings.Compare(a.Key, b.Key) })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %d records, want %d; first got %+v, first want %+v", len(got), len(want), first(got), first(want))
	}
	if n := len(ts.readAll(t, DefaultTenant, "logs")); n != 0 {
		t.Fatalf("the default tenant got %d records", n)
	}

	// And a refused push is reported to the client, which drops the batch.
	code, body := ts.post(t, lokiPushPath, nil, "Content-Type", contentProtobuf, TenantHeader, "team-a")
	if code != http.StatusBadRequest {
		t.Fatalf("empty push: %d %s", code, body)
	}
}

func first(rs []testRecord) any {
	if len(rs) == 0 {
		return nil
	}
	return rs[0]
}
