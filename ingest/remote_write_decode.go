package ingest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"unsafe"

	"github.com/prometheus/prometheus/prompb"

	"github.com/siltlog/silt/segments/topics"
)

// A zero-copy decoder of prompb.WriteRequest (remote write 1.0). gogo's
// generated Unmarshal allocates every label name and value, every slice of
// every series; this one makes the label strings point into the body and
// carves labels, entries and sample values out of a few shared arenas, so a
// request of 2,000 series costs a handful of allocations instead of 30,000.
// It accepts and refuses exactly what prompb.WriteRequest.Unmarshal does
// (FuzzRemoteWriteDecoder checks it against that), and the body must not be
// changed until the PushRequest is done.
//
// Field numbers (prompb/remote.proto, types.proto):
//
//	WriteRequest  1 timeseries (message), 3 metadata (message)
//	TimeSeries    1 labels, 2 samples, 3 exemplars, 4 histograms (messages)
//	Label         1 name, 2 value (strings)
//	Sample        1 value (double), 2 timestamp (int64 varint)

// Wire types.
const (
	pbVarint  = 0
	pbFixed64 = 1
	pbBytes   = 2
	pbFixed32 = 5
)

var (
	errPBOverflow = errors.New("proto: integer overflow")
	errPBLength   = errors.New("proto: negative length found during unmarshaling")
	errPBEndGroup = errors.New("proto: unexpected end of group")
)

// pbUvarint decodes a varint at b[i:] as gogo does: at most ten bytes, the
// excess bits of a tenth byte dropped.
func pbUvarint(b []byte, i int) (uint64, int, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 {
			return 0, i, errPBOverflow
		}
		if i >= len(b) {
			return 0, i, io.ErrUnexpectedEOF
		}
		c := b[i]
		i++
		v |= uint64(c&0x7F) << shift
		if c < 0x80 {
			return v, i, nil
		}
	}
}

// pbTag decodes a field tag at b[i:]. The field number is truncated to
// int32, as gogo does.
func pbTag(b []byte, i int, msg string) (field int32, wire int, next int, err error) {
	v, next, err := pbUvarint(b, i)
	if err != nil {
		return 0, 0, next, err
	}
	field, wire = int32(v>>3), int(v&7)
	if wire == 4 {
		return 0, 0, next, fmt.Errorf("proto: %s: wiretype end group for non-group", msg)
	}
	if field <= 0 {
		return 0, 0, next, fmt.Errorf("proto: %s: illegal tag %d (wire type %d)", msg, field, v)
	}
	return field, wire, next, nil
}

// pbBytesField returns the end of the length-delimited field whose length
// starts at b[i:], checked against b.
func pbBytesField(b []byte, i int) (start, end int, err error) {
	v, i, err := pbUvarint(b, i)
	if err != nil {
		return 0, i, err
	}
	n := int(v)
	if n < 0 || i+n < 0 {
		return 0, i, errPBLength
	}
	if i+n > len(b) {
		return 0, i, io.ErrUnexpectedEOF
	}
	return i, i + n, nil
}

// pbSkip skips the field whose tag starts at b[i:] (groups included), as
// gogo's skip functions do, and returns the position after it.
func pbSkip(b []byte, i int) (int, error) {
	depth := 0
	for i < len(b) {
		v, next, err := pbUvarint(b, i)
		if err != nil {
			return 0, err
		}
		i = next
		switch v & 7 {
		case pbVarint:
			if _, i, err = pbUvarint(b, i); err != nil {
				return 0, err
			}
		case pbFixed64:
			i += 8
		case pbBytes:
			v, next, err := pbUvarint(b, i)
			if err != nil {
				return 0, err
			}
			if int(v) < 0 {
				return 0, errPBLength
			}
			i = next + int(v)
		case 3:
			depth++
		case 4:
			if depth == 0 {
				return 0, errPBEndGroup
			}
			depth--
		case pbFixed32:
			i += 4
		default:
			return 0, fmt.Errorf("proto: illegal wireType %d", v&7)
		}
		if i < 0 {
			return 0, errPBLength
		}
		if depth == 0 {
			if i > len(b) {
				return 0, io.ErrUnexpectedEOF
			}
			return i, nil
		}
	}
	return 0, io.ErrUnexpectedEOF
}

// rwDecoder is the state of decoding one request. Decoders are pooled: a
// request's PushRequest.done returns its decoder, arenas and all.
type rwDecoder struct {
	perValue int
	req      *PushRequest
	metadata []prompb.MetricMetadata
	total    int   // samples so far
	refused  error // the first series refused; the body is still checked to its end

	// The series being decoded.
	labels     Labels // a sub-slice of labelArena
	samples    []MetricSample
	histograms bool

	streams    []Stream
	labelArena []Label
	entryArena []Entry
	valueArena []byte
	plain      []byte // the body, when the decoder decompressed it
}

var rwDecoders = sync.Pool{New: func() any { return new(rwDecoder) }}

