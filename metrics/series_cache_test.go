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
