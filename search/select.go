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
	// keyAsMetadata: the record key is not a label set (a Kafka producer's
	// key), so it is reported as the kafka_key metadata of each entry.
	keyAsMetadata bool
}

// SelectLogs scans the partitions of the topics the selector can match (see
// scanTopics) from the first offset that may hold Start, keeping the entries of
// matching streams in [Start, End) that pass the pushed-down line filters,
// ordered by time. Without a per-block time summary yet, it reads to the end of
// each partition: timestamps are not monotonic in arrival order.
func (q tenantQuerier) SelectLogs(ctx context.Context, p logql.SelectParams) (logql.EntryIterator, error) {
	filters, err := compileFilters(p.LineFilters)
	if err != nil {
		return nil, err
	}
	sel := newSelection(p.Matchers)
	sel.p, sel.filters, sel.max = p, filters, q.s.cfg.MaxSelectEntries
	err = q.s.scanTopics(ctx, q.tenant, sel, p.Start, p.End, func(st *stream, r *segments.Record) error {
		if !sel.keep(r.Value) {
			return nil
		}
		if len(sel.entries) >= sel.max {
			return fmt.Errorf("%w: more than %d (-search.max-select-entries); narrow the time range or the selector", ErrTooManyEntries, sel.max)
		}
		sel.entries = append(sel.entries, logql.Entry{
			Timestamp: r.Timestamp,
			Line:      string(r.Value),
			Labels:    st.labels,
			Metadata:  recordMetadata(st, r),
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	sel.sort()
	return &sliceIterator{entries: sel.entries, i: -1}, nil
}

// selection is one query's view of the records it reads.
type selection struct {
	p       logql.SelectParams
	filters []lineFilter
	// streams caches each record key's stream, per topic.
	streams map[string]map[string]*stream
	entries []logql.Entry
	max     int
	// topic and partition are those scanTopics is reading.
	topic     string
	partition int
}

func newSelection(ms []*labels.Matcher) *selection {
	s := &selection{streams: map[string]map[string]*stream{}}
	s.p.Matchers = ms
	return s
}

// stream returns the stream of a record of topic, parsing and matching each
// key once. Records of the logs topic carry their label set as key; any other
// record (a Kafka producer's) belongs to the stream {topic="<name>"}.
func (s *selection) stream(topic string, key []byte) *stream {
	byKey := s.streams[topic]
	if byKey == nil {
		byKey = map[string]*stream{}
		s.streams[topic] = byKey
	}
	if topic != topics.TopicLogs {
		key = nil // one stream per topic
	}
	if st, ok := byKey[string(key)]; ok {
		return st
	}
	var st *stream
	if parsed, err := ingest.ParseLabels(string(key)); err == nil && topic == topics.TopicLogs {
		b := labels.NewScratchBuilder(len(parsed))
		for _, l := range parsed {
			b.Add(l.Name, l.Value)
		}
		b.Sort()
		st = s.matched(&stream{labels: b.Labels()})
	} else {
		st = byKey[topicStreamKey]
		if st == nil {
			st = s.matched(&stream{labels: labels.FromStrings(topicLabel, topic), keyAsMetadata: true})
			byKey[topicStreamKey] = st
		}
		if len(byKey) > maxCachedKafkaKeys {
			return st // Kafka keys may be unique: don't remember them all
		}
	}
	byKey[string(key)] = st
	return st
}

// topicStreamKey caches a topic's {topic="<name>"} stream; no record key
// starts with a NUL byte and parses as a label set.
const topicStreamKey = "\x00topic"

func (s *selection) matched(st *stream) *stream {
	st.match = true
	for _, m := range s.p.Matchers {
		if !m.Matches(st.labels.Get(m.Name)) {
			st.match = false
			break
		}
	}
	return st
}

// maxCachedKafkaKeys bounds the cache of non-label keys of the logs topic.
const maxCachedKafkaKeys = 10_000

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

// sliceIterator yields selected entries in order.
type sliceIterator struct {
	entries []logql.Entry
	i       int
}

func (it *sliceIterator) Next() bool      { it.i++; return it.i < len(it.entries) }
func (it *sliceIterator) At() logql.Entry { return it.entries[it.i] }
func (it *sliceIterator) Err() error      { return nil }
func (it *sliceIterator) Close() error    { return nil }
