package kafka

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/siltlog/silt/segments/topics"
)

// nodeID is this node's broker id: in this phase every partition is led by
// the one node that serves it.
const nodeID int32 = 0

func handleMetadata(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = nodeID, c.s.host, c.s.port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	resp.ClusterID = &c.s.clusterID
	resp.ControllerID = nodeID
	reg, err := c.s.store.Registry()
	if err != nil {
		c.errorCode(err, "metadata", "", -1)
		return resp // no topics: clients retry
	}
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		list, err := reg.List(c.s.cfg.Tenant)
		if err != nil {
			c.errorCode(err, "metadata", "", -1)
		}
		for _, t := range list {
			resp.Topics = append(resp.Topics, topicMetadata(t))
		}
		return resp
	}
	autoCreate := c.s.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		if rt.Topic == nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.TopicID = rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, c.lookupTopic(reg, *rt.Topic, autoCreate))
	}
	return resp
}

func (c *conn) lookupTopic(reg *topics.Registry, name string, autoCreate bool) kmsg.MetadataResponseTopic {
	t, err := reg.Get(c.s.cfg.Tenant, name)
	if errors.Is(err, topics.ErrTopicNotFound) && autoCreate {
		t, err = reg.Create(c.s.cfg.Tenant, topics.Topic{Name: name})
		if errors.Is(err, topics.ErrTopicExists) {
			t, err = reg.Get(c.s.cfg.Tenant, name)
		}
		if err == nil {
			c.logger.Info("kafka topic auto-created", "tenant", c.s.cfg.Tenant, "topic", name, "partitions", t.Partitions)
		}
	}
	if err != nil {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = &name
		mt.ErrorCode = topicErrorCode(err)
		if mt.ErrorCode == kerr.UnknownServerError.Code {
			c.errorCode(err, "metadata", name, -1)
		}
		return mt
	}
	return topicMetadata(t)
}

func topicMetadata(t topics.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = &t.Name
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, t.Partitions)
	for i := range mt.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader = nodeID
		p.LeaderEpoch = 0
		p.Replicas = []int32{nodeID}
		p.ISR = []int32{nodeID}
		mt.Partitions[i] = p
	}
	return mt
}

// topicErrorCode maps a registry error to a topic error code.
func topicErrorCode(err error) int16 {
	switch {
	case errors.Is(err, topics.ErrTopicNotFound):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, topics.ErrInvalidTopicName):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, topics.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, topics.ErrBuiltinTopic):
		return kerr.PolicyViolation.Code
	case errors.Is(err, topics.ErrInvalidTopic):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, errReplication):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, errConfig):
		return kerr.InvalidConfig.Code
	}
	return kerr.UnknownServerError.Code
}

func handleCreateTopics(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	reg, regErr := c.s.store.Registry()
	for _, rt := range req.Topics {
		t := kmsg.NewCreateTopicsResponseTopic()
		t.Topic = rt.Topic
		err := regErr
		if err == nil {
			var topic topics.Topic
			if topic, err = c.createTopic(reg, &rt, req.ValidateOnly); err == nil {
				t.NumPartitions, t.ReplicationFactor = int32(topic.Partitions), 1
			}
		}
		if err != nil {
			t.ErrorCode = topicErrorCode(err)
			msg := err.Error()
			t.ErrorMessage = &msg
			if t.ErrorCode == kerr.UnknownServerError.Code {
				c.errorCode(err, "create topics", rt.Topic, -1)
			}
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

var (
	errReplication = errors.New("invalid replication")
	errConfig      = errors.New("invalid config")
)

// createTopic creates one topic (or only checks it, for validateOnly).
// retention.ms and retention.bytes configs become the topic's retention;
// other configs are ignored.
func (c *conn) createTopic(reg *topics.Registry, rt *kmsg.CreateTopicsRequestTopic, validateOnly bool) (topics.Topic, error) {
	t := topics.Topic{Name: rt.Topic}
	if rt.NumPartitions > 0 {
		t.Partitions = int(rt.NumPartitions)
	} else if rt.NumPartitions != -1 {
		return t, fmt.Errorf("%w: partitions must be positive or -1 (the default), got %d", topics.ErrInvalidTopic, rt.NumPartitions)
	}
	if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 {
		return t, fmt.Errorf("%w: this node serves replication factor 1, got %d", errReplication, rt.ReplicationFactor)
	}
	if len(rt.ReplicaAssignment) > 0 {
		return t, fmt.Errorf("%w: manual replica assignment is not supported", errReplication)
	}
	for _, cfg := range rt.Configs {
		var dst *int64
		switch cfg.Name {
		case "retention.ms":
			dst = &t.RetentionMs
		case "retention.bytes":
			dst = &t.RetentionBytes
		default:
			continue
		}
		if cfg.Value == nil {
			continue
		}
		v, err := strconv.ParseInt(*cfg.Value, 10, 64)
		if err != nil {
			return t, fmt.Errorf("%w: %s=%q is not an integer", errConfig, cfg.Name, *cfg.Value)
		}
		*dst = v
	}
	if validateOnly {
		if err := topics.ValidateTopicName(t.Name); err != nil {
			return t, err
		}
		if _, err := reg.Get(c.s.cfg.Tenant, t.Name); err == nil {
			return t, fmt.Errorf("%w: %q", topics.ErrTopicExists, t.Name)
		}
		return t, nil
	}
	created, err := reg.Create(c.s.cfg.Tenant, t)
	if err == nil {
		c.logger.Info("kafka topic created", "tenant", c.s.cfg.Tenant, "topic", t.Name, "partitions", created.Partitions)
	}
	return created, err
}
