package ingest

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/siltlog/silt/segments"
	"github.com/siltlog/silt/segments/topics"
)

// Entry is one log line of a stream.
type Entry struct {
	Timestamp int64 // ns since the epoch; 0 means "now"
	Line      string
	Metadata  []segments.Header // structured metadata: Loki's third value, OTLP attributes, ...
}

// Stream is a label set and its entries, in order.
type Stream struct {
	Labels  Labels
	Entries []Entry
}

// PushRequest is what every receiver decodes its input into.
type PushRequest struct {
	Tenant   string
	Protocol string // loki, bulk, otlp, jsonline, syslog, remote_write: a metrics label
	Topic    string // "" means topics.TopicLogs
	Streams  []Stream
	// Binary marks lines that are encoded values (metric samples), not text:
	// they skip the UTF-8 check.
	Binary bool
	// done, when set, is called once the request is answered and nothing
	// refers to it any more: its decoder takes its buffers back.
	done func()
}

// Lines returns the number of entries and the bytes of their lines.
func (r *PushRequest) Lines() (lines, bytes int) {
	for _, s := range r.Streams {
		lines += len(s.Entries)
		for _, e := range s.Entries {
			bytes += len(e.Line)
		}
	}
	return lines, bytes
}

// Config is the distributor's configuration.
type Config struct {
	Limits           Limits        `yaml:"limits"`
	MaxRequestBytes  int64         `yaml:"max_request_bytes"`
	MaxInflightBytes int64         `yaml:"max_inflight_bytes"`
	AdmitWait        time.Duration `yaml:"admit_wait"`
	Bulk             BulkConfig    `yaml:"bulk"`
}

// RegisterFlags registers the ingest flags.
func (c *Config) RegisterFlags(f *flag.FlagSet) {
	c.Limits.RegisterFlags(f)
	f.Int64Var(&c.MaxRequestBytes, "ingest.max-request-bytes", 32<<20, "Largest accepted request body after decompression (413 above).")
	f.Int64Var(&c.MaxInflightBytes, "ingest.max-inflight-bytes", 128<<20, "Request bytes being decoded and appended at once; past it requests wait, then get 503.")
	f.DurationVar(&c.AdmitWait, "ingest.admit-wait", 2*time.Second, "How long a request waits for in-flight room before a 503.")
	c.Bulk.RegisterFlags(f)
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if c.MaxRequestBytes <= 0 || c.MaxInflightBytes < 2*c.MaxRequestBytes {
		return errors.New("ingest: max-inflight-bytes must be at least twice max-request-bytes, both positive")
	}
	if c.AdmitWait < 0 {
		return errors.New("ingest: admit-wait must not be negative")
	}
	return c.Bulk.Validate()
}

// Distributor validates pushes against the limits and appends them to the
// partitions of their tenant's topic: a stream always lands in one partition.
type Distributor struct {
	cfg      Config
	store    *topics.Store
	rates    *rateLimiters
	inflight *semaphore.Weighted
	metrics  *Metrics
	tenant   func(*http.Request) (string, error)
	now      func() time.Time
}

// NewDistributor returns a distributor over store. tenant resolves the tenant of
// an HTTP request (its error should be an *Error).
func NewDistributor(cfg Config, store *topics.Store, m *Metrics, tenant func(*http.Request) (string, error)) *Distributor {
	return &Distributor{
		cfg:      cfg,
		store:    store,
		rates:    &rateLimiters{limits: cfg.Limits, byID: map[string]*rate.Limiter{}},
		inflight: semaphore.NewWeighted(cfg.MaxInflightBytes),
		metrics:  m,
		tenant:   tenant,
		now:      time.Now,
	}
}

// Push validates req as a whole and appends it; nothing of a rejected request is
// written. It returns once every entry is durable, or an *Error.
func (d *Distributor) Push(ctx context.Context, req *PushRequest) error {
	began := d.now()
	lines, size := req.Lines()
	err := d.push(ctx, req, began)
	d.metrics.observe(req, lines, size, err, d.now().Sub(began))
	return err
}

func (d *Distributor) push(ctx context.Context, req *PushRequest, now time.Time) error {
	if err := d.validate(req, now); err != nil {
		return err
	}
	_, size := req.Lines()
	if ok, wait := d.rates.allow(req.Tenant, size, now); !ok {
		e := Errorf(http.StatusTooManyRequests, ReasonRateLimited,
			"ingestion rate limit (%g MB/s, burst %g MB) exceeded for tenant %q: %d bytes refused; retry later or raise -limits.ingestion-rate-mb",
			d.cfg.Limits.IngestionRateMB, d.cfg.Limits.IngestionBurstSizeMB, req.Tenant, size)
		e.RetryAfter = max(wait, time.Second)
		return e
	}
	g, err := d.group(req)
	if err != nil {
		return err
	}
	defer g.free()
	return d.appendAll(ctx, g.order)
}

