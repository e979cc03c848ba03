package ingest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/siltlog/silt/segments"
)

// How a syslog message becomes a silt entry (README "Syslog"):
//
//	stream labels  job="syslog", host=HOSTNAME (the sender's IP when the message
//	               has none), app=APP-NAME or TAG (omitted when absent),
//	               facility=kern|user|...|local7
//	line           MSG (RFC 5424's BOM removed; RFC 3164's "tag: " removed);
//	               the whole message for one that fits neither grammar
//	timestamp      the message's, or the receive time when it has none, or one
//	               the limits would refuse (older than reject_old_samples_max_age
//	               or past creation_grace_period): syslog cannot be told "no"
//	metadata       level (Loki's detected_level words), severity (syslog's
//	               keyword), procid, msgid, and sd_<SD-ID>_<PARAM-NAME> per
//	               structured-data parameter (names sanitized as label names)
//
// Invalid UTF-8 becomes U+FFFD and lines over max_line_size are cut, so that
// one bad message never makes the distributor refuse its whole batch.
const (
	syslogJob          = "syslog"
	syslogProtocol     = "syslog" // PushRequest.Protocol: the metrics label
	syslogBatchBytes   = 1 << 20  // line bytes per push, with SyslogConfig.BatchSize lines
	syslogPushTimeout  = 10 * time.Second
	syslogRetryBackoff = time.Second
	// syslogClockMargin keeps a timestamp this far inside the limits' window, so
	// that retries and the batch wait cannot push it out.
	syslogClockMargin = time.Minute
)

// syslogStreamKey identifies a stream of a batch without allocating.
type syslogStreamKey struct{ host, app, facility string }

// syslogBatch accumulates the messages of one connection (or of the UDP
// socket) into one PushRequest.
type syslogBatch struct {
	tenant string
	loc    *time.Location
	limits *Limits

	req     PushRequest
	streams map[syslogStreamKey]int // index into req.Streams
	lines   int
	bytes   int
	first   time.Time // receive time of the first message of the batch
	msg     syslogMessage
}

func newSyslogBatch(tenant string, limits *Limits, loc *time.Location) *syslogBatch {
	return &syslogBatch{tenant: tenant, limits: limits, loc: loc, streams: map[syslogStreamKey]int{}}
}

// add parses one framed message received from peer at now and appends it.
func (b *syslogBatch) add(raw []byte, peer string, now time.Time) {
	raw = trimSyslogNewline(raw)
	parseSyslog(&b.msg, string(raw), now, b.loc)
	m := &b.msg
	if m.hostname == "" {
		m.hostname = peer
	}
	key := syslogStreamKey{
		host:     b.labelValue(m.hostname),
		app:      b.labelValue(m.appName),
		facility: syslogFacilities[m.pri>>3],
	}
	i, ok := b.streams[key]
	if !ok {
		i = len(b.req.Streams)
		b.streams[key] = i
		b.req.Streams = append(b.req.Streams, Stream{Labels: key.labels()})
	}
	e := Entry{Timestamp: b.timestamp(m.ts, now), Line: b.line(m.msg), Metadata: syslogMetadata(m)}
	b.req.Streams[i].Entries = append(b.req.Streams[i].Entries, e)
	if b.lines == 0 {
		b.first = now
	}
	b.lines++
	b.bytes += len(e.Line)
}

func (k syslogStreamKey) labels() Labels {
	ls := make(Labels, 0, 4)
	ls = append(ls, Label{Name: "job", Value: syslogJob})
	if k.host != "" {
		ls = append(ls, Label{Name: "host", Value: k.host})
	}
	if k.app != "" {
		ls = append(ls, Label{Name: "app", Value: k.app})
	}
	return append(ls, Label{Name: "facility", Value: k.facility})
}

// full reports whether the batch should be pushed now.
func (b *syslogBatch) full(size int) bool { return b.lines >= size || b.bytes >= syslogBatchBytes }

// take returns the batch's request and empties the batch.
func (b *syslogBatch) take() *PushRequest {
	req := &PushRequest{Tenant: b.tenant, Protocol: syslogProtocol, Streams: b.req.Streams}
	b.req.Streams = nil
	clear(b.streams)
	b.lines, b.bytes = 0, 0
	return req
}

