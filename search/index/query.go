package index

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// maxDictTerms bounds the terms a suffix/infix dictionary scan may turn into a
// disjunction; beyond it the fragment constrains nothing.
const maxDictTerms = 1024

// MatchType is a label matcher's operator.
type MatchType uint8

const (
	MatchEqual     MatchType = iota // =
	MatchNotEqual                   // !=
	MatchRegexp                     // =~ (fully anchored)
	MatchNotRegexp                  // !~ (fully anchored)
)

// LabelMatcher is one matcher of a stream selector.
type LabelMatcher struct {
	Type        MatchType
	Name, Value string
}

// Query asks for the blocks that may hold a line containing every string of
// Contains (LogQL `|=`, case-sensitive), in a stream matching every label
// matcher, with a line time in [Start, End] (unix ns; End 0 means no upper bound).
type Query struct {
	Contains []string
	Labels   []LabelMatcher
	Start    int64
	End      int64
}

// plan is what a Query asks of bleve and of the blooms.
type plan struct {
	must    []query.Query
	mustNot []query.Query
	ids     []string // ID-like whole tokens, tested against each block's bloom
	none    bool     // no block can match
}

// Candidates returns the blocks that may hold a matching line, in the order they
// were added. It never leaves out a block that holds one.
func (ix *Index) Candidates(q Query) ([]BlockRef, error) {
	infos, err := ix.Find(q)
	if err != nil {
		return nil, err
	}
	out := make([]BlockRef, len(infos))
	for i := range infos {
		out[i] = infos[i].Ref
	}
	return out, nil
}

// BlockInfo is a candidate block and what the block table knows of it.
type BlockInfo struct {
	Ref BlockRef
	// Key is the stream's canonical label string.
	Key        string
	Start, End int64 // unix ns, inclusive
	Lines      int
	LineBytes  int64
	buckets    []byte
}

// EachSecond calls fn with each whole second of line time that has lines in
// the block, in order, and their count.
func (b *BlockInfo) EachSecond(fn func(sec int64, n int)) {
	_ = eachBucket(b.buckets, b.Start, fn) // checked when the table was read
}

// Find is Candidates with each block's table entry.
func (ix *Index) Find(q Query) ([]BlockInfo, error) {
	snap, err := ix.find(q, false)
	return snap.Blocks, err
}

// Snapshot is an answer of FindAll: the candidate blocks, and the checkpoint
// and stream ends of the same committed state.
type Snapshot struct {
	Blocks     []BlockInfo
	Checkpoint Checkpoint
	// Ends maps each stream key to the last offset of its newest block: a
	// record past the checkpoint is in a block iff its offset is at or below
	// its stream's end.
	Ends map[string]int64
}

// FindAll is Find with the checkpoint and stream ends the answer is
// consistent with.
func (ix *Index) FindAll(q Query) (Snapshot, error) { return ix.find(q, true) }

func (ix *Index) find(q Query, withEnds bool) (Snapshot, error) {
	var snap Snapshot
	p := &plan{}
	for _, s := range q.Contains {
		if err := ix.planString(p, s); err != nil {
			return snap, err
		}
	}
	for _, m := range q.Labels {
		if err := p.addLabel(m); err != nil {
			return snap, err
		}
	}
	ix.mu.RLock()
	metas, c := ix.metas, ix.commit
	ix.mu.RUnlock()
	snap.Checkpoint = Checkpoint{Blocks: int(c.blocks), Next: c.next, NextTime: c.nextTime}
	if withEnds {
		snap.Ends = streamEnds(metas)
	}
	if p.none {
		return snap, nil
	}
	seqs, err := ix.search(p, len(metas))
	if err != nil {
		return snap, err
	}
	end := q.End
	if end == 0 {
		end = math.MaxInt64
	}
	for _, seq := range seqs {
		m := &metas[seq]
		if m.start > end || m.end < q.Start || !m.mayHold(p.ids) {
			continue
		}
		snap.Blocks = append(snap.Blocks, BlockInfo{Ref: m.ref, Key: m.key, Start: m.start, End: m.end,
			Lines: m.lines, LineBytes: m.lineBytes, buckets: m.buckets})
	}
	return snap, nil
}

func streamEnds(metas []blockMeta) map[string]int64 {
	out := map[string]int64{}
	for i := range metas {
		m := &metas[i]
		if last, ok := out[m.key]; !ok || m.ref.LastOffset > last {
			out[m.key] = m.ref.LastOffset
		}
	}
	return out
}

func (m *blockMeta) mayHold(ids []string) bool {
	for _, id := range ids {
		if m.bloom == nil || !m.bloom.TestString(id) {
			return false
		}
	}
	return true
}

