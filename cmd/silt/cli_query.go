package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/net/websocket"

	"github.com/siltlog/silt/ingest"
)

// parseQueryArgs parses a command's flags and its one LogQL argument, which
// may come before or after the flags.
func parseQueryArgs(f *flag.FlagSet, args []string) (string, error) {
	var query string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		query, args = args[0], args[1:]
	}
	if err := f.Parse(args); err != nil {
		return "", err
	}
	if query == "" && f.NArg() > 0 {
		query = f.Arg(0)
		if err := f.Parse(f.Args()[1:]); err != nil {
			return "", err
		}
	}
	if f.NArg() > 0 {
		return "", usageError(f, "unexpected argument %q: quote the whole query as one argument", f.Arg(0))
	}
	if query == "" {
		return "", usageError(f, "a LogQL query is required")
	}
	return query, nil
}

// lokiQueryResponse is a query_range answer: streams or a matrix.
type lokiQueryResponse struct {
	Data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Stream map[string]string `json:"stream"`
			Metric map[string]string `json:"metric"`
			Values [][]any           `json:"values"`
		} `json:"result"`
	} `json:"data"`
}

// queryLine is one log line as -output json prints it.
type queryLine struct {
	Timestamp string            `json:"timestamp"`
	Labels    map[string]string `json:"labels"`
	Line      string            `json:"line"`
	ts        int64
}

