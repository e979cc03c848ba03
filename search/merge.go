package search

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"runtime"
	"slices"

	"github.com/siltlog/silt/search/logql"
	"github.com/siltlog/silt/segments"
)

// mergeIterator yields a query's entries in order while reading as few
// sources as it can: it reads the sources whose time bounds could still hold
// the next entry, keeps what they yield in a heap, and stops reading once the
// engine has what it asked for. Sources with unknown bounds (the head) are
// read first. The next few sources are read ahead in parallel.
type mergeIterator struct {
	ctx        context.Context
	sel        *selection
	start, end int64
	backward   bool // newest first: read by maxT descending
	srcs       []source
	fetches    []*fetch // fetches[i] reads srcs[i]; nil until started
	next       int      // the first source not yet in the heap
	ahead      int      // sources read ahead of next
	items      positionHeap
	// unordered: entries go out as each source yields them, without the heap.
	unordered bool
	batch     []positioned // unordered: the rest of the last source read
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
			return cmp.Compare(b.maxT, a.maxT)
		}
		return cmp.Compare(a.minT, b.minT)
	})
	return &mergeIterator{ctx: ctx, sel: sel, start: start, end: end, backward: backward, srcs: srcs,
		fetches: make([]*fetch, len(srcs)), ahead: runtime.GOMAXPROCS(0), items: positionHeap{less: less}}
}

// fetch is the read of one source: its entries, once done is closed.
type fetch struct {
	done  chan struct{}
	items []positioned
	err   error
}

// fetch starts reading srcs[i], on a copy of the selection (its stream caches
// are not safe for concurrent use).
func (it *mergeIterator) fetch(i int) *fetch {
	if f := it.fetches[i]; f != nil {
		return f
	}
	f := &fetch{done: make(chan struct{})}
	it.fetches[i] = f
	sel, src := it.sel.clone(), &it.srcs[i]
	go func() {
		defer close(f.done)
		f.err = readSource(it.ctx, sel, src, it.start, it.end, func(st *stream, r *segments.Record) error {
			if !sel.keep(r.Value) {
				return nil
			}
			pos := position{r.Timestamp, sel.topic, sel.partition, r.Offset}
			if it.skip != nil && it.skip(pos) {
				return nil
			}
			if len(f.items) >= sel.max {
				return fmt.Errorf("%w: more than %d (-search.max-select-entries); narrow the time range or the selector", ErrTooManyEntries, sel.max)
			}
			line := ""
			if !sel.p.NoLines {
				line = string(r.Value)
			}
			f.items = append(f.items, positioned{logql.Entry{
				Timestamp: r.Timestamp, Line: line, Labels: st.labels, Metadata: recordMetadata(st, r),
			}, pos})
			return nil
		})
	}()
	return f
}

// await waits for the next source's entries, starting the reads of the
// sources after it.
func (it *mergeIterator) await() (*fetch, error) {
	for i := it.next; i < len(it.srcs) && i <= it.next+it.ahead; i++ {
		it.fetch(i)
	}
	f := it.fetch(it.next)
	<-f.done
	it.fetches[it.next] = nil
	it.next++
	return f, f.err
}

// readNext moves the next source's entries to the heap.
func (it *mergeIterator) readNext() error {
	f, err := it.await()
	if err != nil {
		return err
	}
	if len(it.items.s)+len(f.items) > it.sel.max {
		return fmt.Errorf("%w: more than %d (-search.max-select-entries); narrow the time range or the selector", ErrTooManyEntries, it.sel.max)
	}
	for _, p := range f.items {
		heap.Push(&it.items, p)
	}
	return nil
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
	if it.unordered {
		return it.nextUnordered()
	}
	for it.err == nil && it.next < len(it.srcs) && it.mustRead(&it.srcs[it.next]) {
		it.err = it.readNext()
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

func (it *mergeIterator) nextUnordered() bool {
	for len(it.batch) == 0 {
		if it.err != nil || it.next >= len(it.srcs) {
			return false
		}
		var f *fetch
		if f, it.err = it.await(); it.err == nil {
			it.batch = f.items
		}
	}
	it.cur, it.batch = it.batch[0], it.batch[1:]
	if it.onNext != nil {
		it.onNext(it.cur.pos)
	}
	return true
}

func (it *mergeIterator) At() logql.Entry { return it.cur.entry }
func (it *mergeIterator) Err() error      { return it.err }

// Close waits for the reads still running and drops what they read.
func (it *mergeIterator) Close() error {
	for _, f := range it.fetches {
		if f != nil {
			<-f.done
		}
	}
	it.items.s, it.srcs, it.fetches = nil, nil, nil
	return nil
}

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
