package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// consumer reads partitions and prints their records.
type consumer struct {
	c        *client
	topic    string
	offset   string // -from-offset, "" for the log start
	fromTime string // -from-time, "" if unset
	follow   bool
	wait     time.Duration
	output   string
	group    string
	// committed is the group's offset per partition, read before any
	// partition is, so it needs no lock.
	committed map[int]int64

	mu      sync.Mutex
	out     *bufio.Writer // guarded by mu
	printed int           // guarded by mu
	limit   int           // 0 = no limit
	cancel  context.CancelFunc
}

// runConsume is `silt consume`.
func runConsume(args []string, stdout, stderr io.Writer) int {
	f := flag.NewFlagSet("consume", flag.ContinueOnError)
	f.SetOutput(stderr)
	c := registerClientFlags(f)
	cs := &consumer{c: c, out: bufio.NewWriter(stdout)}
	f.StringVar(&cs.topic, "topic", "", "Topic to read (required).")
	partition := f.String("partition", "all", `Partition number, or "all".`)
	f.StringVar(&cs.offset, "from-offset", "", "Offset to start at in each partition (default: the log start).")
	f.StringVar(&cs.fromTime, "from-time", "", "Start at the first record at or after this time (RFC 3339 or nanoseconds).")
	f.BoolVar(&cs.follow, "follow", false, "Keep waiting for new records (stop with Ctrl-C).")
	f.IntVar(&cs.limit, "limit", 0, "Stop after this many records (0: no limit).")
	f.StringVar(&cs.output, "output", "raw", "Output: raw (each value on its own line) or json (one record object per line).")
	f.DurationVar(&cs.wait, "wait", 5*time.Second, "Long-poll wait per request with -follow.")
	f.StringVar(&cs.group, "group", "", "Consumer group: start at its committed offsets (unless -from-offset or -from-time) and commit after printing.")
	f.Usage = func() {
		fmt.Fprintf(stderr, "Usage: silt consume -topic T [-partition P|all] [-group G] [-from-offset N | -from-time T] [-follow] [-limit N] [-output raw|json]\n\nFlags:\n")
		f.PrintDefaults()
	}
	if err := parseCLIFlags(f, args); err != nil {
		return usageExit(stderr, err)
	}
	parts, err := cs.validate(f, *partition)
	if err != nil {
		return usageExit(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cs.cancel = context.WithCancel(ctx)
	defer cs.cancel()
	if parts == nil {
		if parts, err = cs.allPartitions(ctx); err != nil {
			return cliFail(stderr, "consume", err)
		}
	}
	if err := cs.loadCommitted(ctx); err != nil {
		return cliFail(stderr, "consume", err)
	}
	if err := cs.run(ctx, parts); err != nil {
		return cliFail(stderr, "consume", err)
	}
	return 0
}

// validate checks the flags; it returns the partitions to read, or nil for all.
func (cs *consumer) validate(f *flag.FlagSet, partition string) ([]int, error) {
	switch {
	case cs.topic == "":
		return nil, usageError(f, "-topic is required")
	case cs.offset != "" && cs.fromTime != "":
		return nil, usageError(f, "set -from-offset or -from-time, not both")
	case cs.output != "raw" && cs.output != "json":
		return nil, usageError(f, "-output must be raw or json, got %q", cs.output)
	case cs.limit < 0:
		return nil, usageError(f, "-limit must not be negative")
	}
	if cs.offset != "" {
		if _, err := strconv.ParseInt(cs.offset, 10, 64); err != nil {
			return nil, usageError(f, "-from-offset must be an integer, got %q", cs.offset)
		}
	}
	if cs.fromTime != "" {
		if _, err := parseTimestamp(cs.fromTime); err != nil {
			return nil, usageError(f, "-from-time: %v", err)
		}
	}
	if partition == "all" {
		return nil, nil
	}
	p, err := strconv.Atoi(partition)
	if err != nil || p < 0 {
		return nil, usageError(f, `-partition must be a partition number or "all", got %q`, partition)
	}
	return []int{p}, nil
}

func (cs *consumer) allPartitions(ctx context.Context) ([]int, error) {
	var t topicJSON
	if err := cs.c.do(ctx, http.MethodGet, topicPath(cs.topic), nil, "", nil, &t); err != nil {
		return nil, err
	}
	parts := make([]int, t.PartitionCount)
	for i := range parts {
		parts[i] = i
	}
	return parts, nil
}

// run reads the partitions one after another, or all at once with -follow.
func (cs *consumer) run(ctx context.Context, parts []int) error {
	if !cs.follow {
		for _, p := range parts {
			if err := cs.readPartition(ctx, p); err != nil || ctx.Err() != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, len(parts))
	for _, p := range parts {
		go func() { errs <- cs.readPartition(ctx, p) }()
	}
	var first error
	for range parts {
		if err := <-errs; err != nil && first == nil {
			first = err
			cs.cancel()
		}
	}
	return first
}

// readPartition fetches p until the high watermark (or forever with -follow).
func (cs *consumer) readPartition(ctx context.Context, p int) error {
	q := url.Values{}
	switch {
	case cs.fromTime != "":
		q.Set("time", cs.fromTime)
	case cs.offset != "":
		q.Set("offset", cs.offset)
	default:
		if off, ok := cs.committed[p]; ok {
			q.Set("offset", strconv.FormatInt(off, 10))
		}
	}
	if cs.follow {
		q.Set("wait", cs.wait.String())
	}
	path := topicPath(cs.topic, "partitions", strconv.Itoa(p), "records")
	for {
		var resp consumeResponse
		if err := cs.c.do(ctx, http.MethodGet, path, q, "", nil, &resp); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("partition %d: %w", p, err)
		}
		n, err := cs.print(p, resp.Records)
		if err == nil && n > 0 && cs.group != "" {
			next := resp.NextOffset
			if n < len(resp.Records) {
				next = resp.Records[n-1].Offset + 1
			}
			err = cs.commit(context.WithoutCancel(ctx), p, next)
		}
		if err != nil || ctx.Err() != nil {
			return err
		}
		q.Del("time")
		q.Set("offset", strconv.FormatInt(resp.NextOffset, 10))
		if !cs.follow && (len(resp.Records) == 0 || resp.NextOffset >= resp.HighWatermark) {
			return nil
		}
	}
}

// print writes records in the chosen format, returns how many it wrote and
// cancels everything once the limit is reached.
func (cs *consumer) print(p int, recs []recordJSON) (int, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	n := 0
	for i := range recs {
		if cs.limit > 0 && cs.printed >= cs.limit {
			break
		}
		if err := cs.printOne(p, &recs[i]); err != nil {
			return n, err
		}
		cs.printed++
		n++
	}
	if cs.limit > 0 && cs.printed >= cs.limit {
		cs.cancel()
	}
	if err := cs.out.Flush(); err != nil {
		return n, fmt.Errorf("write output: %w", err)
	}
	return n, nil
}

// groupOffsets is the part of GET /api/v1/groups/{group} the CLI reads.
type groupOffsets struct {
	Offsets []struct {
		Topic     string `json:"topic"`
		Partition int    `json:"partition"`
		Offset    int64  `json:"offset"`
	} `json:"offsets"`
}

// loadCommitted reads the group's committed offsets of the topic; a group
// that never committed starts at the log start.
func (cs *consumer) loadCommitted(ctx context.Context) error {
	if cs.group == "" {
		return nil
	}
	var g groupOffsets
	err := cs.c.do(ctx, http.MethodGet, "/api/v1/groups/"+url.PathEscape(cs.group), nil, "", nil, &g)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("read group %q: %w", cs.group, err)
	}
	cs.committed = map[int]int64{}
	for _, o := range g.Offsets {
		if o.Topic == cs.topic {
			cs.committed[o.Partition] = o.Offset
		}
	}
	return nil
}

// commit records next as the group's offset of partition p: the next record
// a consumer of the group reads there.
func (cs *consumer) commit(ctx context.Context, p int, next int64) error {
	body, _ := json.Marshal(map[string]any{"offsets": []map[string]any{{"topic": cs.topic, "partition": p, "offset": next}}})
	path := "/api/v1/groups/" + url.PathEscape(cs.group) + "/commit"
	if err := cs.c.do(ctx, http.MethodPost, path, nil, "application/json", body, nil); err != nil {
		return fmt.Errorf("commit partition %d offset %d for group %q: %w", p, next, cs.group, err)
	}
	return nil
}

func (cs *consumer) printOne(p int, r *recordJSON) error {
	if cs.output == "json" {
		r.Partition = &p
		b, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode record: %w", err)
		}
		cs.out.Write(b)
		return cs.out.WriteByte('\n')
	}
	switch {
	case r.Value != nil:
		cs.out.WriteString(*r.Value)
	case r.ValueBase64 != nil:
		v, err := base64.StdEncoding.DecodeString(*r.ValueBase64)
		if err != nil {
			return fmt.Errorf("offset %d: decode value: %w", r.Offset, err)
		}
		cs.out.Write(v)
	}
	return cs.out.WriteByte('\n')
}
