package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Framing limits.
const (
	frameSizeBytes     = 4 // the int32 size prefix of every request and response
	minRequestBytes    = 8 // apiKey int16 | apiVersion int16 | correlationID int32
	maxPooledFrameSize = 1 << 20
)

var (
	errFrameSize     = errors.New("bad request size")
	errRequestHeader = errors.New("malformed request header")
)

// requestHeader is a request's header; req is the kmsg request type for the
// key at the header's version, nil for a key kmsg does not know.
type requestHeader struct {
	key           int16
	version       int16
	correlationID int32
	clientID      *string
	req           kmsg.Request
}

// readFrame reads one size-prefixed request into buf (grown as needed) and
// returns it without the prefix. Sizes below a header or above maxBytes are
// refused before anything is allocated.
func readFrame(r io.Reader, buf []byte, maxBytes int) ([]byte, error) {
	var size [frameSizeBytes]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return buf, err
	}
	n := int64(int32(binary.BigEndian.Uint32(size[:])))
	if n < minRequestBytes || n > int64(maxBytes) {
		return buf, fmt.Errorf("%w: %d bytes (allowed %d..%d)", errFrameSize, n, minRequestBytes, maxBytes)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, fmt.Errorf("read %d-byte request: %w", n, err)
	}
	return buf, nil
}

// parseRequestHeader parses the header of frame and returns the body after it.
// For keys kmsg does not know, the body is unparsed and h.req is nil.
func parseRequestHeader(frame []byte) (h requestHeader, body []byte, err error) {
	if len(frame) < minRequestBytes {
		return h, nil, fmt.Errorf("%w: %d bytes", errRequestHeader, len(frame))
	}
	h.key = int16(binary.BigEndian.Uint16(frame[0:]))
	h.version = int16(binary.BigEndian.Uint16(frame[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(frame[4:]))
	h.req = kmsg.RequestForKey(h.key)
	if h.req == nil {
		return h, nil, nil
	}
	h.req.SetVersion(h.version)
	r := &tagReader{src: frame[minRequestBytes:]}
	h.clientID = r.nullableString()
	if h.req.IsFlexible() {
		kmsg.SkipTags(r)
	}
	if r.failed {
		return h, nil, fmt.Errorf("%w: api key %d version %d", errRequestHeader, h.key, h.version)
	}
	return h, r.src, nil
}

// tagReader reads the few header fields kmsg leaves to the server; it
// implements kmsg.TagReader so kmsg.SkipTags can skip the header's tags.
type tagReader struct {
	src    []byte
	failed bool
}

func (r *tagReader) fail() { r.failed, r.src = true, nil }

// Ok reports whether every read so far was in bounds (kmsg.SkipTags stops
// when it turns false).
func (r *tagReader) Ok() bool { return !r.failed }

// Uvarint reads an unsigned varint that fits 32 bits.
func (r *tagReader) Uvarint() uint32 {
	v, n := binary.Uvarint(r.src)
	if n <= 0 || v > math.MaxUint32 {
		r.fail()
		return 0
	}
	r.src = r.src[n:]
	return uint32(v)
}

// Span returns the next n bytes.
func (r *tagReader) Span(n int) []byte {
	if n < 0 || n > len(r.src) {
		r.fail()
		return nil
	}
	p := r.src[:n]
	r.src = r.src[n:]
	return p
}

func (r *tagReader) nullableString() *string {
	if len(r.src) < 2 {
		r.fail()
		return nil
	}
	n := int(int16(binary.BigEndian.Uint16(r.src)))
	r.src = r.src[2:]
	if n < 0 {
		return nil
	}
	s := string(r.Span(n))
	return &s
}

// appendResponse appends resp as a size-prefixed response frame to dst.
// ApiVersions responses always use header v0 (no tags), whatever their
// version, so that clients can parse them before they know what the broker
// speaks.
func appendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.IsFlexible() && resp.Key() != apiVersionsKey {
		dst = append(dst, 0) // no header tags
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-frameSizeBytes))
	return dst
}
