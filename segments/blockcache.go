package segments

import (
	"container/list"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// BlockCache keeps decompressed blocks of warm segments in memory, least
// recently used out first, within a byte budget, so repeated searches over the
// same data decompress it once. It is shared by the logs opened WithBlockCache
// and safe for concurrent use. Two readers missing the same block may both
// decompress it; the second result replaces the first.
type BlockCache struct {
	max int64

	mu    sync.Mutex
	size  int64                      // guarded by mu
	lru   *list.List                 // guarded by mu; front = most recent
	items map[blockKey]*list.Element // guarded by mu

	hits, misses prometheus.Counter
	bytes        prometheus.Gauge
}

type blockKey struct {
	seg   *warmSegment
	block int
}

type cachedBlock struct {
	key  blockKey
	view *blockView
}

// NewBlockCache returns a cache of at most maxBytes of decompressed blocks
// (0 disables it: every read decompresses). reg may be nil.
func NewBlockCache(maxBytes int64, reg prometheus.Registerer) *BlockCache {
	c := &BlockCache{
		max: maxBytes, lru: list.New(), items: map[blockKey]*list.Element{},
		hits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "silt", Subsystem: "segments",
			Name: "block_cache_hits_total", Help: "Reads of a warm block found decompressed in the block cache."}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "silt", Subsystem: "segments",
			Name: "block_cache_misses_total", Help: "Reads of a warm block that decompressed it."}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "silt", Subsystem: "segments",
			Name: "block_cache_bytes", Help: "Decompressed bytes held by the block cache."}),
	}
	if reg != nil {
		reg.MustRegister(c.hits, c.misses, c.bytes)
	}
	return c
}

// WithBlockCache makes the log read warm blocks through c.
func WithBlockCache(c *BlockCache) Option { return func(l *Log) { l.cache = c } }

func (c *BlockCache) get(k blockKey) (*blockView, bool) {
	if c == nil || c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[k]
	if !ok {
		c.misses.Inc()
		return nil, false
	}
	c.hits.Inc()
	c.lru.MoveToFront(e)
	return e.Value.(*cachedBlock).view, true
}

func (c *BlockCache) put(k blockKey, v *blockView) {
	if c == nil || v.size() > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.size -= e.Value.(*cachedBlock).view.size()
		c.lru.Remove(e)
	}
	c.items[k] = c.lru.PushFront(&cachedBlock{key: k, view: v})
	c.size += v.size()
	for c.size > c.max {
		e := c.lru.Back()
		cb := e.Value.(*cachedBlock)
		c.lru.Remove(e)
		delete(c.items, cb.key)
		c.size -= cb.view.size()
	}
	c.bytes.Set(float64(c.size))
}
