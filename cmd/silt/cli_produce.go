package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"syscall"
)

// producer batches stdin lines into text/plain produce requests.
type producer struct {
	c          *client
	topic      string
	query      url.Values
	maxLines   int
	maxBytes   int
	batch      []byte
	lines      int
	requests   int
	records    int
	partitions map[int][2]int64 // partition -> first and last offset written
}

// runProduce is `silt produce`: every non-empty stdin line becomes a record.
func runProduce(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := flag.NewFlagSet("produce", flag.ContinueOnError)
	f.SetOutput(stderr)
	c := registerClientFlags(f)
	topic := f.String("topic", "", "Topic to write to (required).")
	key := f.String("key", "", "Key of every record; records with one key share a partition.")
	partition := f.Int("partition", -1, "Partition to write to (default: by key, else round-robin per request).")
	batchLines := f.Int("batch", 1000, "Lines per request.")
	f.Usage = func() {
		fmt.Fprintf(stderr, "Usage: silt produce -topic T [-key K] [-partition P] < lines\n\nSends each non-empty stdin line as one record.\n\nFlags:\n")
		f.PrintDefaults()
	}
	if err := parseCLIFlags(f, args); err != nil {
		return usageExit(stderr, err)
	}
	switch {
	case *topic == "":
		return usageExit(stderr, usageError(f, "-topic is required"))
	case *batchLines < 1:
		return usageExit(stderr, usageError(f, "-batch must be at least 1"))
	}
	p := &producer{c: c, topic: *topic, query: url.Values{}, maxLines: *batchLines, maxBytes: 1 << 20, partitions: map[int][2]int64{}}
	if isFlagSet(f, "key") {
		p.query.Set("key", *key)
	}
	if *partition >= 0 {
		p.query.Set("partition", strconv.Itoa(*partition))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.run(ctx, stdin); err != nil {
		p.summary(stdout)
		return cliFail(stderr, "produce", err)
	}
	p.summary(stdout)
	return 0
}

func isFlagSet(f *flag.FlagSet, name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

func (p *producer) run(ctx context.Context, stdin io.Reader) error {
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if p.lines > 0 && (p.lines >= p.maxLines || len(p.batch)+len(line)+1 > p.maxBytes) {
			if err := p.flush(ctx); err != nil {
				return err
			}
		}
		p.batch = append(append(p.batch, line...), '\n')
		p.lines++
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	return p.flush(ctx)
}

func (p *producer) flush(ctx context.Context) error {
	if p.lines == 0 {
		return nil
	}
	var resp produceResponse
	err := p.c.do(ctx, http.MethodPost, topicPath(p.topic, "records"), p.query, "text/plain; charset=utf-8", p.batch, &resp)
	if err != nil {
		return fmt.Errorf("after %d records: %w", p.records, err)
	}
	p.requests++
	for _, o := range resp.Offsets {
		p.records += o.Count
		r, ok := p.partitions[o.Partition]
		if !ok {
			r[0] = o.BaseOffset
		}
		r[1] = o.BaseOffset + int64(o.Count) - 1
		p.partitions[o.Partition] = r
	}
	p.batch, p.lines = p.batch[:0], 0
	return nil
}

func (p *producer) summary(w io.Writer) {
	fmt.Fprintf(w, "produced %d records to topic %q in %d request(s)\n", p.records, p.topic, p.requests)
	parts := make([]int, 0, len(p.partitions))
	for part := range p.partitions {
		parts = append(parts, part)
	}
	sort.Ints(parts)
	for _, part := range parts {
		r := p.partitions[part]
		fmt.Fprintf(w, "  partition %d: offsets %d to %d\n", part, r[0], r[1])
	}
}
