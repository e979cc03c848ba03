package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitOffsets commits offsets of topic's partitions 0, 1, ... and returns
// their error codes.
func commitOffsets(t *testing.T, ctx context.Context, cl *kgo.Client, group string, generation int32, topic string, offsets ...int64) []int16 {
	t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p, off := range offsets {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = int32(p), off, kmsg.StringPtr("m")
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	var codes []int16
	for _, p := range resp.Topics[0].Partitions {
		codes = append(codes, p.ErrorCode)
	}
	return codes
}

func TestOffsetCommitFetchAndGroupListing(t *testing.T) {
	ts := startServer(t, nil)
	ts.createTopic(t, "t", 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := newClient(t, ts.addr)

	if codes := commitOffsets(t, ctx, cl, "admin", -1, "t", 5, 7); codes[0] != 0 || codes[1] != 0 {
		t.Fatalf("simple commit: %v", codes)
	}
	if codes := commitOffsets(t, ctx, cl, "admin", -1, "missing", 1); codes[0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("commit to a missing topic: %v", codes)
	}
	if codes := commitOffsets(t, ctx, cl, "nogroup", 5, "t", 1); codes[0] != kerr.IllegalGeneration.Code {
		t.Fatalf("commit with a generation to a group without members: %v", codes)
	}

	// v8+ form: several groups, all topics of one.
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fetch.Version = 9
	fetch.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "admin"}, {Group: "none", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
	fresp, err := fetch.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[int32]int64{}
	for _, g := range fresp.Groups {
		got[g.Group] = map[int32]int64{}
		for _, tp := range g.Topics {
			for _, p := range tp.Partitions {
				got[g.Group][p.Partition] = p.Offset
			}
		}
	}
	if got["admin"][0] != 5 || got["admin"][1] != 7 || len(got["admin"]) != 2 || got["none"][0] != -1 {
		t.Fatalf("offset fetch v9: %v", got)
	}
	// v5 form with an uncommitted partition.
	old := kmsg.NewPtrOffsetFetchRequest()
	old.Version, old.Group = 5, "admin"
	old.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{1, 9}}}
	oresp, err := old.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if ps := oresp.Topics[0].Partitions; oresp.ErrorCode != 0 || ps[0].Offset != 7 || *ps[0].Metadata != "m" || ps[1].Offset != -1 {
		t.Fatalf("offset fetch v5: %+v", oresp)
	}

	list, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, cl)
	if err != nil || len(list.Groups) != 1 || list.Groups[0].Group != "admin" || list.Groups[0].GroupState != "Empty" {
		t.Fatalf("list groups: %v %+v", err, list)
	}
	describe := kmsg.NewPtrDescribeGroupsRequest()
	describe.Groups = []string{"admin", "unknown"}
	dresp, err := describe.RequestWith(ctx, cl)
	if err != nil || dresp.Groups[0].State != "Empty" || dresp.Groups[1].State != "Dead" {
		t.Fatalf("describe groups: %v %+v", err, dresp)
	}

	// The commits are durable: a restarted server answers them.
	ts.stop()
	ts2 := startServerAt(t, ts.dir, nil)
	offs, err := ts2.offsets.Offsets(ts2.cfg.Tenant, "admin")
	if err != nil || len(offs) != 2 {
		t.Fatalf("offsets after restart: %v %v", offs, err)
	}
}
