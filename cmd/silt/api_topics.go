package main

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/segments/topics"
)

// topicJSON describes a topic and its partitions.
type topicJSON struct {
	Name                string          `json:"name"`
	Builtin             bool            `json:"builtin"`
	PartitionCount      int             `json:"partition_count"`
	RetentionMs         int64           `json:"retention_ms"`
	RetentionBytes      int64           `json:"retention_bytes"`
	LocalRetentionMs    int64           `json:"local_retention_ms"`
	LocalRetentionBytes int64           `json:"local_retention_bytes"`
	Config              topicConfigJSON `json:"config"`
	Partitions          []partitionJSON `json:"partitions"`
}

type partitionJSON struct {
	Partition        int                 `json:"partition"`
	StartOffset      int64               `json:"start_offset"`
	LocalStartOffset int64               `json:"local_start_offset"`
	EndOffset        int64               `json:"end_offset"`
	Bytes            int64               `json:"bytes"` // local bytes
	Tiers            map[string]tierJSON `json:"tiers"` // hot, warm, cold
}

type tierJSON struct {
	Bytes    int64 `json:"bytes"`
	Segments int   `json:"segments"`
}

type topicListJSON struct {
	Tenant string      `json:"tenant"`
	Topics []topicJSON `json:"topics"`
}

// createTopicRequest is the body of POST /api/v1/topics.
type createTopicRequest struct {
	Name                string `json:"name"`
	Partitions          int    `json:"partitions"`
	RetentionMs         int64  `json:"retention_ms"`
	RetentionBytes      int64  `json:"retention_bytes"`
	LocalRetentionMs    int64  `json:"local_retention_ms"`
	LocalRetentionBytes int64  `json:"local_retention_bytes"`
}

func (a *api) describeTopic(tenant string, t topics.Topic) (topicJSON, error) {
	stats, err := a.store.Stats(tenant, t)
	if err != nil {
		return topicJSON{}, err
	}
	out := topicJSON{
		Name: t.Name, Builtin: topics.IsBuiltin(t.Name), PartitionCount: t.Partitions,
		RetentionMs: t.RetentionMs, RetentionBytes: t.RetentionBytes,
		LocalRetentionMs: t.LocalRetentionMs, LocalRetentionBytes: t.LocalRetentionBytes,
		Config:     a.topicConfig(tenant, t),
		Partitions: make([]partitionJSON, len(stats)),
	}
	for i, s := range stats {
		out.Partitions[i] = partitionJSON{Partition: s.Partition, StartOffset: s.StartOffset, EndOffset: s.EndOffset,
			LocalStartOffset: s.Tiers.LocalStartOffset, Bytes: s.Bytes, Tiers: map[string]tierJSON{
				"hot":  {Bytes: s.Tiers.Hot.Bytes, Segments: s.Tiers.Hot.Segments},
				"warm": {Bytes: s.Tiers.Warm.Bytes, Segments: s.Tiers.Warm.Segments},
				"cold": {Bytes: s.Tiers.Cold.Bytes, Segments: s.Tiers.Cold.Segments},
			}}
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
		LocalRetentionMs: req.LocalRetentionMs, LocalRetentionBytes: req.LocalRetentionBytes,
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

// topicConfigJSON is a topic's retention settings under Kafka's names: what the
// topic sets itself (0 = inherited) and the effective values with their source.
type topicConfigJSON struct {
	Topic     topics.Policy          `json:"topic"`
	Effective map[string]configValue `json:"effective"`
}

type configValue struct {
	Value  int64  `json:"value"`
	Source string `json:"source"` // topic, tenant or default
}

func (a *api) topicConfig(tenant string, t topics.Topic) topicConfigJSON {
	eff := a.store.EffectivePolicy(tenant, t)
	out := topicConfigJSON{Topic: t.Policy(), Effective: map[string]configValue{}}
	for _, name := range eff.Names() {
		v, _ := eff.Get(name)
		out.Effective[name] = configValue{Value: v, Source: eff.Sources[name]}
	}
	return out
}

// handleGetTopicConfig answers GET /api/v1/topics/{topic}/config.
func (a *api) handleGetTopicConfig(c echo.Context) error {
	tenant := tenantOf(c)
	t, err := a.topicOf(c, tenant)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, a.topicConfig(tenant, t))
}

// handleSetTopicConfig answers PATCH /api/v1/topics/{topic}/config with a
// body of Kafka-named settings, e.g. {"retention.ms": 86400000,
// "local.retention.bytes": -2}; 0 resets one to inherit. PUT replaces the
// whole set: settings it leaves out inherit. The change is persisted and
// applies from the next tier cycle, without a restart.
func (a *api) handleSetTopicConfig(c echo.Context) error {
	body, err := a.readBody(c)
	if err != nil {
		return err
	}
	var set map[string]int64
	if err := decodeStrictJSON(body, &set); err != nil {
		return httpErrorf(http.StatusBadRequest, "%v (want an object of Kafka setting names to integers, e.g. {\"retention.ms\": 86400000})", err)
	}
	if c.Request().Method == http.MethodPut {
		var all topics.Policy
		for _, name := range all.Names() {
			if _, ok := set[name]; !ok {
				set[name] = 0
			}
		}
	}
	reg, err := a.store.Registry()
	if err != nil {
		return err
	}
	tenant := tenantOf(c)
	t, err := reg.SetConfig(tenant, c.Param("topic"), set)
	if err != nil {
		return err
	}
	a.logger.Info("topic config changed", "tenant", tenant, "topic", t.Name, "set", set)
	return c.JSON(http.StatusOK, a.topicConfig(tenant, t))
}
