package kafka

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/siltlog/silt/segments/topics"
)

// TestKgoDeleteTopics deletes topics at every version kmsg encodes, with a
// franz-go client capped at that version.
func TestKgoDeleteTopics(t *testing.T) {
	for v := int16(0); v <= 6; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			ts := startServer(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ts.createTopic(t, "doomed", 2)
			ts.createTopic(t, "kept", 1)
			vs := kversion.Stable()
			vs.SetMaxKeyVersion(deleteTopicsKey, v)
			cl := newClient(t, ts.addr, kgo.MaxVersions(vs))
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "doomed", Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatal(err)
			}

			req := kmsg.NewPtrDeleteTopicsRequest()
			for _, name := range []string{"doomed", topics.TopicLogs, "missing"} {
				req.TopicNames = append(req.TopicNames, name)
				rt := kmsg.NewDeleteTopicsRequestTopic()
				rt.Topic = kmsg.StringPtr(name)
				req.Topics = append(req.Topics, rt)
			}
			byID := kmsg.NewDeleteTopicsRequestTopic()
			byID.TopicID = [16]byte{1}
			req.Topics = append(req.Topics, byID)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Version != v {
				t.Fatalf("answered at v%d, want v%d", resp.Version, v)
			}
			want := map[string]int16{"doomed": 0, topics.TopicLogs: 44, "missing": 3} // POLICY_VIOLATION, UNKNOWN_TOPIC_OR_PARTITION
			if v >= 6 {
				want[""] = 100 // UNKNOWN_TOPIC_ID
			}
			if len(resp.Topics) != len(want) {
				t.Fatalf("%d topics answered, want %d: %+v", len(resp.Topics), len(want), resp.Topics)
			}
			for _, rt := range resp.Topics {
				name := ""
				if rt.Topic != nil {
					name = *rt.Topic
				}
				if rt.ErrorCode != want[name] {
					t.Errorf("%q: error code %d, want %d", name, rt.ErrorCode, want[name])
				}
				if v >= 5 && rt.ErrorCode != 0 && name != "" && rt.ErrorMessage == nil {
					t.Errorf("%q: no error message", name)
				}
			}
			checkDeleted(ctx, t, ts, cl)
		})
	}
}

// checkDeleted: "doomed" is gone from Metadata and disk, the others stay.
func checkDeleted(ctx context.Context, t *testing.T, ts *testServer, cl *kgo.Client) {
	t.Helper()
	meta := kmsg.NewPtrMetadataRequest()
	meta.AllowAutoTopicCreation = false
	for _, name := range []string{"doomed", "kept", topics.TopicLogs} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		meta.Topics = append(meta.Topics, mt)
	}
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for i, wantCode := range []int16{3, 0, 0} {
		if got := mresp.Topics[i].ErrorCode; got != wantCode {
			t.Errorf("metadata %s: error code %d, want %d", *mresp.Topics[i].Topic, got, wantCode)
		}
	}
	if _, err := os.Stat(filepath.Join(ts.dir, topics.TenantsDir, ts.cfg.Tenant, "doomed")); !os.IsNotExist(err) {
		t.Errorf("deleted topic's directory: %v, want gone", err)
	}
}