// timestamp returns ts, or now when ts is absent or outside what the limits
// accept.
func (b *syslogBatch) timestamp(ts int64, now time.Time) int64 {
	switch {
	case ts == 0:
	case b.limits.RejectOldSamplesMaxAge > 0 && ts < now.Add(-b.limits.RejectOldSamplesMaxAge+syslogClockMargin).UnixNano():
	case ts > now.Add(b.limits.CreationGracePeriod-syslogClockMargin).UnixNano():
	default:
		return ts
	}
	return now.UnixNano()
}

func (b *syslogBatch) line(s string) string {
	return syslogTruncateUTF8(syslogValidUTF8(s), b.limits.MaxLineSize)
}

func (b *syslogBatch) labelValue(s string) string {
	return syslogTruncateUTF8(syslogValidUTF8(s), b.limits.MaxLabelValueLength)
}

// syslogMetadata returns the structured metadata of m.
func syslogMetadata(m *syslogMessage) []segments.Header {
	sev := m.pri & 7
	md := make([]segments.Header, 0, 4+len(m.sd))
	md = append(md,
		segments.Header{Key: "level", Value: []byte(syslogLevels[sev])},
		segments.Header{Key: "severity", Value: []byte(syslogSeverities[sev])})
	if m.procID != "" {
		md = append(md, segments.Header{Key: "procid", Value: []byte(syslogValidUTF8(m.procID))})
	}
	if m.msgID != "" {
		md = append(md, segments.Header{Key: "msgid", Value: []byte(syslogValidUTF8(m.msgID))})
	}
	for _, p := range m.sd {
		md = append(md, segments.Header{Key: SanitizeLabelName("sd_" + p.id + "_" + p.name), Value: []byte(syslogValidUTF8(p.value))})
	}
	return md
}

// trimSyslogNewline drops a trailing LF or CR LF: rsyslog's
// RSYSLOG_SyslogProtocol23Format ends each message with LF even when the
// framing is octet counting or UDP.
func trimSyslogNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func syslogValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// truncateUTF8 cuts valid UTF-8 s to at most n bytes on a rune boundary.
func syslogTruncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// push appends req, retrying for a bounded time while the distributor answers
// 429 or 503: syslog has no acknowledgements, so a transient refusal is waited
// out (over TCP the sender's queue takes the backpressure) and a lasting one
// drops the batch, counted in silt_ingest_discarded_lines_total. Metrics are
// observed once per batch, not per attempt. stop ends the retries early.
func (s *SyslogServer) push(req *PushRequest, stop <-chan struct{}) error {
	d := s.d
	ctx, cancel := context.WithTimeout(context.Background(), syslogPushTimeout)
	defer cancel()
	began := d.now()
	lines, size := req.Lines()
	var err error
	for {
		err = s.pushOnce(ctx, req, size)
		if err == nil || !s.retryable(err, size) {
			break
		}
		wait := min(max(AsError(err).RetryAfter, 100*time.Millisecond), syslogRetryBackoff)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
		case <-stop:
		}
		t.Stop()
		break
	}
	d.metrics.observe(req, lines, size, err, d.now().Sub(began))
	code := http.StatusNoContent
	if err != nil {
		code = AsError(err).Status
	}
	d.metrics.Request(syslogProtocol, req.Tenant, code)
	return err
}

// pushOnce is Distributor.Push without its metrics, inside the in-flight
// budget shared with the HTTP receivers.
func (s *SyslogServer) pushOnce(ctx context.Context, req *PushRequest, size int) error {
	release, err := s.d.Admit(ctx, 2*int64(size))
	if err != nil {
		return err
	}
	defer release()
	return s.d.push(ctx, req, s.d.now())
}

// retryable reports whether a refusal may pass on a later try: overload,
// storage trouble or a rate limit that a batch of size bytes can fit.
func (s *SyslogServer) retryable(err error, size int) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Reason {
	case ReasonOverloaded, ReasonStorage:
		return true
	case ReasonRateLimited:
		return float64(size) <= s.d.cfg.Limits.IngestionBurstSizeMB*1e6
	}
	return false
}
