package tier

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/thanos-io/objstore"
	"golang.org/x/sync/singleflight"
)

// cache keeps chunk-aligned ranges of cold objects in files under dir, least
// recently used first out once their bytes pass maxBytes. Objects are immutable
// (every upload attempt has a fresh name), so a cached chunk never goes stale.
type cache struct {
	dir        string
	maxBytes   int64
	chunkBytes int64
	bkt        objstore.BucketReader
	metrics    *metrics
	flight     singleflight.Group

	mu struct {
		sync.Mutex
		lru     *list.List               // of *chunk, most recently used first
		entries map[string]*list.Element // by chunk key
		bytes   int64
	}
}

type chunk struct {
	key  string
	path string
	size int64
}

// newCache empties dir and returns a cache over it.
func newCache(dir string, maxBytes, chunkBytes int64, bkt objstore.BucketReader, m *metrics) (*cache, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("empty cold cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cold cache %s: %w", dir, err)
	}
	c := &cache{dir: dir, maxBytes: maxBytes, chunkBytes: chunkBytes, bkt: bkt, metrics: m}
	c.mu.lru = list.New()
	c.mu.entries = map[string]*list.Element{}
	return c, nil
}

// readAt fills p from object name (size bytes long) at off, chunk by chunk.
func (c *cache) readAt(ctx context.Context, name string, size int64, p []byte, off int64) error {
	if off < 0 || off+int64(len(p)) > size {
		return fmt.Errorf("read %s [%d, %d): outside the object's %d bytes", name, off, off+int64(len(p)), size)
	}
	for len(p) > 0 {
		idx := off / c.chunkBytes
		start := idx * c.chunkBytes
		n := min(int64(len(p)), start+c.chunkBytes-off)
		if err := c.readChunk(ctx, name, size, idx, p[:n], off-start); err != nil {
			return err
		}
		p, off = p[n:], off+n
	}
	return nil
}

// readChunk fills p from chunk idx of name (an object of size bytes) at
// within. A miss also starts fetching the next chunk: replays and scans read
// chunks in order, so the next fetch overlaps with this chunk's use.
func (c *cache) readChunk(ctx context.Context, name string, size, idx int64, p []byte, within int64) error {
	key := chunkKey(name, idx)
	length := min(c.chunkBytes, size-idx*c.chunkBytes)
	if path, ok := c.lookup(key); ok {
		if err := readFileAt(path, p, within); err == nil {
			c.metrics.cacheHits.Inc()
			return nil
		}
		// Evicted between the lookup and the read: fetch it again.
	}
	c.metrics.cacheMisses.Inc()
	c.prefetch(ctx, name, size, idx+1)
	v, err, _ := c.flight.Do(key, func() (any, error) { return c.fetch(ctx, key, name, idx, length) })
	if err != nil {
		return err
	}
	copy(p, v.([]byte)[within:])
	return nil
}

func chunkKey(name string, idx int64) string { return name + "\x00" + strconv.FormatInt(idx, 10) }

// prefetch starts fetching chunk idx of name in the background unless it is
// past the object's end, cached or already being fetched. It outlives ctx's
// cancellation: the chunk is worth caching either way.
func (c *cache) prefetch(ctx context.Context, name string, size, idx int64) {
	start := idx * c.chunkBytes
	if start >= size {
		return
	}
	key := chunkKey(name, idx)
	c.mu.Lock()
	_, cached := c.mu.entries[key]
	c.mu.Unlock()
	if cached {
		return
	}
	length := min(c.chunkBytes, size-start)
	c.flight.DoChan(key, func() (any, error) {
		return c.fetch(context.WithoutCancel(ctx), key, name, idx, length)
	})
}

// fetch reads one chunk from the bucket and caches it.
func (c *cache) fetch(ctx context.Context, key, name string, idx, length int64) ([]byte, error) {
	began := time.Now()
	data, err := getRange(ctx, c.bkt, name, idx*c.chunkBytes, length)
	if err != nil {
		c.metrics.downloadFailures.Inc()
		return nil, err
	}
	c.metrics.downloadDuration.Observe(time.Since(began).Seconds())
	c.metrics.downloadBytes.Add(float64(len(data)))
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(c.dir, hex.EncodeToString(sum[:16]))
	if err := os.WriteFile(path, data, 0o644); err == nil {
		c.insert(&chunk{key: key, path: path, size: length})
	}
	return data, nil
}

func getRange(ctx context.Context, bkt objstore.BucketReader, name string, off, length int64) ([]byte, error) {
	rc, err := bkt.GetRange(ctx, name, off, length)
	if err != nil {
		return nil, fmt.Errorf("get %s [%d, %d): %w", name, off, off+length, err)
	}
	defer rc.Close()
	data := make([]byte, length)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, fmt.Errorf("read %s [%d, %d): %w", name, off, off+length, err)
	}
	return data, nil
}

func (c *cache) lookup(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.mu.entries[key]
	if !ok {
		return "", false
	}
	c.mu.lru.MoveToFront(e)
	return e.Value.(*chunk).path, true
}

// insert adds ch and evicts the least recently used chunks past maxBytes.
// Readers of an evicted file either finish (the open file survives removal)
// or miss and fetch again.
func (c *cache) insert(ch *chunk) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.entries[ch.key]; ok {
		return
	}
	c.mu.entries[ch.key] = c.mu.lru.PushFront(ch)
	c.mu.bytes += ch.size
	for c.mu.bytes > c.maxBytes && c.mu.lru.Len() > 1 {
		old := c.mu.lru.Remove(c.mu.lru.Back()).(*chunk)
		delete(c.mu.entries, old.key)
		c.mu.bytes -= old.size
		_ = os.Remove(old.path)
		c.metrics.cacheEvictions.Inc()
	}
	c.metrics.cacheBytes.Set(float64(c.mu.bytes))
}

func readFileAt(path string, p []byte, off int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.ReadAt(p, off)
	return err
}
