package metrics

import (
	"hash/maphash"
	"math"

	"github.com/prometheus/prometheus/storage"
)

// seriesCache maps the record keys of a partition to their TSDB series and
// the last sample applied to each, so that a record costs a hash and a map
// lookup: the key is parsed into labels only the first time it is seen, and
// the TSDB head is given the series reference, never the labels again.
//
// A key is known by two independent 64-bit hashes rather than by its bytes.
// Two keys collide only if both hashes do, which for a billion series is a
// chance of about 10^-21, far below that of an undetected memory error; in
// exchange the cache holds no string per series and nothing the garbage
// collector must scan: about 70 bytes per series instead of the key, its
// labels and a map entry (about 400). The map is keyed by the first hash
// alone (Go's fastest map); the second is checked in the state, and the
// rare keys whose first hash is taken go to a map of their own.
type seriesCache struct {
	seeds  [2]maphash.Seed
	index  map[uint64]uint32 // first hash -> states
	states []seriesState
	free   []uint32 // indexes of states that were evicted
	// clashes holds the keys whose first hash another key has: in a
	// billion series, a few dozen.
	clashes map[seriesKey]uint32
}

// seriesKey is a record key's two hashes.
type seriesKey [2]uint64

// seriesState is what the materialiser keeps per series.
type seriesState struct {
	h2    uint64            // the second hash of its key
	ref   storage.SeriesRef // 0: none yet, or no longer valid
	lastT int64             // the last sample appended (MinInt64: none since open)
	lastV uint64            // its value's bits
	gen   uint32            // the compaction generation it was last used in
}

func newSeriesCache() *seriesCache {
	return &seriesCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, index: map[uint64]uint32{}}
}

func (c *seriesCache) key(b []byte) seriesKey {
	return seriesKey{maphash.Bytes(c.seeds[0], b), maphash.Bytes(c.seeds[1], b)}
}

// get returns the state of k, marked used in gen, adding an empty one when
// k is new. The pointer is valid until the next get.
func (c *seriesCache) get(k seriesKey, gen uint32) *seriesState {
	i, ok := c.index[k[0]]
	if ok && c.states[i].h2 != k[1] || !ok && len(c.clashes) > 0 {
		i, ok = c.clashes[k]
	}
	if ok {
		s := &c.states[i]
		s.gen = gen
		return s
	}
	if n := len(c.free); n > 0 {
		i, c.free = c.free[n-1], c.free[:n-1]
	} else {
		i = uint32(len(c.states))
		c.states = append(c.states, seriesState{})
	}
	if _, taken := c.index[k[0]]; taken {
		if c.clashes == nil {
			c.clashes = map[seriesKey]uint32{}
		}
		c.clashes[k] = i
	} else {
		c.index[k[0]] = i
	}
	c.states[i] = seriesState{h2: k[1], lastT: math.MinInt64, gen: gen}
	return &c.states[i]
}

// forget removes k (a key that turned out not to be a series).
func (c *seriesCache) forget(k seriesKey) {
	if i, ok := c.clashes[k]; ok {
		delete(c.clashes, k)
		c.free = append(c.free, i)
	} else if i, ok := c.index[k[0]]; ok && c.states[i].h2 == k[1] {
		delete(c.index, k[0])
		c.free = append(c.free, i)
	}
}

// forgetLast forgets every series' last sample.
func (c *seriesCache) forgetLast() {
	for i := range c.states {
		c.states[i].lastT = math.MinInt64
	}
}

// evict removes the series not used in generation gen or later, and
// forgets the TSDB references of those whose last sample is before mint: the
// head may have dropped them when it was truncated at mint.
func (c *seriesCache) evict(gen uint32, mint int64) {
	keep := func(i uint32) bool {
		s := &c.states[i]
		if s.gen < gen {
			c.free = append(c.free, i)
			return false
		}
		if s.lastT < mint {
			s.ref = 0
		}
		return true
	}
	for h, i := range c.index {
		if !keep(i) {
			delete(c.index, h)
		}
	}
	for k, i := range c.clashes {
		if !keep(i) {
			delete(c.clashes, k)
		}
	}
}

func (c *seriesCache) len() int { return len(c.index) + len(c.clashes) }
