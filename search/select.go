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

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Config bounds what one query may read.
type Config struct {
	MaxSelectEntries int           `yaml:"max_select_entries"`
	Index            IndexerConfig `yaml:"index"`
}

// RegisterFlags registers the search flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	f.IntVar(&c.MaxSelectEntries, "search.max-select-entries", 5_000_000,
		"Most entries one query may select before it is refused (narrow the time range or the selector).")
	c.Index.RegisterFlags(f)
}

// Validate reports a setting that cannot work.
func (c *Config) Validate() error {
	if c.MaxSelectEntries <= 0 {
		return errors.New("search.max-select-entries must be positive")
	}
	return c.Index.Validate()
}

// ErrTooManyEntries refuses a query that would select more than the limit.
var ErrTooManyEntries = errors.New("query selects too many entries")

// Searcher reads the logs topic of any tenant.
type Searcher struct {
	cfg     Config
	store   *topics.Store
	indexer *Indexer // nil: no index, every query scans
}

// NewSearcher returns a Searcher over store.
func NewSearcher(cfg Config, store *topics.Store) *Searcher {
	return &Searcher{cfg: cfg, store: store}
}

// WithIndexer makes s read the partition indexes ix maintains.
func (s *Searcher) WithIndexer(ix *Indexer) *Searcher {
	s.indexer = ix
	return s
}

// Querier returns the logql.Querier of one tenant.
func (s *Searcher) Querier(tenant string) logql.Querier {
	return tenantQuerier{s: s, tenant: tenant}
}

type tenantQuerier struct {
	s      *Searcher
	tenant string
}

// AppliesLineFiltersExactly: SelectLogs keeps only the entries that pass
// every pushed-down line filter.
func (q tenantQuerier) AppliesLineFiltersExactly() bool { return true }

// SelectLogs returns the entries of matching streams in [Start, End) that pass
// the pushed-down line filters, in time order: it reads the candidate blocks of
// each partition's index and the head not yet indexed (see planSources), and
// only as many of them as the entries the engine consumes need.
func (q tenantQuerier) SelectLogs(ctx context.Context, p logql.SelectParams) (logql.EntryIterator, error) {
	filters, err := compileFilters(p.LineFilters)
	if err != nil {
		return nil, err
	}
	sel := newSelection(p.Matchers)
	sel.p, sel.filters, sel.max = p, filters, q.s.cfg.MaxSelectEntries
	srcs, err := q.s.planSources(q.tenant, sel, p.Start, p.End)
	if err != nil {
		return nil, err
	}
	backward := p.Direction == logql.Backward
	it := newMergeIterator(ctx, sel, srcs, p.Start, p.End, backward, lokiOrder(backward))
	it.unordered = p.Unordered
	return it, nil
}

// selection is one query's view of the records it reads.
type selection struct {
	p       logql.SelectParams
	filters []lineFilter
	max     int
	// caches name each record key's stream, per topic; streams remember
	// whether each stream matches.
	caches  map[string]*streamCache
	streams map[*streamID]*stream
	// byIndexKey caches the streams of index blocks, by topic and stream key.
	byIndexKey map[[2]string]*stream
	// topic and partition are those being read.
	topic     string
	partition int
}

// stream is a stream and whether the selection's matchers match it.
type stream struct {
	*streamID
	match bool
}

func newSelection(ms []*labels.Matcher) *selection {
	s := &selection{caches: map[string]*streamCache{}, streams: map[*streamID]*stream{}, byIndexKey: map[[2]string]*stream{}}
	s.p.Matchers = ms
	return s
}

// clone returns a selection with the same query and fresh stream caches, for
// another goroutine.
func (s *selection) clone() *selection {
	c := newSelection(s.p.Matchers)
	c.p, c.filters, c.max = s.p, s.filters, s.max
	return c
}

// stream returns the stream of a record of topic, parsing and matching each
// key once.
func (s *selection) stream(topic string, key []byte) *stream {
	c := s.caches[topic]
	if c == nil {
		cache := newStreamCache()
		c = &cache
		s.caches[topic] = c
	}
	id := c.get(topic, key)
	st := s.streams[id]
	if st == nil {
		st = s.matched(id)
		s.streams[id] = st
	}
	return st
}

// streamOfKey returns the stream of an index block of topic, whose stream key
// is the canonical label string key.
func (s *selection) streamOfKey(topic, key string) *stream {
	k := [2]string{topic, key}
	st := s.byIndexKey[k]
	if st == nil {
		id := parseStream(topic, []byte(key))
		st = s.matched(&id)
		s.byIndexKey[k] = st
	}
	return st
}

func (s *selection) matched(id *streamID) *stream {
	st := &stream{streamID: id, match: true}
	for _, m := range s.p.Matchers {
		if !m.Matches(id.labels.Get(m.Name)) {
			st.match = false
			break
		}
	}
	return st
}

// needle is the longest |= string of the selection: every selected line holds
// it. Nil when there is none.
func (s *selection) needle() []byte {
	var n string
	for _, f := range s.p.LineFilters {
		if f.Op == "|=" && len(f.Value) > len(n) {
			n = f.Value
		}
	}
	if n == "" {
		return nil
	}
	return []byte(n)
}

func (s *selection) keep(line []byte) bool {
	for _, f := range s.filters {
		if !f(line) {
			return false
		}
	}
	return true
}

// recordMetadata is a record's headers, plus its key when the key is not the
// stream's label set.
func recordMetadata(st *stream, r *segments.Record) labels.Labels {
	withKey := st.keyAsMetadata && r.Key != nil
	if len(r.Headers) == 0 && !withKey {
		return labels.EmptyLabels()
	}
	b := labels.NewScratchBuilder(len(r.Headers) + 1)
	for _, h := range r.Headers {
		b.Add(h.Key, string(h.Value))
	}
	if withKey {
		b.Add(kafkaKeyLabel, string(r.Key))
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
