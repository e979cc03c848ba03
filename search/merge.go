package search

import (
	"container/heap"
	"context"
	"fmt"
	"slices"

	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments"
)

// mergeIterator yields a query's entries in order while reading as few
// sources as it can: it reads the sources whose time bounds could still hold
// the next entry, keeps what they yield in a heap, and stops reading once the
// engine has what it asked for. Sources with unknown bounds (the head) are
// read first.
type mergeIterator struct {
	ctx        context.Context
	sel        *selection
	start, end int64
	backward   bool // newest first: read by maxT descending
	srcs       []source
	items      positionHeap
	// skip, if set, drops entries at a position (a cursor's earlier pages).
	skip func(position) bool
	// onNext, if set, sees the position of each entry returned.
	onNext func(position)
	cur    positioned
	err    error
}

func newMergeIterator(ctx context.Context, sel *selection, srcs []source, start, end int64,
	backward bool, less func(a, b *position) bool) *mergeIterator {
	slices.SortStableFunc(srcs, func(a, b source) int {
		switch ab, bb := a.bounded(), b.bounded(); {
		case ab != bb:
			if bb {
				return -1
			}
			return 1
		case backward:
			return compareInt64(b.maxT, a.maxT)
		}
		return compareInt64(a.minT, b.minT)
	})
	return &mergeIterator{ctx: ctx, sel: sel, start: start, end: end, backward: backward, srcs: srcs,
		items: positionHeap{less: less}}
}

// mustRead reports whether src may hold an entry that comes before the heap's
// first.
func (it *mergeIterator) mustRead(src *source) bool {
	if len(it.items.s) == 0 || !src.bounded() {
		return true
	}
	top := it.items.s[0].pos.Timestamp
	if it.backward {
		return src.maxT >= top
	}
	return src.minT <= top
}

func (it *mergeIterator) Next() bool {
	for it.err == nil && len(it.srcs) > 0 && it.mustRead(&it.srcs[0]) {
		src := it.srcs[0]
		it.srcs = it.srcs[1:]
		it.err = readSource(it.ctx, it.sel, &src, it.start, it.end, it.add)
	}
	if it.err != nil || len(it.items.s) == 0 {
		return false
	}
	it.cur = heap.Pop(&it.items).(positioned)
	if it.onNext != nil {
		it.onNext(it.cur.pos)
	}
	return true
}

func (it *mergeIterator) add(st *stream, r *segments.Record) error {
	if !it.sel.keep(r.Value) {
		return nil
	}
	pos := position{r.Timestamp, it.sel.topic, it.sel.partition, r.Offset}
	if it.skip != nil && it.skip(pos) {
		return nil
	}
	if len(it.items.s) >= it.sel.max {
		return fmt.Errorf("%w: more than %d (-search.max-select-entries); narrow the time range or the selector", ErrTooManyEntries, it.sel.max)
	}
	heap.Push(&it.items, positioned{logql.Entry{
		Timestamp: r.Timestamp, Line: string(r.Value), Labels: st.labels, Metadata: recordMetadata(st, r),
	}, pos})
	return nil
}

func (it *mergeIterator) At() logql.Entry { return it.cur.entry }
func (it *mergeIterator) Err() error      { return it.err }
func (it *mergeIterator) Close() error    { it.items.s, it.srcs = nil, nil; return nil }

// positionHeap is a heap of entries ordered by less on their positions.
type positionHeap struct {
	s    []positioned
	less func(a, b *position) bool
}

func (h *positionHeap) Len() int           { return len(h.s) }
func (h *positionHeap) Less(i, j int) bool { return h.less(&h.s[i].pos, &h.s[j].pos) }
func (h *positionHeap) Swap(i, j int)      { h.s[i], h.s[j] = h.s[j], h.s[i] }
func (h *positionHeap) Push(x any)         { h.s = append(h.s, x.(positioned)) }
func (h *positionHeap) Pop() any {
	n := len(h.s) - 1
	x := h.s[n]
	h.s[n] = positioned{}
	h.s = h.s[:n]
	return x
}

// lokiOrder is the order of a Loki query's entries: by time in the query's
// direction, ties by topic, partition and offset.
func lokiOrder(backward bool) func(a, b *position) bool {
	return func(a, b *position) bool {
		if a.Timestamp != b.Timestamp {
			return (a.Timestamp > b.Timestamp) == backward
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		if a.Partition != b.Partition {
			return a.Partition < b.Partition
		}
		return a.Offset < b.Offset
	}
}
