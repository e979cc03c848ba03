package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// settingsFlag collects repeated -set name=value flags.
type settingsFlag map[string]int64

func (s settingsFlag) String() string { return fmt.Sprint(map[string]int64(s)) }

func (s settingsFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want name=value, got %q", v)
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return fmt.Errorf("%s: value must be an integer: %w", name, err)
	}
	s[name] = n
	return nil
}

// runTopics is `silt topics`: a table of the tenant's topics and partitions
// with bytes and segments per tier, or with -topic and -set, a change of a
// topic's retention settings.
func runTopics(args []string, stdout, stderr io.Writer) int {
	f := flag.NewFlagSet("topics", flag.ContinueOnError)
	f.SetOutput(stderr)
	c := registerClientFlags(f)
	topic := f.String("topic", "", "Show (or with -set, change) this topic's retention settings.")
	set := settingsFlag{}
	f.Var(set, "set", "Set a retention setting, Kafka-named: retention.ms, retention.bytes, local.retention.ms, local.retention.bytes (-1 unlimited, -2 same as retention, 0 inherit). Repeatable.")
	f.Usage = func() {
		fmt.Fprintf(stderr, "Usage: silt topics [-addr URL] [-tenant T] [-topic T [-set name=value]...]\n\n"+
			"Lists topics with each partition's offsets and its bytes and segments per tier\n(hot: raw record batches, warm: local compressed, cold: object storage).\n"+
			"With -topic, prints the topic's effective retention settings; -set changes them at run time.\n\nFlags:\n")
		f.PrintDefaults()
	}
	if err := parseCLIFlags(f, args); err != nil {
		return usageExit(stderr, err)
	}
	if len(set) > 0 && *topic == "" {
		return usageExit(stderr, usageError(f, "-set needs -topic"))
	}
	if *topic != "" {
		return topicConfig(c, *topic, set, stdout, stderr)
	}
	var list topicListJSON
	if err := c.do(context.Background(), http.MethodGet, "/api/v1/topics", nil, "", nil, &list); err != nil {
		return cliFail(stderr, "topics", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tTOPIC\tPARTITION\tSTART\tLOCAL_START\tEND\tHOT_BYTES\tHOT_SEGS\tWARM_BYTES\tWARM_SEGS\tCOLD_BYTES\tCOLD_SEGS")
	for _, t := range list.Topics {
		for _, p := range t.Partitions {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d", list.Tenant, t.Name, p.Partition, p.StartOffset, p.LocalStartOffset, p.EndOffset)
			for _, tier := range []string{"hot", "warm", "cold"} {
				fmt.Fprintf(tw, "\t%d\t%d", p.Tiers[tier].Bytes, p.Tiers[tier].Segments)
			}
			fmt.Fprintln(tw)
		}
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "topics", err)
	}
	return 0
}

// topicConfig prints (after changing, when set is not empty) a topic's
// effective retention settings.
func topicConfig(c *client, topic string, set settingsFlag, stdout, stderr io.Writer) int {
	var cfg topicConfigJSON
	var err error
	if len(set) > 0 {
		body, _ := json.Marshal(map[string]int64(set))
		err = c.do(context.Background(), http.MethodPatch, topicPath(topic, "config"), nil, "application/json", body, &cfg)
	} else {
		err = c.do(context.Background(), http.MethodGet, topicPath(topic, "config"), nil, "", nil, &cfg)
	}
	if err != nil {
		return cliFail(stderr, "topics", err)
	}
	names := make([]string, 0, len(cfg.Effective))
	for n := range cfg.Effective {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", n, cfg.Effective[n].Value, cfg.Effective[n].Source)
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "topics", err)
	}
	return 0
}