// rwMaxPooledLabels bounds the label arena of a pooled decoder (a request of
// about 100,000 series); decoders that needed more are dropped.
const rwMaxPooledLabels = 1 << 19

// decodeRemoteWrite decodes an uncompressed prompb.WriteRequest into one
// stream per series in the metrics topic, each entry a sample value of at most
// perValue samples. The streams' label strings point into body.
func decodeRemoteWrite(body []byte, perValue int) (*PushRequest, error) {
	return rwDecoders.Get().(*rwDecoder).decode(body, perValue)
}

// decode decodes body. On an error the decoder goes back to its pool.
func (d *rwDecoder) decode(body []byte, perValue int) (*PushRequest, error) {
	d.perValue, d.total, d.refused, d.metadata = perValue, 0, nil, nil
	req := &PushRequest{Topic: topics.TopicMetrics, Binary: true}
	req.done = func() {
		if d.req == req { // not freed already, and not reused for another request since
			d.free()
		}
	}
	d.req = req
	// Size the arenas for the usual request: one sample and a few labels
	// per series. They grow when that is not enough.
	n := rwCountSeries(body)
	d.req.Streams = reuse(d.streams, n)
	d.labelArena = reuse(d.labelArena, 4*n)
	d.entryArena = reuse(d.entryArena, n)
	d.valueArena = reuse(d.valueArena, (rwValueHeaderMax+rwSampleMax)*n)
	err := d.request(body)
	if err != nil {
		err = BadRequest("remote_write body is not a protobuf WriteRequest: %v", err)
	} else {
		err = d.refused
	}
	if err != nil {
		d.free()
		return nil, err
	}
	d.req.Streams = append(d.req.Streams, rwMetadataStreams(d.metadata)...)
	return d.req, nil
}

// reuse returns s emptied when it can hold n, else a new slice that can.
func reuse[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:0]
	}
	return make([]T, 0, n)
}

// free drops what the decoder refers to and puts it back in its pool.
func (d *rwDecoder) free() {
	if d.req == nil {
		return // freed already
	}
	d.streams = d.req.Streams[:0]
	clear(d.req.Streams[:cap(d.req.Streams)])
	clear(d.labelArena[:cap(d.labelArena)])
	clear(d.entryArena[:cap(d.entryArena)])
	d.req, d.metadata, d.refused, d.labels = nil, nil, nil, nil
	if cap(d.labelArena) <= rwMaxPooledLabels && cap(d.plain) <= maxPooledSnappy {
		rwDecoders.Put(d)
	}
}

// rwCountSeries counts the series of a request, up to its first syntax
// error (which decoding then reports).
func rwCountSeries(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		field, wire, next, err := pbTag(b, i, "WriteRequest")
		if err != nil || wire != pbBytes {
			return n
		}
		_, end, err := pbBytesField(b, next)
		if err != nil {
			return n
		}
		if field == 1 {
			n++
		}
		i = end
	}
	return n
}

