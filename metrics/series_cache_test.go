package metrics

import (
	"math"
	"testing"
)

func TestSeriesCache(t *testing.T) {
	c := newSeriesCache()
	a, b := c.key([]byte(`{__name__="a"}`)), c.key([]byte(`{__name__="b"}`))
	if a == b || a != c.key([]byte(`{__name__="a"}`)) {
		t.Fatalf("keys %v %v", a, b)
	}
	s := c.get(a, 0)
	if s.ref != 0 || s.lastT != math.MinInt64 {
		t.Fatalf("new state %+v", *s)
	}
	s.ref, s.lastT = 7, 100
	c.get(b, 0).ref = 8
	if s := c.get(a, 1); s.ref != 7 || s.lastT != 100 || s.gen != 1 {
		t.Fatalf("cached state %+v", *s)
	}
	// b was not used in generation 1: evicted. a's last sample is before
	// the head's new minimum time: it keeps its state but not its reference.
	c.evict(1, 200)
	if c.len() != 1 {
		t.Fatalf("%d series after eviction, want 1", c.len())
	}
	if s := c.get(a, 1); s.ref != 0 || s.lastT != 100 {
		t.Fatalf("state after eviction %+v", *s)
	}
	// b comes back as a new series, in the state b left free.
	if s := c.get(b, 2); s.ref != 0 || len(c.states) != 2 {
		t.Fatalf("b again: %+v, %d states", *s, len(c.states))
	}
	c.forgetLast()
	if s := c.get(a, 2); s.lastT != math.MinInt64 {
		t.Fatalf("after forgetLast: %+v", *s)
	}
	c.forget(a)
	if c.len() != 1 || len(c.free) != 1 {
		t.Fatalf("after forget: %d series, %d free", c.len(), len(c.free))
	}
}

// TestSeriesCacheClashes: keys whose first hashes are equal are still
// different series.
func TestSeriesCacheClashes(t *testing.T) {
	c := newSeriesCache()
	a, b, d := seriesKey{1, 2}, seriesKey{1, 3}, seriesKey{1, 4}
	c.get(a, 0).ref = 10
	c.get(b, 0).ref = 11
	c.get(d, 1).ref = 12
	for k, want := range map[seriesKey]int{a: 10, b: 11, d: 12} {
		if got := c.get(k, 1).ref; int(got) != want {
			t.Errorf("%v: ref %d, want %d", k, got, want)
		}
	}
	if c.len() != 3 || len(c.clashes) != 2 {
		t.Fatalf("%d series, %d clashes", c.len(), len(c.clashes))
	}
	c.forget(b)
	c.evict(2, 0) // a and d were used in generation 1 only: gone
	if c.len() != 0 || len(c.free) != 3 {
		t.Fatalf("%d series, %d free after eviction", c.len(), len(c.free))
	}
	if s := c.get(b, 2); s.ref != 0 {
		t.Errorf("b came back with ref %d", s.ref)
	}
}

// TestSeriesCacheClashAfterEviction: a clashing key whose first hash left
// the index is still found.
func TestSeriesCacheClashAfterEviction(t *testing.T) {
	c := newSeriesCache()
	a, b := seriesKey{1, 2}, seriesKey{1, 3}
	c.get(a, 0)
	c.get(b, 1).ref = 7
	c.evict(1, math.MinInt64) // a leaves, b stays among the clashes
	if s := c.get(b, 1); s.ref != 7 || c.len() != 1 {
		t.Fatalf("b: ref %d, %d series", s.ref, c.len())
	}
}
