// Command silt is the silt server and its command-line client in one binary.
//
//	silt [server] [flags]   run the all-in-one server (the default)
//	silt topics             list topics and partitions
//	silt produce            send stdin lines to a topic
//	silt consume            read a partition from an offset or a time
//	silt cluster status     the cluster's nodes and their partitions
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

const usageText = `Usage: silt <command> [flags]

Commands:
  server    run the all-in-one server (default when no command is given)
  topics    list topics with their partitions and offsets
  produce   send stdin lines as records to a topic
  consume   read records from a topic's partitions (-group: resume and commit)
  query     run a LogQL query (log lines or a metric matrix)
  tail      follow the new lines of a LogQL log query
  bench     load generator: push log lines over any ingest protocol
  cluster   cluster status: the ring's nodes and the partitions each holds
  help      show this help

Run "silt <command> -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return runServer(args, stdout, stderr)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "server":
		return runServer(rest, stdout, stderr)
	case "topics":
		return runTopics(rest, stdout, stderr)
	case "produce":
		return runProduce(rest, stdin, stdout, stderr)
	case "consume":
		return runConsume(rest, stdout, stderr)
	case "query":
		return runQuery(rest, stdout, stderr)
	case "tail":
		return runTail(rest, stdout, stderr)
	case "bench":
		return runBench(rest, stdout, stderr)
	case "cluster":
		return runCluster(rest, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usageText)
		return 0
	}
	fmt.Fprintf(stderr, "silt: unknown command %q\n\n%s", cmd, usageText)
	return 2
}

// usageExit reports a command-line error: exit 0 for -h, else 2.
func usageExit(stderr io.Writer, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "error:", err)
	return 2
}
