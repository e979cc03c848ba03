package main

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/segments/topics"
)

// topicJSON describes a topic and its partitions.
type topicJSON struct {
	Name           string          `json:"name"`
	Builtin        bool            `json:"builtin"`
	PartitionCount int             `json:"partition_count"`
	RetentionMs    int64           `json:"retention_ms"`
	RetentionBytes int64           `json:"retention_bytes"`
	Partitions     []partitionJSON `json:"partitions"`
}

type partitionJSON struct {
	Partition   int   `json:"partition"`
	StartOffset int64 `json:"start_offset"`
	EndOffset   int64 `json:"end_offset"`
	Bytes       int64 `json:"bytes"`
}

type topicListJSON struct {
	Tenant string      `json:"tenant"`
	Topics []topicJSON `json:"topics"`
}

// createTopicRequest is the body of POST /api/v1/topics.
type createTopicRequest struct {
	Name           string `json:"name"`
	Partitions     int    `json:"partitions"`
	RetentionMs    int64  `json:"retention_ms"`
	RetentionBytes int64  `json:"retention_bytes"`
}

func (a *api) describeTopic(tenant string, t topics.Topic) (topicJSON, error) {
	stats, err := a.store.Stats(tenant, t)
	if err != nil {
		return topicJSON{}, err
	}
	out := topicJSON{
		Name: t.Name, Builtin: topics.IsBuiltin(t.Name), PartitionCount: t.Partitions,
		RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes,
		Partitions: make([]partitionJSON, len(stats)),
	}
	for i, s := range stats {
		out.Partitions[i] = partitionJSON{Partition: s.Partition, StartOffset: s.StartOffset, EndOffset: s.EndOffset, Bytes: s.Bytes}
	}
	return out, nil
}

func (a *api) handleListTopics(c echo.Context) error {
	tenant := tenantOf(c)
	reg, err := a.store.Registry()
	if err != nil {
		return err
	}
	list, err := reg.List(tenant)
	if err != nil {
		return err
	}
	resp := topicListJSON{Tenant: tenant, Topics: make([]topicJSON, 0, len(list))}
	for _, t := range list {
		tj, err := a.describeTopic(tenant, t)
		if err != nil {
			return err
		}
		resp.Topics = append(resp.Topics, tj)
	}
	return c.JSON(http.StatusOK, resp)
}

func (a *api) handleGetTopic(c echo.Context) error {
	tenant := tenantOf(c)
	t, err := a.topicOf(c, tenant)
	if err != nil {
		return err
	}
	tj, err := a.describeTopic(tenant, t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, tj)
}

func (a *api) handleCreateTopic(c echo.Context) error {
	body, err := a.readBody(c)
	if err != nil {
		return err
	}
	var req createTopicRequest
	if err := decodeStrictJSON(body, &req); err != nil {
		return httpErrorf(http.StatusBadRequest, "%v", err)
	}
	reg, err := a.store.Registry()
	if err != nil {
		return err
	}
	tenant := tenantOf(c)
	t, err := reg.Create(tenant, topics.Topic{
		Name: req.Name, Partitions: req.Partitions, RetentionMs: req.RetentionMs, RetentionBytes: req.RetentionBytes,
	})
	if err != nil {
		return err
	}
	a.logger.Info("topic created", "tenant", tenant, "topic", t.Name, "partitions", t.Partitions)
	tj, err := a.describeTopic(tenant, t)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, tj)
}

// handleDeleteTopic deletes a topic and its data: 204, 404 for an unknown
// topic, 400 for a built-in one.
func (a *api) handleDeleteTopic(c echo.Context) error {
	if err := a.store.DeleteTopic(tenantOf(c), c.Param("topic")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// topicOf returns the tenant's topic named by the route's :topic.
func (a *api) topicOf(c echo.Context, tenant string) (topics.Topic, error) {
	reg, err := a.store.Registry()
	if err != nil {
		return topics.Topic{}, err
	}
	return reg.Get(tenant, c.Param("topic"))
}