// validate checks every stream and entry against the limits, filling in
// missing timestamps.
func (d *Distributor) validate(req *PushRequest, now time.Time) error {
	lim := &d.cfg.Limits
	for si := range req.Streams {
		s := &req.Streams[si]
		if err := d.validateLabels(s.Labels, req.Topic == topics.TopicMetrics); err != nil {
			return err
		}
		for i := range s.Entries {
			e := &s.Entries[i]
			if e.Timestamp == 0 {
				e.Timestamp = now.UnixNano()
			}
			switch {
			case len(e.Line) > lim.MaxLineSize:
				return Errorf(http.StatusBadRequest, ReasonLineTooLong,
					"stream %s: line of %d bytes is over the limit of %d (-limits.max-line-size)", s.Labels, len(e.Line), lim.MaxLineSize)
			case !req.Binary && !utf8.ValidString(e.Line):
				return Errorf(http.StatusBadRequest, ReasonInvalidUTF8, "stream %s: line %d is not valid UTF-8", s.Labels, i)
			case lim.RejectOldSamplesMaxAge > 0 && e.Timestamp < now.Add(-lim.RejectOldSamplesMaxAge).UnixNano():
				return Errorf(http.StatusBadRequest, ReasonTooOld,
					"stream %s: entry with timestamp %s is older than %s (-limits.reject-old-samples-max-age)",
					s.Labels, time.Unix(0, e.Timestamp).UTC().Format(time.RFC3339Nano), lim.RejectOldSamplesMaxAge)
			case e.Timestamp > now.Add(lim.CreationGracePeriod).UnixNano():
				return Errorf(http.StatusBadRequest, ReasonTooNew,
					"stream %s: entry with timestamp %s is more than %s in the future (-limits.creation-grace-period)",
					s.Labels, time.Unix(0, e.Timestamp).UTC().Format(time.RFC3339Nano), lim.CreationGracePeriod)
			}
		}
	}
	return nil
}

func (d *Distributor) validateLabels(ls Labels, metric bool) error {
	lim := &d.cfg.Limits
	if len(ls) == 0 {
		return Errorf(http.StatusBadRequest, ReasonInvalidLabels, "a stream needs at least one label")
	}
	maxLabels, flag := lim.MaxLabelNamesPerSeries, "-limits.max-label-names-per-series"
	if metric {
		maxLabels, flag = lim.MaxLabelNamesPerMetricSeries, "-limits.max-label-names-per-metric-series"
	}
	if len(ls) > maxLabels {
		return Errorf(http.StatusBadRequest, ReasonTooManyLabels,
			"stream %.200s has %d labels, over the limit of %d (%s)", ls, len(ls), maxLabels, flag)
	}
	if err := ls.Normalize(); err != nil {
		return Errorf(http.StatusBadRequest, ReasonInvalidLabels, "stream %.200s: %v", ls, err)
	}
	for _, l := range ls {
		switch {
		case !validLabelName(l.Name):
			return Errorf(http.StatusBadRequest, ReasonInvalidLabels, "stream %.200s: invalid label name %q", ls, l.Name)
		case len(l.Name) > lim.MaxLabelNameLength:
			return Errorf(http.StatusBadRequest, ReasonInvalidLabels, "stream %.200s: label name %.64q… is over %d bytes", ls, l.Name, lim.MaxLabelNameLength)
		case len(l.Value) > lim.MaxLabelValueLength:
			return Errorf(http.StatusBadRequest, ReasonInvalidLabels, "stream %.200s: value of label %q is over %d bytes", ls, l.Name, lim.MaxLabelValueLength)
		case !utf8.ValidString(l.Value):
			return Errorf(http.StatusBadRequest, ReasonInvalidUTF8, "stream %.200s: value of label %q is not valid UTF-8", ls, l.Name)
		}
	}
	return nil
}

// partitionBatch is the records of one request bound for one partition.
type partitionBatch struct {
	tenant, topic string
	partition     int
	open          bool // in the grouping's order
	recs          []segments.Record
}

// grouping is a request's records by partition. Groupings are pooled: their
// arenas are as large as a request.
type grouping struct {
	order   []*partitionBatch // the partitions the request writes to
	batches []partitionBatch  // by partition
	keys    []byte            // every record key
}

var groupings = sync.Pool{New: func() any { return new(grouping) }}

