package logql

import (
	"context"
	"regexp"
	"sort"

	"github.com/prometheus/prometheus/model/labels"
)

// memQuerier is a Querier over a slice of entries, for tests.
type memQuerier struct {
	entries  []Entry
	lastSel  SelectParams
	selCount int
}

func (m *memQuerier) SelectLogs(_ context.Context, p SelectParams) (EntryIterator, error) {
	m.lastSel = p
	m.selCount++
	var out []Entry
	for _, e := range m.entries {
		if e.Timestamp < p.Start || e.Timestamp >= p.End || !matchAll(p.Matchers, e.Labels) {
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if p.Direction == Backward {
			return out[i].Timestamp > out[j].Timestamp
		}
		return out[i].Timestamp < out[j].Timestamp
	})
	return &sliceIter{entries: out, i: -1}, nil
}

func matchAll(ms []*labels.Matcher, ls labels.Labels) bool {
	for _, m := range ms {
		if !m.Matches(ls.Get(m.Name)) {
			return false
		}
	}
	return true
}

type sliceIter struct {
	entries []Entry
	i       int
}

func (s *sliceIter) Next() bool   { s.i++; return s.i < len(s.entries) }
func (s *sliceIter) At() Entry    { return s.entries[s.i] }
func (s *sliceIter) Err() error   { return nil }
func (s *sliceIter) Close() error { return nil }

// sec is a timestamp in ns at n seconds.
func sec(n float64) int64 { return int64(n * 1e9) }

// ent builds an entry; lbls is a selector-like string: `app="a",host="h"`.
func ent(ts int64, lbls, line string, meta ...string) Entry {
	return Entry{Timestamp: ts, Line: line, Labels: parseLabels(lbls), Metadata: labels.FromStrings(meta...)}
}

var labelPairRE = regexp.MustCompile(`(\w+)="([^"]*)"`)

func parseLabels(s string) labels.Labels {
	var kv []string
	for _, m := range labelPairRE.FindAllStringSubmatch(s, -1) {
		kv = append(kv, m[1], m[2])
	}
	return labels.FromStrings(kv...)
}
