package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupsAPI runs the groups endpoints in order over one server; the
// commit made over HTTP must be what a Kafka OffsetFetch of the group sees.
func TestGroupsAPI(t *testing.T) {
	ts := startServer(t, "-topics.builtin-partitions=2")
	if code, _, errOut := ts.runCLI(t, "a\nb\nc\n", "produce", "-topic", "logs", "-partition", "0"); code != 0 {
		t.Fatal(errOut)
	}
	steps := []struct {
		name, method, path, body string
		status                   int
		want                     string // substring of the body
	}{
		{"list empty", "GET", "/api/v1/groups", "", 200, `"groups":[]`},
		{"unknown group", "GET", "/api/v1/groups/g1", "", 404, "no committed offsets"},
		{"commit bad json", "POST", "/api/v1/groups/g1/commit", `{"offsets":[{"topic":"logs","bogus":1}]}`, 400, "invalid JSON"},
		{"commit nothing", "POST", "/api/v1/groups/g1/commit", `{"offsets":[]}`, 400, "nothing to commit"},
		{"commit unknown topic", "POST", "/api/v1/groups/g1/commit", `{"offsets":[{"topic":"nope","partition":0,"offset":1}]}`, 404, "not found"},
		{"commit unknown partition", "POST", "/api/v1/groups/g1/commit", `{"offsets":[{"topic":"logs","partition":7,"offset":1}]}`, 404, "not found"},
		{"commit negative", "POST", "/api/v1/groups/g1/commit", `{"offsets":[{"topic":"logs","partition":0,"offset":-1}]}`, 400, "negative"},
		{"commit", "POST", "/api/v1/groups/g1/commit", `{"offsets":[{"topic":"logs","partition":0,"offset":2},{"topic":"logs","partition":1,"offset":0}]}`, 200,
			`"offsets":[{"topic":"logs","partition":0,"offset":2,"end_offset":3,"lag":1,`},
		{"describe", "GET", "/api/v1/groups/g1", "", 200, `{"topic":"logs","partition":1,"offset":0,"end_offset":0,"lag":0,`},
		{"list", "GET", "/api/v1/groups", "", 200, `"groups":["g1"]`},
	}
	for _, s := range steps {
		code, body := ts.do(t, s.method, s.path, "application/json", s.body)
		if code != s.status || !strings.Contains(body, s.want) {
			t.Fatalf("%s: %d %s\nwant %d with %s", s.name, code, body, s.status, s.want)
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.app.kafka.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 5
	fetch.Group = "g1"
	fetch.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "logs", Partitions: []int32{0}}}
	resp, err := fetch.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].Offset != 2 {
		t.Fatalf("Kafka OffsetFetch after an HTTP commit: %+v, want offset 2", resp.Topics)
	}

	if code, body := ts.do(t, http.MethodDelete, "/api/v1/groups/g1", "", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", code, body)
	}
	if code, _ := ts.do(t, http.MethodGet, "/api/v1/groups/g1", "", ""); code != http.StatusNotFound {
		t.Fatalf("deleted group answers %d, want 404", code)
	}
	if code, _ := ts.do(t, http.MethodDelete, "/api/v1/groups/g1", "", ""); code != http.StatusNotFound {
		t.Fatalf("second delete answers %d, want 404", code)
	}
}
