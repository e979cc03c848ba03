package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"
)

// runCluster is `silt cluster <subcommand>`; status is the only one.
func runCluster(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "status" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprint(stdout, clusterUsage)
			return 0
		}
		fmt.Fprint(stderr, clusterUsage)
		return 2
	}
	return runClusterStatus(args[1:], stdout, stderr)
}

const clusterUsage = `Usage: silt cluster status [-addr URL] [-tenant T]

Shows the nodes of the cluster as the server at -addr sees them: state,
health, zone, ring address, last heartbeat, ring tokens, and how many of the
tenant's partitions each leads and follows.
`

func runClusterStatus(args []string, stdout, stderr io.Writer) int {
	f := flag.NewFlagSet("cluster status", flag.ContinueOnError)
	f.SetOutput(stderr)
	c := registerClientFlags(f)
	f.Usage = func() {
		fmt.Fprint(stderr, clusterUsage+"\nFlags:\n")
		f.PrintDefaults()
	}
	if err := parseCLIFlags(f, args); err != nil {
		return usageExit(stderr, err)
	}
	var st clusterJSON
	if err := c.do(context.Background(), http.MethodGet, "/api/v1/cluster", nil, "", nil, &st); err != nil {
		return cliFail(stderr, "cluster status", err)
	}
	fmt.Fprintf(stdout, "mode: %s, %d node(s), tenant %s\n", st.Mode, len(st.Nodes), st.Tenant)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tHEALTHY\tZONE\tADDRESS\tHEARTBEAT\tTOKENS\tLEADS\tFOLLOWS")
	for _, n := range st.Nodes {
		id := n.ID
		if id == st.Self {
			id += " (this)"
		}
		zone := n.Zone
		if zone == "" {
			zone = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%d\t%d\t%d\n", id, n.State, n.Healthy, zone, n.Address,
			heartbeatAge(n.Heartbeat), n.Tokens, len(n.Leader), len(n.Follower))
	}
	if err := tw.Flush(); err != nil {
		return cliFail(stderr, "cluster status", err)
	}
	return 0
}

// heartbeatAge renders an RFC 3339 heartbeat as an age ("3s ago").
func heartbeatAge(rfc3339 string) string {
	t, err := time.Parse(time.RFC3339, rfc3339)
	if err != nil {
		return rfc3339
	}
	return time.Since(t).Truncate(time.Second).String() + " ago"
}