// maxPooledKeys bounds the key arena a pooled grouping keeps.
const maxPooledKeys = 4 << 20

// free drops what g refers to and puts it back in the pool.
func (g *grouping) free() {
	for _, b := range g.order {
		clear(b.recs)
		b.recs, b.open = b.recs[:0], false
	}
	g.order = g.order[:0]
	if cap(g.keys) <= maxPooledKeys {
		groupings.Put(g)
	}
}

// group turns the streams into records, one batch per partition.
func (d *Distributor) group(req *PushRequest) (*grouping, error) {
	topic := req.Topic
	if topic == "" {
		topic = topics.TopicLogs
	}
	reg, err := d.store.Registry()
	if err != nil {
		return nil, storageError(err)
	}
	t, err := reg.Get(req.Tenant, topic)
	if err != nil {
		return nil, Errorf(http.StatusNotFound, ReasonNotFound, "topic %q: %v", topic, err)
	}
	g := groupings.Get().(*grouping)
	if len(g.batches) < t.Partitions {
		g.batches = append(g.batches, make([]partitionBatch, t.Partitions-len(g.batches))...)
	}
	g.keys = reuse(g.keys, keysSize(req.Streams))
	for _, s := range req.Streams {
		start := len(g.keys)
		g.keys = s.Labels.AppendString(g.keys)
		key := g.keys[start:len(g.keys):len(g.keys)] // an arena that grows leaves it in the old array
		p := topics.KeyPartition(key, t.Partitions)
		b := &g.batches[p]
		if !b.open {
			b.tenant, b.topic, b.partition, b.open = req.Tenant, topic, p, true
			g.order = append(g.order, b)
		}
		for _, e := range s.Entries {
			// The log copies values into its batch and never writes to them, so
			// the line's bytes are lent, not copied.
			value := unsafe.Slice(unsafe.StringData(e.Line), len(e.Line))
			b.recs = append(b.recs, segments.Record{Timestamp: e.Timestamp, Key: key, Value: value, Headers: e.Metadata})
		}
	}
	return g, nil
}

// keysSize is the bytes of the streams' record keys, unless some value needs
// escapes.
func keysSize(streams []Stream) int {
	n := 0
	for _, s := range streams {
		n += 2
		for _, l := range s.Labels {
			n += len(l.Name) + len(l.Value) + 5
		}
	}
	return n
}

// appendAll appends each partition's batch, in parallel so their fsyncs overlap.
func (d *Distributor) appendAll(ctx context.Context, groups []*partitionBatch) error {
	if len(groups) == 1 {
		if err := groups[0].append(ctx, d.store); err != nil {
			return storageError(err)
		}
		return nil
	}
	errs := make([]error, len(groups))
	var wg sync.WaitGroup
	for i, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = g.append(ctx, d.store)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return storageError(err)
	}
	return nil
}

// append writes the batch: to the local log, or through the partition's raft
// group in a cluster.
func (b *partitionBatch) append(ctx context.Context, store *topics.Store) error {
	_, err := store.Append(ctx, b.tenant, b.topic, b.partition, b.recs)
	return err
}

// storageError maps a failed append to 503: the client should retry. A batch
// the log refuses as such (larger than a segment) is the request's fault: 413.
func storageError(err error) error {
	if errors.Is(err, segments.ErrInvalidBatch) {
		return Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
			"request does not fit in one record batch: %v; send smaller requests", err)
	}
	e := Errorf(http.StatusServiceUnavailable, ReasonStorage, "storage cannot take writes now: %v", err)
	e.RetryAfter = 5 * time.Second
	return e
}

// Admit reserves n bytes of the in-flight budget, waiting up to AdmitWait. It
// answers 503 when the budget stays full: backpressure instead of a queue.
func (d *Distributor) Admit(ctx context.Context, n int64) (release func(), err error) {
	n = min(n, d.cfg.MaxInflightBytes)
	if !d.inflight.TryAcquire(n) {
		wctx, cancel := context.WithTimeout(ctx, d.cfg.AdmitWait)
		err := d.inflight.Acquire(wctx, n)
		cancel()
		if err != nil {
			e := Errorf(http.StatusServiceUnavailable, ReasonOverloaded,
				"silt is at its in-flight limit (%d bytes, -ingest.max-inflight-bytes); retry later", d.cfg.MaxInflightBytes)
			e.RetryAfter = time.Second
			return nil, e
		}
	}
	return func() { d.inflight.Release(n) }, nil
}

// Tenant resolves the tenant of an HTTP request.
func (d *Distributor) Tenant(r *http.Request) (string, error) { return d.tenant(r) }
