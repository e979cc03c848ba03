// Package search answers queries over the partition logs: it selects the
// entries of a tenant's streams for the LogQL engine (search/logql) and, later,
// narrows them with the full-text index.
package search

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"regexp"
	"sort"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/ingest"
	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Config bounds what one query may read.
type Config struct {
	MaxSelectEntries int `yaml:"max_select_entries"`
}

// RegisterFlags registers the search flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.MaxSelectEntries, "search.max-select-entries", 5_000_000,
		"Most entries one query may select before it is refused (narrow the time range or the selector).")
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	if c.MaxSelectEntries <= 0 {
		return errors.New("search.max-select-entries must be positive")
	}
	return nil
}

// ErrTooManyEntries refuses a query that would select more than the limit.
var ErrTooManyEntries = errors.New("query selects too many entries")

// Searcher reads the logs topic of any tenant.
type Searcher struct {
	cfg   Config
	store *topics.Store
}

// NewSearcher returns a Searcher over store.
func NewSearcher(cfg Config, store *topics.Store) *Searcher {
	return &Searcher{cfg: cfg, store: store}
}

// Querier returns the logql.Querier of one tenant.
func (s *Searcher) Querier(tenant string) logql.Querier {
	return tenantQuerier{s: s, tenant: tenant}
}

type tenantQuerier struct {
	s      *Searcher
	tenant string
}

// stream is what a selection knows of one record key.
type stream struct {
	labels labels.Labels
	match  bool
}

// SelectLogs scans every partition of the tenant's logs topic from the first
// offset that may hold Start, keeping the entries of matching streams in
// [Start, End) that pass the pushed-down line filters, ordered by time. Without
// a per-block time summary yet, it reads to the end of each partition:
// timestamps are not monotonic in arrival order, so it cannot stop early.
func (q tenantQuerier) SelectLogs(ctx context.Context, p logql.SelectParams) (logql.EntryIterator, error) {
	filters, err := compileFilters(p.LineFilters)
	if err != nil {
		return nil, err
	}
	reg, err := q.s.store.Registry()
	if err != nil {
		return nil, err
	}
	t, err := reg.Get(q.tenant, topics.TopicLogs)
	if err != nil {
		return nil, err
	}
	sel := &selection{p: p, filters: filters, streams: map[string]*stream{}, max: q.s.cfg.MaxSelectEntries}
	for part := 0; part < t.Partitions; part++ {
		log, err := q.s.store.Partition(q.tenant, topics.TopicLogs, part)
		if err != nil {
			return nil, err
		}
		if err := sel.scan(ctx, log); err != nil {
			return nil, fmt.Errorf("select from partition %d: %w", part, err)
		}
	}
	sel.sort()
	return &sliceIterator{entries: sel.entries, i: -1}, nil
}

type selection struct {
	p       logql.SelectParams
	filters []lineFilter
	streams map[string]*stream
	entries []logql.Entry
	max     int
}

func (s *selection) scan(ctx context.Context, log *segments.Log) error {
	from, err := log.OffsetForTime(s.p.Start)
	if err != nil {
		return err
	}
	if start := log.StartOffset(); from < start {
		from = start
	}
	_, err = log.Scan(ctx, from, func(r *segments.Record) error {
		if r.Timestamp < s.p.Start || r.Timestamp >= s.p.End {
			return nil
		}
		st, err := s.stream(r.Key)
		if err != nil || !st.match || !s.keep(r.Value) {
			return err
		}
		if len(s.entries) >= s.max {
			return fmt.Errorf("%w: more than %d (-search.max-select-entries); narrow the time range or the selector", ErrTooManyEntries, s.max)
		}
		s.entries = append(s.entries, logql.Entry{
			Timestamp: r.Timestamp,
			Line:      string(r.Value),
			Labels:    st.labels,
			Metadata:  headerLabels(r.Headers),
		})
		return nil
	})
	return err
}

// stream parses and matches a record key once per selection.
func (s *selection) stream(key []byte) (*stream, error) {
	if st, ok := s.streams[string(key)]; ok {
		return st, nil
	}
	parsed, err := ingest.ParseLabels(string(key))
	if err != nil {
		return nil, fmt.Errorf("record key %q: %w", key, err)
	}
	b := labels.NewScratchBuilder(len(parsed))
	for _, l := range parsed {
		b.Add(l.Name, l.Value)
	}
	b.Sort()
	st := &stream{labels: b.Labels(), match: true}
	for _, m := range s.p.Matchers {
		if !m.Matches(st.labels.Get(m.Name)) {
			st.match = false
			break
		}
	}
	s.streams[string(key)] = st
	return st, nil
}

func (s *selection) keep(line []byte) bool {
	for _, f := range s.filters {
		if !f(line) {
			return false
		}
	}
	return true
}

func (s *selection) sort() {
	less := func(i, j int) bool { return s.entries[i].Timestamp < s.entries[j].Timestamp }
	if s.p.Direction == logql.Backward {
		less = func(i, j int) bool { return s.entries[i].Timestamp > s.entries[j].Timestamp }
	}
	sort.SliceStable(s.entries, less)
}

func headerLabels(hs []segments.Header) labels.Labels {
	if len(hs) == 0 {
		return labels.EmptyLabels()
	}
	b := labels.NewScratchBuilder(len(hs))
	for _, h := range hs {
		b.Add(h.Key, string(h.Value))
	}
	b.Sort()
	return b.Labels()
}

type lineFilter func(line []byte) bool

// compileFilters turns pushed-down line filters into byte predicates. The engine
// applies them again; here they only save work.
func compileFilters(fs []logql.LineFilter) ([]lineFilter, error) {
	out := make([]lineFilter, 0, len(fs))
	for _, f := range fs {
		v := []byte(f.Value)
		switch f.Op {
		case "|=":
			out = append(out, func(l []byte) bool { return bytes.Contains(l, v) })
		case "!=":
			out = append(out, func(l []byte) bool { return !bytes.Contains(l, v) })
		case "|~", "!~":
			re, err := regexp.Compile(f.Value)
			if err != nil {
				return nil, fmt.Errorf("line filter %s %q: %w", f.Op, f.Value, err)
			}
			neg := f.Op == "!~"
			out = append(out, func(l []byte) bool { return re.Match(l) != neg })
		default:
			return nil, fmt.Errorf("unknown line filter operator %q", f.Op)
		}
	}
	return out, nil
}

// sliceIterator yields selected entries in order.
type sliceIterator struct {
	entries []logql.Entry
	i       int
}

func (it *sliceIterator) Next() bool      { it.i++; return it.i < len(it.entries) }
func (it *sliceIterator) At() logql.Entry { return it.entries[it.i] }
func (it *sliceIterator) Err() error      { return nil }
func (it *sliceIterator) Close() error    { return nil }