// search returns the sequence numbers (< n, ascending) of the blocks bleve finds
// for p; with no bleve constraint, all of them.
func (ix *Index) search(p *plan, n int) ([]int, error) {
	if len(p.must) == 0 && len(p.mustNot) == 0 {
		seqs := make([]int, n)
		for i := range seqs {
			seqs[i] = i
		}
		return seqs, nil
	}
	must := p.must
	if len(must) == 0 {
		must = []query.Query{bleve.NewMatchAllQuery()}
	}
	bq := bleve.NewBooleanQuery()
	bq.AddMust(must...)
	bq.AddMustNot(p.mustNot...)
	total, err := ix.bleve.DocCount()
	if err != nil || total == 0 {
		return nil, err
	}
	req := bleve.NewSearchRequestOptions(bq, int(total), 0, false)
	req.Score = bleve.ScoreNone
	res, err := ix.bleve.Search(req)
	if err != nil {
		return nil, fmt.Errorf("search block index: %w", err)
	}
	seqs := make([]int, 0, len(res.Hits))
	for _, h := range res.Hits {
		seq, err := strconv.ParseUint(h.ID, 16, 63)
		if err != nil {
			return nil, fmt.Errorf("block index: bad document id %q", h.ID)
		}
		if seq < uint64(n) { // no record yet: an uncommitted document
			seqs = append(seqs, int(seq))
		}
	}
	sort.Ints(seqs)
	return seqs, nil
}

// planString adds what a `|=` string asks of a block (see FORMAT.md).
func (ix *Index) planString(p *plan, s string) error {
	frags := Fragments(s)
	whole := false
	for _, f := range frags {
		if f.Kind != Whole {
			continue
		}
		whole = true
		if IsIDLike(f.Text) {
			p.ids = append(p.ids, f.Text)
		} else {
			p.must = append(p.must, termQuery(fieldTokens, f.Text))
		}
	}
	if whole {
		return nil
	}
	for _, f := range frags {
		if f.Kind == Prefix && !mayBePartOfID(f.Text) {
			pq := bleve.NewPrefixQuery(f.Text)
			pq.SetField(fieldTokens)
			p.must = append(p.must, pq)
			return nil
		}
	}
	var best *Fragment
	for i, f := range frags {
		if (f.Kind == Suffix || f.Kind == Infix) && !mayBePartOfID(f.Text) && (best == nil || len(f.Text) > len(best.Text)) {
			best = &frags[i]
		}
	}
	if best == nil {
		return nil
	}
	return ix.planDictScan(p, *best)
}

// planDictScan constrains a suffix or infix fragment (one that cannot be part of
// an ID-like token) by scanning the term dictionary.
func (ix *Index) planDictScan(p *plan, f Fragment) error {
	ix.mu.RLock()
	blob := ix.terms.blob
	ix.mu.RUnlock()
	terms, ok := matchingTerms(blob, f, maxDictTerms)
	if !ok {
		return nil // too broad to be worth it: no constraint
	}
	if len(terms) == 0 {
		p.none = true
		return nil
	}
	qs := make([]query.Query, len(terms))
	for i, t := range terms {
		qs[i] = termQuery(fieldTokens, t)
	}
	p.must = append(p.must, bleve.NewDisjunctionQuery(qs...))
	return nil
}

// addLabel adds a label matcher. Matchers that an absent label could satisfy are
// left out where bleve cannot express them cheaply: candidates only need to be a
// superset.
func (p *plan) addLabel(m LabelMatcher) error {
	field := fieldLabelPrefix + m.Name
	switch m.Type {
	case MatchEqual:
		if m.Value == "" {
			p.mustNot = append(p.mustNot, regexpQuery(field, ".+"))
		} else {
			p.must = append(p.must, termQuery(field, m.Value))
		}
	case MatchNotEqual:
		if m.Value == "" {
			p.must = append(p.must, regexpQuery(field, ".+"))
		} else {
			p.mustNot = append(p.mustNot, termQuery(field, m.Value))
		}
	case MatchRegexp, MatchNotRegexp:
		re, err := regexp.Compile("^(?:" + m.Value + ")$")
		if err != nil {
			return fmt.Errorf("label matcher %s: bad regexp %q: %w", m.Name, m.Value, err)
		}
		if re.MatchString("") {
			return nil // an absent label matches too: no constraint
		}
		if m.Type == MatchRegexp {
			p.must = append(p.must, regexpQuery(field, m.Value))
		} else {
			p.mustNot = append(p.mustNot, regexpQuery(field, m.Value))
		}
	default:
		return fmt.Errorf("label matcher %s: unknown type %d", m.Name, m.Type)
	}
	return nil
}

func termQuery(field, term string) query.Query {
	q := bleve.NewTermQuery(term)
	q.SetField(field)
	return q
}

func regexpQuery(field, re string) query.Query {
	q := bleve.NewRegexpQuery(re)
	q.SetField(field)
	return q
}
