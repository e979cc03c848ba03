package ingest

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"io"
	"mime"
	"net/http"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

// Decoder turns a request body (already decompressed by Content-Encoding) into
// a PushRequest. Its errors should be *Error (BadRequest for bad input).
type Decoder func(r *http.Request, body []byte) (*PushRequest, error)

// Responder answers a push: err is nil when it was durable.
type Responder func(w http.ResponseWriter, req *PushRequest, err error)

// NoContent answers 204 on success and plain text errors, as Loki does.
func NoContent(w http.ResponseWriter, _ *PushRequest, err error) {
	if err != nil {
		WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Handler is the HTTP receiver of one protocol: tenant, admission, body,
// decode, push, answer. Every receiver on the HTTP port is one of these.
func (d *Distributor) Handler(protocol string, decode Decoder, respond Responder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, err := d.tenant(r)
		if err != nil {
			d.finish(w, protocol, "", &PushRequest{Protocol: protocol}, err, respond)
			return
		}
		req := &PushRequest{Protocol: protocol, Tenant: tenant}
		body, release, err := d.ReadBody(r)
		if err != nil {
			d.finish(w, protocol, tenant, req, err, respond)
			return
		}
		defer release()
		decoded, err := decode(r, body)
		if err != nil {
			d.finish(w, protocol, tenant, req, err, respond)
			return
		}
		decoded.Protocol, decoded.Tenant = protocol, tenant
		err = d.Push(r.Context(), decoded)
		d.finish(w, protocol, tenant, decoded, err, respond)
		if decoded.done != nil {
			decoded.done()
		}
	})
}

func (d *Distributor) finish(w http.ResponseWriter, protocol, tenant string, req *PushRequest, err error, respond Responder) {
	code := http.StatusNoContent
	if err != nil {
		code = AsError(err).Status
		if req.Streams == nil { // refused before decoding: count the request
			d.metrics.Reject(protocol, tenant, err)
		}
	}
	d.metrics.Request(protocol, tenant, code)
	respond(w, req, err)
}

// ReadBody admits the request against the in-flight budget, then reads its body,
// decompressing it by Content-Encoding (gzip, deflate, snappy, zstd), never past
// MaxRequestBytes. Call release once the request is done.
func (d *Distributor) ReadBody(r *http.Request) (body []byte, release func(), err error) {
	max := d.cfg.MaxRequestBytes
	if r.ContentLength > max {
		return nil, nil, tooLarge(max)
	}
	// Reserve twice the body: the bytes plus what decoding makes of them. A
	// compressed body is assumed to expand tenfold (bounded by max).
	reserve := 2 * max
	if r.ContentLength >= 0 {
		n := max64(r.ContentLength, 4096)
		if r.Header.Get("Content-Encoding") != "" || MediaType(r) == "application/x-protobuf" {
			n *= 10
		}
		reserve = 2 * min(n, max)
	}
	release, err = d.Admit(r.Context(), reserve)
	if err != nil {
		return nil, nil, err
	}
	body, err = readLimited(r.Body, r.ContentLength, max)
	if err == nil && len(body) == 0 {
		err = BadRequest("empty request body")
	}
	if enc := r.Header.Get("Content-Encoding"); err == nil && enc == "snappy" {
		// Remote write and Loki pushes: hundreds a second, each decoded
		// into a buffer that is free again once the request is answered.
		buf := snappyBuffers.Get().(*[]byte)
		if body, err = decodeSnappyInto(*buf, body, max); err == nil {
			*buf = body
		}
		admitted := release
		release = func() {
			putSnappyBuffer(buf)
			admitted()
		}
	} else if err == nil {
		body, err = decompress(enc, body, max)
	}
	if err == nil && len(body) == 0 {
		err = BadRequest("empty request body (after %s decompression)", r.Header.Get("Content-Encoding"))
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	return body, release, nil
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func tooLarge(max int64) error {
	return Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
		"request body is over %d bytes (-ingest.max-request-bytes); send smaller batches", max)
}

func readLimited(r io.Reader, size, max int64) ([]byte, error) {
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size) + bytes.MinRead) // one allocation when the length is known
	}
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if err != nil {
		return nil, BadRequest("reading request body: %v", err)
	}
	if n > max {
		return nil, tooLarge(max)
	}
	return buf.Bytes(), nil
}

// decompress undoes Content-Encoding, refusing anything that expands past max
// (a compression bomb gets 413, not an OOM).
func decompress(encoding string, body []byte, max int64) ([]byte, error) {
	switch encoding {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, BadRequest("gzip body: %v", err)
		}
		return readDecompressed(zr, max, "gzip")
	case "deflate":
		return readDecompressed(flate.NewReader(bytes.NewReader(body)), max, "deflate")
	case "snappy":
		return DecodeSnappy(body, max)
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max)+1))
		if err != nil {
			return nil, BadRequest("zstd body: %v", err)
		}
		defer zr.Close()
		return readDecompressed(zr, max, "zstd")
	default:
		return nil, Errorf(http.StatusUnsupportedMediaType, ReasonBadRequest,
			"unsupported Content-Encoding %q: use gzip, deflate, snappy or zstd", encoding)
	}
}

func readDecompressed(r io.Reader, max int64, codec string) ([]byte, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, max+1))
	if n > max {
		return nil, Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
			"%s body decompresses to over %d bytes (-ingest.max-request-bytes)", codec, max)
	}
	if err != nil {
		return nil, BadRequest("%s body: %v", codec, err)
	}
	return buf.Bytes(), nil
}

// snappyBuffers holds the buffers ReadBody decodes snappy bodies into; at
// most maxPooledSnappy bytes are kept per buffer.
var snappyBuffers = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledSnappy = 4 << 20

func putSnappyBuffer(buf *[]byte) {
	if cap(*buf) <= maxPooledSnappy {
		*buf = (*buf)[:0]
		snappyBuffers.Put(buf)
	}
}

// DecodeSnappy decodes a snappy block (Loki push, remote_write), checking the
// announced length against max before allocating.
func DecodeSnappy(body []byte, max int64) ([]byte, error) {
	return decodeSnappyInto(nil, body, max)
}

// decodeSnappyInto is DecodeSnappy into dst's capacity when it is enough.
func decodeSnappyInto(dst, body []byte, max int64) ([]byte, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, BadRequest("snappy body: %v", err)
	}
	if int64(n) > max {
		return nil, Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
			"snappy body decompresses to %d bytes, over %d (-ingest.max-request-bytes)", n, max)
	}
	out, err := snappy.Decode(dst[:cap(dst)], body)
	if err != nil {
		return nil, BadRequest("snappy body: %v", err)
	}
	return out, nil
}

// MediaType returns the request's media type without parameters ("" if none).
func MediaType(r *http.Request) string {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return ""
	}
	return mt
}

// MaxRequestBytes returns the decompressed body limit.
func (d *Distributor) MaxRequestBytes() int64 { return d.cfg.MaxRequestBytes }
