package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDeleteTopics deletes topics of the served tenant. Built-in topics
// (logs, metrics) get POLICY_VIOLATION: non-retriable, and every client
// reports it as a refusal by the broker rather than a malformed request.
// silt topics have no topic IDs, so v6 deletes by ID get UNKNOWN_TOPIC_ID.
// Deletion is complete when the response is sent (Kafka's TimeoutMillis is
// not needed).
func handleDeleteTopics(c *conn, r kmsg.Request) kmsg.Response {
	req := r.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	names := req.TopicNames
	if req.Version >= 6 {
		names = nil
		for _, rt := range req.Topics {
			if rt.Topic == nil {
				t := kmsg.NewDeleteTopicsResponseTopic()
				t.TopicID = rt.TopicID
				t.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, t)
				continue
			}
			names = append(names, *rt.Topic)
		}
	}
	for _, name := range names {
		t := kmsg.NewDeleteTopicsResponseTopic()
		t.Topic = kmsg.StringPtr(name)
		if err := c.s.store.DeleteTopic(c.s.cfg.Tenant, name); err != nil {
			t.ErrorCode = topicErrorCode(err)
			msg := err.Error()
			t.ErrorMessage = &msg
			if t.ErrorCode == kerr.UnknownServerError.Code {
				c.errorCode(err, "delete topics", name, -1)
			}
		} else {
			c.s.producers.forgetTopic(name)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}
