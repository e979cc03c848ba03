package main

import (
	"net/http"
	"sort"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/siltlog/silt/segments/groups"
)

// The groups API reads and writes the same committed offsets as the Kafka
// group coordinator (segments/groups), so a commit over HTTP is what a Kafka
// consumer of that group resumes from, and the other way round.

type groupListJSON struct {
	Tenant string   `json:"tenant"`
	Groups []string `json:"groups"`
}

// groupOffsetJSON is one partition's commit. EndOffset and Lag are absent when
// the topic or partition no longer exists.
type groupOffsetJSON struct {
	Topic      string `json:"topic"`
	Partition  int32  `json:"partition"`
	Offset     int64  `json:"offset"`
	EndOffset  *int64 `json:"end_offset,omitempty"`
	Lag        *int64 `json:"lag,omitempty"`
	Metadata   string `json:"metadata,omitempty"`
	CommitTime string `json:"commit_time,omitempty"`
}

type groupJSON struct {
	Group   string            `json:"group"`
	Offsets []groupOffsetJSON `json:"offsets"`
}

// commitRequest is the body of POST /api/v1/groups/{group}/commit.
type commitRequest struct {
	Offsets []struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		Metadata  string `json:"metadata"`
	} `json:"offsets"`
}

func (a *api) handleListGroups(c echo.Context) error {
	tenant := tenantOf(c)
	gs, err := a.groups.Groups(tenant)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, groupListJSON{Tenant: tenant, Groups: gs})
}

// describeGroup lists group's commits with the lag behind each partition's
// end; found is false when the group has none.
func (a *api) describeGroup(tenant, group string) (groupJSON, bool, error) {
	offs, err := a.groups.Offsets(tenant, group)
	if err != nil {
		return groupJSON{}, false, err
	}
	out := groupJSON{Group: group, Offsets: make([]groupOffsetJSON, 0, len(offs))}
	for tp, cm := range offs {
		o := groupOffsetJSON{Topic: tp.Topic, Partition: tp.Partition, Offset: cm.Offset, Metadata: cm.Metadata}
		if !cm.Time.IsZero() {
			o.CommitTime = cm.Time.UTC().Format(time.RFC3339Nano)
		}
		if log, err := a.store.Partition(tenant, tp.Topic, int(tp.Partition)); err == nil {
			end := log.NextOffset()
			lag := max(end-cm.Offset, 0)
			o.EndOffset, o.Lag = &end, &lag
		}
		out.Offsets = append(out.Offsets, o)
	}
	sort.Slice(out.Offsets, func(i, j int) bool {
		x, y := out.Offsets[i], out.Offsets[j]
		if x.Topic != y.Topic {
			return x.Topic < y.Topic
		}
		return x.Partition < y.Partition
	})
	return out, len(offs) > 0, nil
}

func (a *api) handleGetGroup(c echo.Context) error {
	g, found, err := a.describeGroup(tenantOf(c), c.Param("group"))
	if err != nil {
		return err
	}
	if !found {
		return httpErrorf(http.StatusNotFound, "group %q has no committed offsets", c.Param("group"))
	}
	return c.JSON(http.StatusOK, g)
}

// handleCommitGroup records offsets for existing partitions, all or none, and
// answers with the group as it now stands.
func (a *api) handleCommitGroup(c echo.Context) error {
	body, err := a.readBody(c)
	if err != nil {
		return err
	}
	var req commitRequest
	if err := decodeStrictJSON(body, &req); err != nil {
		return httpErrorf(http.StatusBadRequest, "%v", err)
	}
	if len(req.Offsets) == 0 {
		return httpErrorf(http.StatusBadRequest, `nothing to commit: send {"offsets":[{"topic":"logs","partition":0,"offset":42}]}`)
	}
	tenant, group := tenantOf(c), c.Param("group")
	now := time.Now()
	commits := make([]groups.Commit, 0, len(req.Offsets))
	for _, o := range req.Offsets {
		if o.Offset < 0 {
			return httpErrorf(http.StatusBadRequest, "offset of %s/%d must not be negative, got %d", o.Topic, o.Partition, o.Offset)
		}
		if _, err := a.store.Partition(tenant, o.Topic, int(o.Partition)); err != nil {
			return err
		}
		commits = append(commits, groups.Commit{
			TopicPartition: groups.TopicPartition{Topic: o.Topic, Partition: o.Partition},
			Committed:      groups.Committed{Offset: o.Offset, LeaderEpoch: -1, Metadata: o.Metadata, Time: now},
		})
	}
	if err := a.groups.Commit(tenant, group, commits); err != nil {
		return err
	}
	g, _, err := a.describeGroup(tenant, group)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, g)
}

// handleDeleteGroup forgets every commit of a group: 204, or 404 when it has none.
func (a *api) handleDeleteGroup(c echo.Context) error {
	tenant, group := tenantOf(c), c.Param("group")
	gs, err := a.groups.Groups(tenant)
	if err != nil {
		return err
	}
	if i := sort.SearchStrings(gs, group); i == len(gs) || gs[i] != group {
		return httpErrorf(http.StatusNotFound, "group %q has no committed offsets", group)
	}
	if err := a.groups.Delete(tenant, group, nil); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
