package tier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thanos-io/objstore"
)

// gatedBucket records the ranged reads of an in-memory bucket and, when gate
// is set, holds each until gate yields a token or its context ends.
type gatedBucket struct {
	objstore.Bucket
	gate chan struct{}

	mu struct {
		sync.Mutex
		gets                  []int64 // offsets asked for, in order
		inFlight, maxInFlight int
	}
}

func (b *gatedBucket) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	b.mu.Lock()
	b.mu.gets = append(b.mu.gets, off)
	b.mu.inFlight++
	b.mu.maxInFlight = max(b.mu.maxInFlight, b.mu.inFlight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.mu.inFlight--
		b.mu.Unlock()
	}()
	if b.gate != nil {
		select {
		case <-b.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return b.Bucket.GetRange(ctx, name, off, length)
}

// chunksFetched returns the chunk indexes read so far, sorted.
func (b *gatedBucket) chunksFetched(chunkBytes int64) []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []int64
	for _, off := range b.mu.gets {
		out = append(out, off/chunkBytes)
	}
	slices.Sort(out)
	return out
}

func (b *gatedBucket) inFlight() (now, most int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mu.inFlight, b.mu.maxInFlight
}

const testChunk = 4096

// newTestCache returns a cache over a bucket holding the objects named
// (testChunk*chunks bytes each, of deterministic content).
func newTestCache(t *testing.T, cfg CacheConfig, gated bool, objects map[string]int) (*cache, *gatedBucket) {
	t.Helper()
	b := &gatedBucket{Bucket: objstore.NewInMemBucket()}
	if gated {
		b.gate = make(chan struct{})
	}
	for name, chunks := range objects {
		if err := b.Upload(context.Background(), name, bytes.NewReader(objectBytes(name, chunks))); err != nil {
			t.Fatal(err)
		}
	}
	cfg.ChunkBytes = testChunk
	c, err := newCache(t.TempDir(), cfg, b, newMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c, b
}

func objectBytes(name string, chunks int) []byte {
	data := make([]byte, chunks*testChunk)
	for i := range data {
		data[i] = byte(i*7 + len(name))
	}
	return data
}

// readChunks reads the chunks at idx (whole, or 100 bytes before their end up
// to 100 bytes into the next when straddle is set) and checks the bytes.
func readChunks(t *testing.T, c *cache, name string, chunks int, idx []int64, straddle bool) {
	t.Helper()
	want := objectBytes(name, chunks)
	for _, i := range idx {
		off, n := i*testChunk, int64(testChunk)
		if straddle {
			off, n = off+testChunk-100, 200
		}
		n = min(n, int64(len(want))-off)
		p := make([]byte, n)
		if err := c.readAt(context.Background(), name, int64(len(want)), p, off); err != nil {
			t.Fatalf("read chunk %d: %v", i, err)
		}
		if !bytes.Equal(p, want[off:off+n]) {
			t.Fatalf("chunk %d: wrong bytes", i)
		}
	}
}

func span(from, to int64) []int64 {
	var out []int64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// TestCacheReadAhead checks which chunks a sequence of reads fetches: the
// next one after a miss, readAhead more once a reader reads one that was
// fetched ahead, or misses right after a chunk it holds.
func TestCacheReadAhead(t *testing.T) {
	const chunks = 32
	for _, tc := range []struct {
		name      string
		readAhead int64 // chunks
		reads     []int64
		straddle  bool
		want      []int64
	}{
		{"one miss fetches the next chunk too", 4, []int64{0}, false, span(0, 1)},
		{"reading a chunk fetched ahead fetches a window", 4, []int64{0, 1}, false, span(0, 5)},
		{"a sequential read fetches every chunk once", 4, span(0, chunks-1), false, span(0, chunks-1)},
		{"reads straddling chunks", 4, span(0, chunks-2), true, span(0, chunks-1)},
		{"the window stops at the object's end", 8, span(chunks-3, chunks-1), false, span(chunks-3, chunks-1)},
		{"random reads fetch one extra chunk each", 4, []int64{10, 3, 20}, false, []int64{3, 4, 10, 11, 20, 21}},
		{"a miss after a held chunk fetches a window", 4, []int64{3, 5}, false, []int64{3, 4, 5, 6, 7, 8, 9}},
		{"no read-ahead configured still fetches the next chunk", 0, span(0, 3), false, span(0, 4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, b := newTestCache(t, CacheConfig{MaxBytes: 1 << 20, ReadAheadBytes: tc.readAhead * testChunk, FetchConcurrency: 16},
				false, map[string]int{"obj": chunks})
			readChunks(t, c, "obj", chunks, tc.reads, tc.straddle)
			c.fetches.Wait()
			if got := b.chunksFetched(testChunk); !slices.Equal(got, tc.want) {
				t.Fatalf("fetched chunks %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCacheLimits checks the byte cap of the cache and of the fetches in
// flight.
func TestCacheLimits(t *testing.T) {
	t.Run("cache bytes stay under max-bytes while reading ahead", func(t *testing.T) {
		// Chunks read ahead are cached for long enough: a chunk that went
		// before being read would be fetched twice.
		const maxChunks = 16
		c, b := newTestCache(t, CacheConfig{MaxBytes: maxChunks * testChunk, ReadAheadBytes: 4 * testChunk, FetchConcurrency: 4},
			false, map[string]int{"obj": 64})
		readChunks(t, c, "obj", 64, span(0, 63), false)
		c.fetches.Wait()
		if got := b.chunksFetched(testChunk); !slices.Equal(got, span(0, 63)) {
			t.Fatalf("fetched chunks %v: some more than once", got)
		}
		files, err := os.ReadDir(c.dir)
		if err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.mu.bytes > maxChunks*testChunk || len(files) != c.mu.lru.Len() || len(files) > maxChunks {
			t.Fatalf("cache holds %d bytes in %d files (%d entries), max %d bytes", c.mu.bytes, len(files), c.mu.lru.Len(), maxChunks*testChunk)
		}
	})
	t.Run("fetches in flight stay under fetch-concurrency", func(t *testing.T) {
		objects := map[string]int{}
		for i := range 8 {
			objects[fmt.Sprint("obj", i)] = 4
		}
		c, b := newTestCache(t, CacheConfig{MaxBytes: 1 << 20, ReadAheadBytes: 2 * testChunk, FetchConcurrency: 3}, true, objects)
		var wg sync.WaitGroup
		for name := range objects {
			wg.Go(func() { readChunks(t, c, name, 4, span(0, 3), false) })
		}
		waitFor(t, "3 fetches in flight", func() bool { now, _ := b.inFlight(); return now == 3 })
		close(b.gate)
		wg.Wait()
		if _, most := b.inFlight(); most > 3 {
			t.Fatalf("%d fetches in flight at once, want at most 3", most)
		}
	})
}

// TestCacheCancel checks that a reader stops waiting when its context ends,
// and that close ends the fetches in flight and fails later reads.
func TestCacheCancel(t *testing.T) {
	c, b := newTestCache(t, CacheConfig{MaxBytes: 1 << 20, ReadAheadBytes: 2 * testChunk, FetchConcurrency: 4}, true, map[string]int{"obj": 4})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.readAt(ctx, "obj", 4*testChunk, make([]byte, 10), 0) }()
	waitFor(t, "a fetch in flight", func() bool { now, _ := b.inFlight(); return now > 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("read after its context ended: %v, want context.Canceled", err)
	}
	c.close() // the fetch is still held by the gate: close must end it
	if now, _ := b.inFlight(); now != 0 {
		t.Fatalf("%d fetches in flight after close", now)
	}
	if err := c.readAt(context.Background(), "obj", 4*testChunk, make([]byte, 10), 2*testChunk); !errors.Is(err, errCacheClosed) {
		t.Fatalf("read after close: %v, want errCacheClosed", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
