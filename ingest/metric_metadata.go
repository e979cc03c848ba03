package ingest

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/prometheus/prompb"
)

// Metric metadata records (value version 2 in FORMAT.md): the type, unit and
// help of a metric family, as remote_write and OTLP send them.

// MetadataValueVersion is the first byte of a metric-metadata record value.
const MetadataValueVersion = 2

// metadataMaxText bounds help and unit so a metadata record always fits
// the line-size limit.
const metadataMaxText = 1024

// MetricTypes are the metric type names of the Prometheus API, indexed by
// their byte in a metadata value (prompb.MetricMetadata_MetricType's numbering).
var MetricTypes = []string{"unknown", "counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset"}

// MetricMetadata is what a sender says about one metric family.
type MetricMetadata struct {
	Type string // one of MetricTypes
	Unit string
	Help string
}

// AppendMetadata appends the record value of m (FORMAT.md) to dst. An unknown
// type is stored as "unknown".
func AppendMetadata(dst []byte, m MetricMetadata) []byte {
	t := 0
	for i, name := range MetricTypes {
		if name == m.Type {
			t = i
		}
	}
	dst = append(dst, MetadataValueVersion, byte(t))
	dst = binary.AppendUvarint(dst, uint64(len(m.Unit)))
	dst = append(dst, m.Unit...)
	dst = binary.AppendUvarint(dst, uint64(len(m.Help)))
	return append(dst, m.Help...)
}

// DecodeMetadata decodes a metadata record value (FORMAT.md).
func DecodeMetadata(value []byte) (MetricMetadata, error) {
	if len(value) < 2 {
		return MetricMetadata{}, fmt.Errorf("metadata value: %d bytes, want at least 2", len(value))
	}
	if value[0] != MetadataValueVersion {
		return MetricMetadata{}, fmt.Errorf("metadata value: unknown version %d at byte 0", value[0])
	}
	if int(value[1]) >= len(MetricTypes) {
		return MetricMetadata{}, fmt.Errorf("metadata value: unknown metric type %d at byte 1", value[1])
	}
	m := MetricMetadata{Type: MetricTypes[value[1]]}
	pos := 2
	for _, field := range []*string{&m.Unit, &m.Help} {
		n, k := binary.Uvarint(value[pos:])
		if k <= 0 || n > uint64(len(value)-pos-k) {
			return MetricMetadata{}, fmt.Errorf("metadata value: bad length at byte %d", pos)
		}
		pos += k
		*field = string(value[pos : pos+int(n)])
		pos += int(n)
	}
	if pos != len(value) {
		return MetricMetadata{}, fmt.Errorf("metadata value: %d trailing bytes at byte %d", len(value)-pos, pos)
	}
	return m, nil
}

// metadataText makes help or unit text storable: valid UTF-8, at most
// metadataMaxText bytes (cut at a rune boundary).
func metadataText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= metadataMaxText {
		return s
	}
	cut := metadataMaxText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// MetadataStream is the stream of one metric family's metadata record: its
// key is {__name__="<family>"}, so it lands in the partition of the family's
// label-less series.
func MetadataStream(family string, m MetricMetadata, ts int64) Stream {
	m.Help, m.Unit = metadataText(m.Help), metadataText(m.Unit)
	return Stream{
		Labels:  Labels{{Name: "__name__", Value: family}},
		Entries: []Entry{{Timestamp: ts, Line: string(AppendMetadata(nil, m))}},
	}
}

// rwMetadataStreams turns remote_write metadata into metadata streams; entries
// without a family name are dropped.
func rwMetadataStreams(md []prompb.MetricMetadata) []Stream {
	var out []Stream
	for _, m := range md {
		if m.MetricFamilyName == "" {
			continue
		}
		t := "unknown"
		if int(m.Type) >= 0 && int(m.Type) < len(MetricTypes) {
			t = MetricTypes[m.Type]
		}
		out = append(out, MetadataStream(m.MetricFamilyName, MetricMetadata{Type: t, Unit: m.Unit, Help: m.Help}, 0))
	}
	return out
}
