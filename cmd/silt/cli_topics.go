package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
)

// runTopics is `silt topics`: a table of the tenant's topics and partitions.
func runTopics(args []string, stdout, stderr io.Writer) int {
	f := flag.NewFlagSet("topics", flag.ContinueOnError)
	f.SetOutput(stderr)
	c := registerClientFlags(f)
	f.Usage = func() {
		fmt.Fprintf(stderr, "Usage: silt topics [-addr URL] [-tenant T]\n\nLists topics with each partition's start and end offsets and size.\n\nFlags:\n")
		f.PrintDefaults()
	}
	if err := parseCLIFlags(f, args); err != nil {
		return usageExit(stderr, err)
	}
	var list topicListJSON
	if err := c.do(context.Background(), http.MethodGet, "/api/v1/topics", nil, "", nil, &list); err != nil {
		return cliFail(stderr, "topics", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tTOPIC\tPARTITION\tSTART\tEND\tBYTES")
	for _, t := range list.Topics {
		for _, p := range t.Partitions {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", list.Tenant, t.Name, p.Partition, p.StartOffset, p.EndOffset, p.Bytes)
		}
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "topics", err)
	}
	return 0
}
