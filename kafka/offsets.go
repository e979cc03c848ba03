package kafka

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments/groups"
	"github.com/siltlog/silt/segments/topics"
)

// maxOffsetMetadata is Kafka's offset.metadata.max.bytes default.
const maxOffsetMetadata = 4096

// handleOffsetCommit stores a group's offsets in the groups.Store; it
// answers once they are durable. Partitions of unknown topics, or with
// metadata that is too large, get their own errors and are not stored.
func handleOffsetCommit(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	now := time.Now()
	code := int16(0)
	if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	} else if g := c.s.coord.group(req.Group, false); g != nil {
		code = g.commitCheck(req.MemberID, req.Generation, now)
	} else if req.Generation >= 0 {
		code = kerr.IllegalGeneration.Code
	}
	reg, err := c.s.store.Registry()
	if err != nil && code == 0 {
		code = kerr.CoordinatorNotAvailable.Code
	}
	var commits []groups.Commit
	var stored []*kmsg.OffsetCommitResponseTopicPartition
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		var topic topics.Topic
		var topicErr error
		if code == 0 {
			topic, topicErr = reg.Get(c.s.cfg.Tenant, t.Topic)
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case code != 0:
				rp.ErrorCode = code
			case topicErr != nil || p.Partition < 0 || int(p.Partition) >= topic.Partitions:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Metadata != nil && len(*p.Metadata) > maxOffsetMetadata:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			default:
				commits = append(commits, committed(req.Version, t.Topic, &p, now))
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	// Pointers are taken once the slices stop growing.
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if rp := &resp.Topics[i].Partitions[j]; rp.ErrorCode == 0 {
				stored = append(stored, rp)
			}
		}
	}
	if len(commits) == 0 {
		return resp
	}
	if err := c.s.offsets.Commit(c.s.cfg.Tenant, req.Group, commits); err != nil {
		code := c.offsetsErrorCode(err, "offset commit", req.Group)
		for _, rp := range stored {
			rp.ErrorCode = code
		}
	}
	return resp
}

func committed(version int16, topic string, p *kmsg.OffsetCommitRequestTopicPartition, now time.Time) groups.Commit {
	c := groups.Commit{TopicPartition: groups.TopicPartition{Topic: topic, Partition: p.Partition}}
	c.Offset, c.LeaderEpoch, c.Time = p.Offset, -1, now
	if version >= 6 {
		c.LeaderEpoch = p.LeaderEpoch
	}
	if version == 1 && p.Timestamp >= 0 {
		c.Time = time.UnixMilli(p.Timestamp)
	}
	if p.Metadata != nil {
		c.Metadata = *p.Metadata
	}
	return c
}

// handleOffsetFetch answers committed offsets: -1 for partitions without
// one. A nil topic list (v2+) asks for every partition the group committed.
func handleOffsetFetch(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group = rg.Group
			var asked []kmsg.OffsetFetchRequestTopic
			if rg.Topics != nil {
				for _, t := range rg.Topics {
					asked = append(asked, kmsg.OffsetFetchRequestTopic{Topic: t.Topic, Partitions: t.Partitions})
				}
			}
			var topics []kmsg.OffsetFetchResponseTopic
			topics, g.ErrorCode = c.fetchOffsets(rg.Group, asked, rg.Topics == nil)
			for _, t := range topics {
				gt := kmsg.NewOffsetFetchResponseGroupTopic()
				gt.Topic = t.Topic
				for _, p := range t.Partitions {
					gt.Partitions = append(gt.Partitions, kmsg.OffsetFetchResponseGroupTopicPartition{
						Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: p.Metadata, ErrorCode: p.ErrorCode,
					})
				}
				g.Topics = append(g.Topics, gt)
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	code := int16(0)
	resp.Topics, code = c.fetchOffsets(req.Group, req.Topics, req.Topics == nil && req.Version >= 2)
	if req.Version >= 2 {
		resp.ErrorCode = code
	} else if code != 0 {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = code
			}
		}
	}
	return resp
}

// fetchOffsets answers one group's OffsetFetch in the v0-7 form, and a
// group-level error code.
func (c *conn) fetchOffsets(group string, asked []kmsg.OffsetFetchRequestTopic, all bool) ([]kmsg.OffsetFetchResponseTopic, int16) {
	if group == "" {
		return nil, kerr.InvalidGroupID.Code
	}
	offsets, err := c.s.offsets.Offsets(c.s.cfg.Tenant, group)
	if err != nil {
		return nil, c.offsetsErrorCode(err, "offset fetch", group)
	}
	if all {
		byTopic := map[string][]int32{}
		for tp := range offsets {
			byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
		}
		for t, ps := range byTopic {
			asked = append(asked, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: ps})
		}
	}
	var out []kmsg.OffsetFetchResponseTopic
	for _, t := range asked {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, -1, -1, kmsg.StringPtr("")
			if o, ok := offsets[groups.TopicPartition{Topic: t.Topic, Partition: p}]; ok {
				rp.Offset, rp.LeaderEpoch, rp.Metadata = o.Offset, o.LeaderEpoch, kmsg.StringPtr(o.Metadata)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out = append(out, rt)
	}
	return out, 0
}

// offsetsErrorCode maps a groups.Store error to an error code, logging the
// unexpected ones.
func (c *conn) offsetsErrorCode(err error, op, group string) int16 {
	switch {
	case errors.Is(err, groups.ErrNotRunning):
		return kerr.CoordinatorNotAvailable.Code
	case errors.Is(err, groups.ErrInvalid):
		return kerr.InvalidGroupID.Code
	}
	c.s.warn.Do(func() {
		c.logger.Error("kafka "+op+" failed", "tenant", c.s.cfg.Tenant, "group", group, "err", err)
	})
	return kerr.UnknownServerError.Code
}