func (d *rwDecoder) request(b []byte) error {
	for i := 0; i < len(b); {
		field, wire, next, err := pbTag(b, i, "WriteRequest")
		if err != nil {
			return err
		}
		switch field {
		case 1, 3:
			if wire != pbBytes {
				return fmt.Errorf("proto: wrong wireType = %d for field %s", wire, map[int32]string{1: "Timeseries", 3: "Metadata"}[field])
			}
			start, end, err := pbBytesField(b, next)
			if err != nil {
				return err
			}
			if field == 1 {
				err = d.series(b[start:end])
			} else {
				var m prompb.MetricMetadata
				err = m.Unmarshal(b[start:end])
				d.metadata = append(d.metadata, m)
			}
			if err != nil {
				return err
			}
			i = end
		default:
			if i, err = pbSkip(b, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// series decodes one TimeSeries and, unless a series was refused already,
// adds its stream.
func (d *rwDecoder) series(b []byte) error {
	d.labels = d.labelArena[len(d.labelArena):len(d.labelArena)]
	d.samples = d.samples[:0]
	d.histograms = false
	for i := 0; i < len(b); {
		field, wire, next, err := pbTag(b, i, "TimeSeries")
		if err != nil {
			return err
		}
		if field > 4 {
			if i, err = pbSkip(b, i); err != nil {
				return err
			}
			continue
		}
		if wire != pbBytes {
			return fmt.Errorf("proto: wrong wireType = %d for field %s", wire, [...]string{"", "Labels", "Samples", "Exemplars", "Histograms"}[field])
		}
		start, end, err := pbBytesField(b, next)
		if err != nil {
			return err
		}
		msg := b[start:end]
		switch field {
		case 1:
			err = d.label(msg)
		case 2:
			err = d.sample(msg)
		case 3:
			err = (&prompb.Exemplar{}).Unmarshal(msg) // checked, not stored
		case 4:
			d.histograms = true
			err = (&prompb.Histogram{}).Unmarshal(msg)
		}
		if err != nil {
			return err
		}
		i = end
	}
	d.labelArena = d.labelArena[:len(d.labelArena)+len(d.labels)]
	if d.refused == nil {
		d.refused = d.addSeries()
	}
	return nil
}

// label decodes one Label into d.labels.
func (d *rwDecoder) label(b []byte) error {
	var name, value string
	for i := 0; i < len(b); {
		field, wire, next, err := pbTag(b, i, "Label")
		if err != nil {
			return err
		}
		if field > 2 {
			if i, err = pbSkip(b, i); err != nil {
				return err
			}
			continue
		}
		if wire != pbBytes {
			return fmt.Errorf("proto: wrong wireType = %d for field %s", wire, [...]string{"", "Name", "Value"}[field])
		}
		start, end, err := pbBytesField(b, next)
		if err != nil {
			return err
		}
		s := unsafe.String(unsafe.SliceData(b[start:end]), end-start)
		if field == 1 {
			name = s
		} else {
			value = s
		}
		i = end
	}
	if len(d.labels) == cap(d.labels) {
		// The arena is full: move this series' labels to a new one. Earlier
		// series keep pointing into the old one.
		arena := make([]Label, len(d.labels), max(64, 2*cap(d.labelArena)))
		copy(arena, d.labels)
		d.labelArena, d.labels = arena[:0], arena[:len(d.labels)]
	}
	d.labels = append(d.labels, Label{Name: name, Value: value})
	return nil
}

// sample decodes one Sample into d.samples.
func (d *rwDecoder) sample(b []byte) error {
	var s MetricSample
	for i := 0; i < len(b); {
		field, wire, next, err := pbTag(b, i, "Sample")
		if err != nil {
			return err
		}
		switch {
		case field == 1 && wire != pbFixed64:
			return fmt.Errorf("proto: wrong wireType = %d for field Value", wire)
		case field == 1:
			if next+8 > len(b) {
				return io.ErrUnexpectedEOF
			}
			s.V = math.Float64frombits(binary.LittleEndian.Uint64(b[next:]))
			i = next + 8
		case field == 2 && wire != pbVarint:
			return fmt.Errorf("proto: wrong wireType = %d for field Timestamp", wire)
		case field == 2:
			v, next, err := pbUvarint(b, next)
			if err != nil {
				return err
			}
			s.T, i = int64(v), next
		default:
			if i, err = pbSkip(b, i); err != nil {
				return err
			}
		}
	}
	d.samples = append(d.samples, s)
	return nil
}

// addSeries checks the series just decoded and adds its stream: labels
// without empty values, samples in values of at most perValue.
func (d *rwDecoder) addSeries() error {
	ls := d.labels[:0]
	named := false
	for _, l := range d.labels {
		if l.Value == "" {
			continue
		}
		named = named || l.Name == "__name__"
		ls = append(ls, l)
	}
	ls = ls[:len(ls):len(ls)]
	switch {
	case !named:
		return BadRequest("series %.200s has no metric name (__name__ label)", ls)
	case d.histograms:
		return BadRequest("series %.200s carries native histograms, which silt does not store yet: set send_native_histograms: false in the remote_write config", ls)
	}
	if d.total += len(d.samples); d.total > rwMaxSamplesPerRequest {
		return Errorf(http.StatusRequestEntityTooLarge, ReasonRequestTooBig,
			"request has over %d samples: lower max_samples_per_send in the remote_write queue_config", rwMaxSamplesPerRequest)
	}
	if len(d.samples) == 0 {
		return nil // exemplars only: not stored
	}
	if err := checkSampleTimes(ls, d.samples); err != nil {
		return err
	}
	values := (len(d.samples) + d.perValue - 1) / d.perValue
	if cap(d.entryArena)-len(d.entryArena) < values {
		d.entryArena = make([]Entry, 0, max(values, 2*cap(d.entryArena)))
	}
	entries := d.entryArena[len(d.entryArena) : len(d.entryArena)+values : len(d.entryArena)+values]
	d.entryArena = d.entryArena[:len(d.entryArena)+values]
	for i, chunk := 0, d.samples; len(chunk) > 0; i++ {
		n := min(len(chunk), d.perValue)
		entries[i] = Entry{Timestamp: chunk[0].T * 1e6, Line: d.value(chunk[:n])}
		chunk = chunk[n:]
	}
	d.req.Streams = append(d.req.Streams, Stream{Labels: ls, Entries: entries})
	return nil
}

// value encodes samples into the value arena and returns them as a string
// that shares the arena's bytes (they are never written again).
func (d *rwDecoder) value(samples []MetricSample) string {
	if need := rwValueHeaderMax + rwSampleMax*len(samples); cap(d.valueArena)-len(d.valueArena) < need {
		d.valueArena = make([]byte, 0, max(need, 2*cap(d.valueArena), 4096))
	}
	start := len(d.valueArena)
	d.valueArena = AppendSamples(d.valueArena, samples)
	v := d.valueArena[start:]
	return unsafe.String(unsafe.SliceData(v), len(v))
}