// runQuery is `silt query`: a LogQL query over /loki/api/v1/query_range.
func runQuery(args []string, stdout, stderr io.Writer) int {
	f := flag.NewFlagSet("query", flag.ContinueOnError)
	f.SetOutput(stderr)
	c := registerClientFlags(f)
	since := f.Duration("since", time.Hour, "How far back to query.")
	limit := f.Int("limit", 100, "Most log lines to return (log queries).")
	step := f.String("step", "", "Step of a metric query (default: about 250 points over the range).")
	output := f.String("output", "table", "Output: table, json (one object per line) or raw (lines only).")
	f.Usage = func() {
		fmt.Fprintf(stderr, "Usage: silt query '<LogQL>' [-since 1h] [-limit N] [-step D] [-output table|json|raw]\n\nFlags:\n")
		f.PrintDefaults()
	}
	query, err := parseQueryArgs(f, args)
	if err == nil && *output != "table" && *output != "json" && *output != "raw" {
		err = usageError(f, "-output must be table, json or raw, got %q", *output)
	}
	if err != nil {
		return usageExit(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	now := time.Now()
	q := url.Values{"query": {query}, "limit": {strconv.Itoa(*limit)}, "direction": {"backward"},
		"start": {strconv.FormatInt(now.Add(-*since).UnixNano(), 10)}, "end": {strconv.FormatInt(now.UnixNano(), 10)}}
	if *step != "" {
		q.Set("step", *step)
	}
	var resp lokiQueryResponse
	if err := c.do(ctx, http.MethodGet, "/loki/api/v1/query_range", q, "", nil, &resp); err != nil {
		return cliFail(stderr, "query", err)
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	if resp.Data.ResultType == "streams" {
		printStreams(w, &resp, *output)
	} else {
		printMatrix(w, &resp, *output)
	}
	return 0
}

// printStreams prints log lines newest first.
func printStreams(w io.Writer, resp *lokiQueryResponse, output string) {
	var lines []queryLine
	for _, s := range resp.Data.Result {
		for _, v := range s.Values {
			if len(v) < 2 {
				continue
			}
			ts, _ := v[0].(string)
			line, _ := v[1].(string)
			n, _ := strconv.ParseInt(ts, 10, 64)
			lines = append(lines, queryLine{Timestamp: ts, Labels: s.Stream, Line: line, ts: n})
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ts > lines[j].ts })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if output == "table" {
		fmt.Fprintln(tw, "TIME\tLABELS\tLINE")
	}
	for _, l := range lines {
		switch output {
		case "raw":
			fmt.Fprintln(tw, l.Line)
		case "json":
			b, _ := json.Marshal(l)
			fmt.Fprintf(tw, "%s\n", b)
		default:
			fmt.Fprintf(tw, "%s\t%s\t%s\n", time.Unix(0, l.ts).UTC().Format(time.RFC3339Nano), labelString(l.Labels), l.Line)
		}
	}
	tw.Flush()
}

// printMatrix prints a metric query's series, a point per line.
func printMatrix(w io.Writer, resp *lokiQueryResponse, output string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if output == "table" {
		fmt.Fprintln(tw, "SERIES\tTIME\tVALUE")
	}
	for _, s := range resp.Data.Result {
		if output == "json" {
			b, _ := json.Marshal(map[string]any{"metric": s.Metric, "values": s.Values})
			fmt.Fprintf(tw, "%s\n", b)
			continue
		}
		for _, v := range s.Values {
			if len(v) < 2 {
				continue
			}
			secs, _ := v[0].(float64)
			t := time.UnixMilli(int64(secs * 1e3)).UTC().Format(time.RFC3339)
			fmt.Fprintf(tw, "%s\t%s\t%v\n", labelString(s.Metric), t, v[1])
		}
	}
	tw.Flush()
}

func labelString(m map[string]string) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + strconv.Quote(m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// runTail is `silt tail`: new lines of a log query as they arrive, over
// Loki's /tail WebSocket.
func runTail(args []string, stdout, stderr io.Writer) int {
	f := flag.NewFlagSet("tail", flag.ContinueOnError)
	f.SetOutput(stderr)
	c := registerClientFlags(f)
	since := f.Duration("since", 0, "Also print lines from this far back.")
	limit := f.Int("limit", 0, "Stop after this many lines (0: run until Ctrl-C).")
	output := f.String("output", "raw", "Output: raw (lines only) or json (one object per line).")
	f.Usage = func() {
		fmt.Fprintf(stderr, "Usage: silt tail '<LogQL log query>' [-since D] [-limit N] [-output raw|json]\n\nFlags:\n")
		f.PrintDefaults()
	}
	query, err := parseQueryArgs(f, args)
	if err == nil && *output != "raw" && *output != "json" {
		err = usageError(f, "-output must be raw or json, got %q", *output)
	}
	if err != nil {
		return usageExit(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := tail(ctx, c, query, *since, *limit, *output, stdout); err != nil {
		return cliFail(stderr, "tail", err)
	}
	return 0
}

func tail(ctx context.Context, c *client, query string, since time.Duration, limit int, output string, stdout io.Writer) error {
	u, err := url.Parse(strings.TrimSuffix(c.addr, "/") + "/loki/api/v1/tail")
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	origin := *u
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.RawQuery = url.Values{"query": {query}, "start": {strconv.FormatInt(time.Now().Add(-since).UnixNano(), 10)}}.Encode()
	cfg, err := websocket.NewConfig(u.String(), origin.String())
	if err != nil {
		return err
	}
	if c.tenant != "" {
		cfg.Header.Set(ingest.TenantHeader, c.tenant)
	}
	ws, err := cfg.DialContext(ctx)
	if err != nil {
		return fmt.Errorf("connect %s: %w", u.Redacted(), err)
	}
	defer ws.Close()
	go func() { <-ctx.Done(); ws.Close() }()
	printed := 0
	for limit == 0 || printed < limit {
		var msg struct {
			Streams []struct {
				Stream map[string]string `json:"stream"`
				Values [][2]string       `json:"values"`
			} `json:"streams"`
		}
		if err := websocket.JSON.Receive(ws, &msg); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("receive: %w", err)
		}
		for _, s := range msg.Streams {
			for _, v := range s.Values {
				if limit > 0 && printed >= limit {
					break
				}
				if output == "json" {
					b, _ := json.Marshal(queryLine{Timestamp: v[0], Labels: s.Stream, Line: v[1]})
					fmt.Fprintf(stdout, "%s\n", b)
				} else {
					fmt.Fprintln(stdout, v[1])
				}
				printed++
			}
		}
	}
	return nil
}
