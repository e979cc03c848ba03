package tier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log/slog"
	"path"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"golang.org/x/time/rate"

	"github.com/siltlog/silt/segments"
)

// Object names inside an attempt's directory (segments/FORMAT.md, "Cold tier").
const (
	SegmentObject = "segment.zst"
	IndexObject   = "index"
	MetaObject    = "meta.json"
	metaVersion   = 1
)

// Meta is the JSON of an attempt's meta.json, the object written last.
type Meta struct {
	Version       int    `json:"version"`
	Tenant        string `json:"tenant"`
	Topic         string `json:"topic"`
	Partition     int    `json:"partition"`
	ID            string `json:"id"`
	Base          int64  `json:"base"`
	Next          int64  `json:"next"`
	SegmentBytes  int64  `json:"segment_bytes"`
	SegmentCRC32C uint32 `json:"segment_crc32c"`
	IndexBytes    int    `json:"index_bytes"`
	MinTimestamp  int64  `json:"min_timestamp"`
	MaxTimestamp  int64  `json:"max_timestamp"`
}

// Tier is the cold tier shared by every partition: one bucket, one upload rate
// limit and one read cache.
type Tier struct {
	bkt     objstore.Bucket
	limiter *rate.Limiter // nil: unlimited
	cache   *cache
	metrics *metrics
	logger  *slog.Logger
}

// New returns a Tier over bkt. cacheDir is emptied. reg may be nil.
func New(cfg Config, bkt objstore.Bucket, cacheDir string, logger *slog.Logger, reg prometheus.Registerer) (*Tier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("cold tier config: %w", err)
	}
	m := newMetrics(reg)
	c, err := newCache(cacheDir, cfg.Cache, bkt, m)
	if err != nil {
		return nil, err
	}
	t := &Tier{bkt: bkt, cache: c, metrics: m, logger: logger}
	if cfg.UploadBytesPerSecond > 0 {
		t.limiter = rate.NewLimiter(rate.Limit(cfg.UploadBytesPerSecond), int(min(cfg.UploadBytesPerSecond, 1<<20)))
	}
	return t, nil
}

// Bucket returns the tier's bucket.
func (t *Tier) Bucket() objstore.Bucket { return t.bkt }

// Close ends the reads in flight, then closes the bucket.
func (t *Tier) Close() error {
	t.cache.close()
	return t.bkt.Close()
}

// Partition returns the cold store of one partition.
func (t *Tier) Partition(tenant, topic string, partition int) segments.ColdStore {
	return &partitionStore{t: t, tenant: tenant, topic: topic, partition: partition,
		dir: path.Join(tenant, topic, strconv.Itoa(partition))}
}

// partitionStore is the segments.ColdStore of one partition.
type partitionStore struct {
	t             *Tier
	tenant, topic string
	partition     int
	dir           string // <tenant>/<topic>/<partition>
}

func (p *partitionStore) object(a segments.ColdAttempt, name string) string {
	return path.Join(p.dir, a.Key(), name)
}

// Upload writes the segment, then the index, then meta.json.
func (p *partitionStore) Upload(ctx context.Context, a segments.ColdAttempt, segment io.Reader, index []byte) error {
	began := time.Now()
	r := &uploadReader{ctx: ctx, r: segment, limiter: p.t.limiter, size: a.Bytes, crc: crc32.New(crc32.MakeTable(crc32.Castagnoli))}
	// The index goes up alongside the segment; meta.json only after both.
	indexDone := make(chan error, 1)
	go func() { indexDone <- p.put(ctx, p.object(a, IndexObject), index) }()
	err := p.t.bkt.Upload(ctx, p.object(a, SegmentObject), r)
	if err == nil && r.n != a.Bytes {
		err = fmt.Errorf("segment read %d bytes, want %d", r.n, a.Bytes)
	}
	if ierr := <-indexDone; err == nil {
		err = ierr
	}
	if err == nil {
		meta, merr := json.Marshal(Meta{Version: metaVersion, Tenant: p.tenant, Topic: p.topic, Partition: p.partition,
			ID: a.ID, Base: a.Base, Next: a.Next, SegmentBytes: a.Bytes, SegmentCRC32C: r.crc.Sum32(),
			IndexBytes: len(index), MinTimestamp: a.MinTimestamp, MaxTimestamp: a.MaxTimestamp})
		err = errors.Join(merr, p.put(ctx, p.object(a, MetaObject), meta))
	}
	p.t.metrics.uploadBytes.Add(float64(r.n))
	if err != nil {
		p.t.metrics.uploadFailures.Inc()
		return fmt.Errorf("upload %s: %w", path.Join(p.dir, a.Key()), err)
	}
	p.t.metrics.uploads.Inc()
	p.t.metrics.uploadDuration.Observe(time.Since(began).Seconds())
	return nil
}

// put uploads a small object under the same rate limit.
func (p *partitionStore) put(ctx context.Context, name string, data []byte) error {
	r := &uploadReader{ctx: ctx, r: bytes.NewReader(data), limiter: p.t.limiter, size: int64(len(data)), crc: crc32.NewIEEE()}
	if err := p.t.bkt.Upload(ctx, name, r); err != nil {
		return err
	}
	p.t.metrics.uploadBytes.Add(float64(len(data)))
	return nil
}

// Delete removes meta.json first, so an attempt is never left looking complete
// without its data, then the segment and index. Missing objects are fine.
func (p *partitionStore) Delete(ctx context.Context, a segments.ColdAttempt) error {
	for _, name := range []string{MetaObject, SegmentObject, IndexObject} {
		if err := p.t.bkt.Delete(ctx, p.object(a, name)); err != nil && !p.t.bkt.IsObjNotFoundErr(err) {
			p.t.metrics.deleteFailures.Inc()
			return fmt.Errorf("delete %s: %w", p.object(a, name), err)
		}
	}
	p.t.metrics.deletes.Inc()
	return nil
}

// Index fetches the attempt's index object.
func (p *partitionStore) Index(ctx context.Context, a segments.ColdAttempt) ([]byte, error) {
	rc, err := p.t.bkt.Get(ctx, p.object(a, IndexObject))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// ReadAt reads the segment object through the chunk cache.
func (p *partitionStore) ReadAt(ctx context.Context, a segments.ColdAttempt, buf []byte, off int64) error {
	return p.t.cache.readAt(ctx, p.object(a, SegmentObject), a.Bytes, buf, off)
}

// uploadReader meters an upload: it waits on the shared rate limiter, counts
// the bytes and checksums them. It reports its size so providers can skip
// buffering (objstore.ObjectSizer).
type uploadReader struct {
	ctx     context.Context
	r       io.Reader
	limiter *rate.Limiter
	size, n int64
	crc     hash.Hash32
}

func (u *uploadReader) ObjectSize() (int64, error) { return u.size, nil }

func (u *uploadReader) Read(p []byte) (int, error) {
	if u.limiter != nil && len(p) > u.limiter.Burst() {
		p = p[:u.limiter.Burst()]
	}
	n, err := u.r.Read(p)
	if n > 0 {
		u.n += int64(n)
		u.crc.Write(p[:n])
		if u.limiter != nil {
			if werr := u.limiter.WaitN(u.ctx, n); werr != nil {
				return n, werr
			}
		}
	}
	return n, err
}
