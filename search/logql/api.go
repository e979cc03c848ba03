// Package logql parses and evaluates LogQL, the query language of Grafana
// Loki, over any storage that implements Querier.
//
// The package has three layers:
//
//   - lexer.go, parser*.go and ast*.go turn a query string into an AST whose
//     String method prints a canonical query that parses back to itself;
//   - pipeline*.go, parsers.go, format.go and detected_level.go run a log
//     pipeline (line filters, parsers, label filters, formatters) over entries;
//   - engine.go and eval_*.go evaluate log queries (streams) and metric
//     queries (range and vector aggregations, binary operators) step by step,
//     as Loki's /query and /query_range do.
//
// The storage side only answers SelectLogs: the entries of the streams that
// match a selector within a time range, in time order.
package logql

import (
	"context"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Direction is the time order in which entries are returned.
type Direction int

// Directions of a log query.
const (
	Forward Direction = iota
	Backward
)

func (d Direction) String() string {
	if d == Backward {
		return "backward"
	}
	return "forward"
}

// Entry is one log line of a stream as the storage returns it.
type Entry struct {
	Timestamp int64         // ns
	Line      string        // the log line
	Labels    labels.Labels // the stream's labels
	Metadata  labels.Labels // structured metadata (may be empty)
}

// EntryIterator yields entries in the requested direction, ordered by time
// (ties: any stable order). Entries of one stream keep their order.
type EntryIterator interface {
	Next() bool
	At() Entry
	Err() error
	Close() error
}

// SelectParams describes the entries a query needs from the storage.
type SelectParams struct {
	Matchers  []*labels.Matcher // the stream selector
	Start     int64             // ns, inclusive
	End       int64             // ns, exclusive
	Direction Direction
	// LineFilters is an optional pushdown: the storage may use them to skip
	// entries; the engine applies them again, so ignoring them is correct.
	LineFilters []LineFilter
	// Unordered lets the storage return the entries in any order: the caller
	// orders what it needs (a metric query sorts each series' samples).
	Unordered bool
	// NoLines tells a storage that applies LineFilters exactly (an
	// ExactFilterer) that the caller reads no line: entries may carry an
	// empty Line.
	NoLines bool
}

// LineFilter is a line filter the storage may use to skip entries.
type LineFilter struct {
	Op    string // "|=", "!=", "|~", "!~"
	Value string
}

// Querier is the storage side of the engine.
type Querier interface {
	SelectLogs(ctx context.Context, p SelectParams) (EntryIterator, error)
}

// ExactFilterer is a Querier that applies SelectParams.LineFilters exactly,
// so the engine need not apply them again.
type ExactFilterer interface {
	AppliesLineFiltersExactly() bool
}

// EngineOpts limits what one query may do. Zero values mean the defaults.
type EngineOpts struct {
	// MaxEntriesLimit is the largest Limit a log query may ask for (0: no cap).
	MaxEntriesLimit int
	// DefaultLimit is the Limit of a log query that sets none (default 100).
	DefaultLimit int
	// MaxSeries is the most series a metric query may return (0: no cap).
	MaxSeries int
	// MaxLookback caps the [range] (plus offset) of a range aggregation (0: no cap).
	MaxLookback time.Duration
	// MaxPoints caps the number of steps of a range query (default 11000, as Prometheus).
	MaxPoints int
}

// QueryParams is one query as the Loki HTTP API receives it.
type QueryParams struct {
	Query      string
	Start, End int64 // ns; an instant query evaluates at End
	Step       time.Duration
	Interval   time.Duration // log queries: keep entries at least this far apart
	Direction  Direction
	Limit      int
	Instant    bool
}

// Result types, as Loki's resultType.
const (
	ResultStreams = "streams"
	ResultMatrix  = "matrix"
	ResultVector  = "vector"
	ResultScalar  = "scalar"
)

// Result is one of: Streams (log query), Matrix (range metric query), Vector
// (instant metric query), Scalar (a literal).
type Result struct {
	Type    string
	Streams []Stream
	Matrix  []Series
	Vector  []Sample
	Scalar  *Point
}

// Stream is the entries that share one final label set (after parsers,
// label_format, drop, keep, ...).
type Stream struct {
	// Labels is the full final label set: stream labels, structured metadata
	// and parsed labels together, as Loki returns without categorize-labels.
	Labels labels.Labels
	// StreamLabels is the part of Labels that came from the stream itself,
	// for the categorize-labels encoding.
	StreamLabels labels.Labels
	Entries      []StreamEntry
}

// StreamEntry is one entry of a Stream. Metadata and Parsed hold the labels
// of those categories that remain in the final label set.
type StreamEntry struct {
	Timestamp int64 // ns
	Line      string
	Metadata  labels.Labels
	Parsed    labels.Labels
}

// Series is one series of a matrix.
type Series struct {
	Labels labels.Labels
	Points []Point
}

// Point is a value at a time.
type Point struct {
	T int64 // ms
	V float64
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels labels.Labels
	T      int64 // ms
	V      float64
}
