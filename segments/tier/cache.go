package tier

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/thanos-io/objstore"
)

// fetchTimeout bounds one ranged GET. Read-ahead fetches outlive the read
// that started them, so they cannot use its deadline.
const fetchTimeout = 2 * time.Minute

var errCacheClosed = errors.New("cold tier closed")

// cache keeps chunk-aligned ranges of cold objects in files under dir, least
// recently used first out once their bytes pass maxBytes. Objects are immutable
// (every upload attempt has a fresh name), so a cached chunk never goes stale.
//
// Every GET runs in its own goroutine and holds one of the slots while its
// chunk is in memory, so fetches hold at most len(slots)*chunkBytes. Readers of
// a chunk being fetched wait for it and copy from its buffer. A sequential
// reader gets the next readAhead chunks fetched ahead of it (see readChunk).
type cache struct {
	dir        string
	maxBytes   int64
	chunkBytes int64
	readAhead  int64 // chunks, at least 1
	bkt        objstore.BucketReader
	metrics    *metrics
	slots      chan struct{}
	ctx        context.Context // cancelled by close: ends every fetch
	cancel     context.CancelFunc
	fetches    sync.WaitGroup

	mu struct {
		sync.Mutex
		lru      *list.List               // of *chunk, most recently used first
		entries  map[string]*list.Element // by chunk key
		bytes    int64
		inFlight map[string]*fetch // by chunk key
		closed   bool
	}
}

type chunk struct {
	key  string
	path string
	size int64
	// ahead: fetched by read-ahead and not read since. Reading it shows the
	// reader is sequential, and moves the read-ahead window on.
	ahead bool
}

// fetch is one GET in flight; done is closed once data or err is set.
type fetch struct {
	done  chan struct{}
	data  []byte
	err   error
	ahead bool // guarded by cache.mu: as chunk.ahead
}

// newCache empties dir and returns a cache over it.
func newCache(dir string, cfg CacheConfig, bkt objstore.BucketReader, m *metrics) (*cache, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("empty cold cache %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cold cache %s: %w", dir, err)
	}
	c := &cache{dir: dir, maxBytes: cfg.MaxBytes, chunkBytes: cfg.ChunkBytes, readAhead: max(cfg.ReadAheadBytes/cfg.ChunkBytes, 1),
		bkt: bkt, metrics: m, slots: make(chan struct{}, max(cfg.FetchConcurrency, 1))}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.mu.lru = list.New()
	c.mu.entries = map[string]*list.Element{}
	c.mu.inFlight = map[string]*fetch{}
	return c, nil
}

