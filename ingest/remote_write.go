package ingest

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"strings"
)

// Prometheus remote_write 1.0 receiver: snappy-compressed prompb.WriteRequest
// in, one record per series per request out, in the tenant's metrics topic.
// The record format is in FORMAT.md.

const (
	// SampleValueVersion is the first byte of a float-sample record value.
	SampleValueVersion = 1

	rwMaxSamplesPerValue   = 4096
	rwMaxSamplesPerRequest = 1_000_000
	rwValueHeaderMax       = 1 + binary.MaxVarintLen64
	rwSampleMax            = binary.MaxVarintLen64 + 8
	rwSampleMin            = 1 + 8
	rwProtoV2              = "io.prometheus.write.v2.Request"
)

// MetricSample is one float sample of a series.
type MetricSample struct {
	T int64 // milliseconds since the epoch
	V float64
}

// AppendSamples appends the record value of samples (FORMAT.md) to dst.
func AppendSamples(dst []byte, samples []MetricSample) []byte {
	dst = append(dst, SampleValueVersion)
	dst = binary.AppendUvarint(dst, uint64(len(samples)))
	var prev int64
	for _, s := range samples {
		dst = binary.AppendVarint(dst, s.T-prev)
		dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(s.V))
		prev = s.T
	}
	return dst
}

// DecodeSamples appends the samples of a record value (FORMAT.md) to dst.
func DecodeSamples(dst []MetricSample, value []byte) ([]MetricSample, error) {
	if len(value) == 0 {
		return dst, fmt.Errorf("sample value: empty")
	}
	if value[0] != SampleValueVersion {
		return dst, fmt.Errorf("sample value: unknown version %d at byte 0", value[0])
	}
	n, k := binary.Uvarint(value[1:])
	if k <= 0 {
		return dst, fmt.Errorf("sample value: bad count varint at byte 1")
	}
	pos := 1 + k
	if n == 0 || n > uint64(len(value)-pos)/rwSampleMin {
		return dst, fmt.Errorf("sample value: count %d does not fit the %d bytes left at byte %d", n, len(value)-pos, pos)
	}
	var t int64
	for i := uint64(0); i < n; i++ {
		delta, k := binary.Varint(value[pos:])
		if k <= 0 {
			return dst, fmt.Errorf("sample value: bad timestamp varint of sample %d at byte %d", i, pos)
		}
		pos += k
		if len(value)-pos < 8 {
			return dst, fmt.Errorf("sample value: truncated float of sample %d at byte %d", i, pos)
		}
		t += delta
		dst = append(dst, MetricSample{T: t, V: math.Float64frombits(binary.BigEndian.Uint64(value[pos:]))})
		pos += 8
	}
	if pos != len(value) {
		return dst, fmt.Errorf("sample value: %d trailing bytes at byte %d", len(value)-pos, pos)
	}
	return dst, nil
}

// rwSamplesPerValue is how many samples one record value holds so that it stays
// within the line-size limit.
func rwSamplesPerValue(maxLineSize int) int {
	return max(1, min(rwMaxSamplesPerValue, (maxLineSize-rwValueHeaderMax)/rwSampleMax))
}

func remoteWriteRoutes(d *Distributor) []Route {
	decode := func(r *http.Request, body []byte) (*PushRequest, error) {
		if err := rwCheckContentType(r); err != nil {
			return nil, err
		}
		dec := rwDecoders.Get().(*rwDecoder)
		if r.Header.Get("Content-Encoding") == "" {
			// Prometheus always snappy-compresses; some senders omit the header.
			var err error
			if dec.plain, err = decodeSnappyInto(dec.plain, body, d.MaxRequestBytes()); err != nil {
				rwDecoders.Put(dec)
				return nil, err
			}
			body = dec.plain
		}
		return dec.decode(body, rwSamplesPerValue(d.cfg.Limits.MaxLineSize))
	}
	return []Route{{Method: http.MethodPost, Path: "/api/v1/write", Handler: d.Handler("remote_write", decode, NoContent)}}
}

func rwCheckContentType(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	switch mt := MediaType(r); {
	case ct == "":
		return nil
	case mt != "application/x-protobuf":
		return Errorf(http.StatusUnsupportedMediaType, ReasonBadRequest,
			"unsupported Content-Type %q: remote_write sends application/x-protobuf", ct)
	case strings.Contains(ct, rwProtoV2):
		return Errorf(http.StatusUnsupportedMediaType, ReasonBadRequest,
			"remote write 2.0 (%s) is not supported: use remote write 1.0 (protobuf_message: prometheus.WriteRequest)", rwProtoV2)
	}
	return nil
}

// seriesStream is the stream of one series: its samples in values of at most
// perValue samples each (FORMAT.md), after checking their timestamps.
func seriesStream(ls Labels, samples []MetricSample, perValue int) (Stream, error) {
	s := Stream{Labels: ls}
	if err := checkSampleTimes(ls, samples); err != nil {
		return s, err
	}
	for chunk := samples; len(chunk) > 0; {
		n := min(len(chunk), perValue)
		s.Entries = append(s.Entries, Entry{Timestamp: chunk[0].T * 1e6, Line: string(AppendSamples(nil, chunk[:n]))})
		chunk = chunk[n:]
	}
	return s, nil
}

// checkSampleTimes refuses a sample time that is not a positive millisecond
// count that fits in int64 nanoseconds.
func checkSampleTimes(ls Labels, samples []MetricSample) error {
	for _, smp := range samples {
		if smp.T <= 0 || smp.T > math.MaxInt64/1_000_000 {
			return BadRequest("series %.200s: sample timestamp %d ms is out of range (1970 to 2262)", ls, smp.T)
		}
	}
	return nil
}
