package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// The series bench client runs on the machine it measures, so it must cost
// little: every batch of series is marshalled once, and a request only
// patches the sample timestamps and values in a copy of that template and
// snappy-compresses it.

// seriesTemplate is one batch of series marshalled as a WriteRequest, with
// where each sample's timestamp varint and float are.
type seriesTemplate struct {
	raw    []byte
	tsLen  int   // bytes of every timestamp varint
	tsAt   []int // offsets of the timestamp varints
	valAt  []int // offsets of the little-endian float64 values
	series []int // the series number of each sample
}

// seriesLabels are the labels of series k of the bench.
func seriesLabels(k int) []prompb.Label {
	return []prompb.Label{
		{Name: "__name__", Value: benchSeriesMetric},
		{Name: "instance", Value: fmt.Sprintf("inst-%d", k/100)},
		{Name: "job", Value: fmt.Sprintf("job-%d", k%10)},
		{Name: "series", Value: strconv.Itoa(k)},
	}
}

// newSeriesTemplate marshals series lo to hi-1 with one sample each at ts
// (ms) and finds the samples in the bytes.
func newSeriesTemplate(lo, hi int, ts int64) (*seriesTemplate, error) {
	t := &seriesTemplate{tsLen: varintLen(uint64(ts))}
	req := prompb.WriteRequest{Timeseries: make([]prompb.TimeSeries, 0, hi-lo)}
	for k := lo; k < hi; k++ {
		// A value whose bits are unlikely elsewhere; it is found, not assumed.
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{Labels: seriesLabels(k),
			Samples: []prompb.Sample{{Timestamp: ts, Value: math.Float64frombits(0x7ff8dead0000beef)}}})
		t.series = append(t.series, k)
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	t.raw = raw
	// Each series ends with its one sample: 0x12 len 0x09 <8 value bytes>
	// 0x10 <timestamp varint>.
	end := 0
	for i := range req.Timeseries {
		end += sizeWithTag(req.Timeseries[i].Size())
		valAt, tsAt := end-t.tsLen-1-8, end-t.tsLen
		if raw[valAt-1] != 0x09 || raw[tsAt-1] != 0x10 || binary.LittleEndian.Uint64(raw[valAt:]) != 0x7ff8dead0000beef {
			return nil, fmt.Errorf("series %d: sample not where expected in the marshalled request", lo+i)
		}
		t.valAt, t.tsAt = append(t.valAt, valAt), append(t.tsAt, tsAt)
	}
	return t, nil
}

// encode writes the request of round at ts (ms) into raw's spare capacity
// and its snappy block into body's, or returns ok false when ts has another
// varint length than the template's.
func (t *seriesTemplate) encode(raw, body []byte, round int, ts int64) (rawOut, bodyOut []byte, ok bool) {
	if varintLen(uint64(ts)) != t.tsLen {
		return raw, body, false
	}
	raw = append(raw[:0], t.raw...)
	var tsBytes [binary.MaxVarintLen64]byte
	binary.PutUvarint(tsBytes[:], uint64(ts))
	for i, k := range t.series {
		copy(raw[t.tsAt[i]:], tsBytes[:t.tsLen])
		binary.LittleEndian.PutUint64(raw[t.valAt[i]:], math.Float64bits(float64(round*(k%7+1))))
	}
	return raw, snappy.Encode(body[:cap(body)], raw), true
}

// sizeWithTag is the bytes of a length-delimited field 1..15 of n bytes.
func sizeWithTag(n int) int { return 1 + varintLen(uint64(n)) + n }

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