// close cancels the fetches in flight and waits for them to end. Reads after
// close fail.
func (c *cache) close() {
	c.mu.Lock()
	c.mu.closed = true
	c.mu.Unlock()
	c.cancel()
	c.fetches.Wait()
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
// within, from the cache file, else from the fetch in flight, else from a new
// fetch.
//
// Read-ahead follows sequential readers, as the kernel's does for files: a
// miss fetches the next chunk too, marked ahead; the first read of a chunk
// marked ahead, and a miss right after a chunk that is cached or in flight,
// keep the readAhead chunks after it cached or in flight. A reader that
// jumps about costs one extra chunk per miss.
func (c *cache) readChunk(ctx context.Context, name string, size, idx int64, p []byte, within int64) error {
	key := chunkKey(name, idx)
	c.mu.Lock()
	if e, ok := c.mu.entries[key]; ok {
		c.mu.lru.MoveToFront(e)
		ch := e.Value.(*chunk)
		ahead := ch.ahead
		ch.ahead = false
		if ahead {
			c.readAheadLocked(name, size, idx+1, c.readAhead)
		}
		c.mu.Unlock()
		if err := readFileAt(ch.path, p, within); err == nil {
			c.metrics.cacheHits.Inc()
			return nil
		}
		// Evicted between the lookup and the read: fetch it again.
		c.mu.Lock()
	}
	c.metrics.cacheMisses.Inc()
	f, ok := c.mu.inFlight[key]
	switch {
	case c.mu.closed:
		c.mu.Unlock()
		return errCacheClosed
	case ok && f.ahead:
		f.ahead = false
		c.readAheadLocked(name, size, idx+1, c.readAhead)
	case !ok:
		f = c.startLocked(key, name, idx, min(c.chunkBytes, size-idx*c.chunkBytes), false)
		window := int64(1)
		if idx > 0 && c.presentLocked(chunkKey(name, idx-1)) {
			window = c.readAhead
		}
		c.readAheadLocked(name, size, idx+1, window)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if f.err != nil {
		return f.err
	}
	copy(p, f.data[within:])
	return nil
}

func chunkKey(name string, idx int64) string { return name + "\x00" + strconv.FormatInt(idx, 10) }

func (c *cache) presentLocked(key string) bool {
	_, cached := c.mu.entries[key]
	_, fetching := c.mu.inFlight[key]
	return cached || fetching
}

// readAheadLocked starts fetching, marked ahead, those of the n chunks of name
// from idx on that are neither cached nor in flight, while a slot is free: a
// read-ahead never waits for one.
func (c *cache) readAheadLocked(name string, size, idx, n int64) {
	if c.mu.closed {
		return
	}
	for i := idx; i < idx+n && i*c.chunkBytes < size; i++ {
		key := chunkKey(name, i)
		if c.presentLocked(key) {
			continue
		}
		select {
		case c.slots <- struct{}{}:
		default:
			return
		}
		c.startLocked(key, name, i, min(c.chunkBytes, size-i*c.chunkBytes), true)
	}
}

// startLocked starts fetching chunk idx of name (length bytes). A read-ahead
// (ahead) has taken its slot already; any other fetch waits for one.
func (c *cache) startLocked(key, name string, idx, length int64, ahead bool) *fetch {
	f := &fetch{done: make(chan struct{}), ahead: ahead}
	c.mu.inFlight[key] = f
	c.fetches.Add(1)
	go func() {
		defer c.fetches.Done()
		if !ahead {
			select {
			case c.slots <- struct{}{}:
			case <-c.ctx.Done():
				c.finish(key, f, nil, errCacheClosed)
				return
			}
		}
		defer func() { <-c.slots }()
		data, err := c.fetch(key, name, idx, length)
		c.finish(key, f, data, err)
	}()
	return f
}

// finish hands f's result to its waiters, then caches the chunk. It stops
// being in flight once it is cached, so that a reader always finds one or the
// other.
func (c *cache) finish(key string, f *fetch, data []byte, err error) {
	f.data, f.err = data, err
	close(f.done)
	var path string
	if err == nil {
		path, err = c.write(key, data)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mu.inFlight, key)
	switch {
	case err == nil && c.mu.closed:
		_ = os.Remove(path)
	case err == nil:
		c.insertLocked(&chunk{key: key, path: path, size: int64(len(data)), ahead: f.ahead})
	}
}

// fetch reads one chunk from the bucket.
func (c *cache) fetch(key, name string, idx, length int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, fetchTimeout)
	defer cancel()
	began := time.Now()
	data, err := getRange(ctx, c.bkt, name, idx*c.chunkBytes, length)
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, errCacheClosed
		}
		c.metrics.downloadFailures.Inc()
		return nil, err
	}
	c.metrics.downloadDuration.Observe(time.Since(began).Seconds())
	c.metrics.downloadBytes.Add(float64(len(data)))
	return data, nil
}

// write stores a fetched chunk in its cache file. The file is not fsynced: the
// cache is emptied at start, and a chunk cut short while running fails the
// read (which then fetches it again) or its block's CRC.
func (c *cache) write(key string, data []byte) (string, error) {
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(c.dir, hex.EncodeToString(sum[:16]))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		_ = os.Remove(path)
		return "", err
	}
	return path, nil
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

// insertLocked adds ch and evicts the least recently used chunks past
// maxBytes. Readers of an evicted file either finish (the open file survives
// removal) or miss and fetch again.
func (c *cache) insertLocked(ch *chunk) {
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
