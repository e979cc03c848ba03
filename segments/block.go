package segments

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The columns of a block, in their order inside the block (FORMAT.md).
const (
	colAttrs = iota
	colTimeDeltas
	colNsRemainders
	colKeyLens
	colHeaderCounts
	colHeaderKeyLens
	colHeaderValueLens
	colValueLens
	colKeys
	colHeaderKeys
	colHeaderValues
	colValues
	numColumns
)

// blockEncoder lays batches out by column. Reset it between blocks.
type blockEncoder struct {
	meta     []byte
	nBatches int
	nRecords int
	cols     [numColumns][]byte
	prevTs   int64 // ms of the previous batch's first record or previous record
	it       recordIter
}

func (e *blockEncoder) reset() {
	e.meta = e.meta[:0]
	e.nBatches, e.nRecords, e.prevTs = 0, 0, 0
	for i := range e.cols {
		e.cols[i] = e.cols[i][:0]
	}
}

// add appends one whole, valid batch.
func (e *blockEncoder) add(b batchView, opaque bool) {
	m := e.meta
	m = binary.AppendUvarint(m, uint64(b.lastOffsetDelta())+1)
	m = binary.AppendVarint(m, int64(b.leaderEpoch()))
	m = binary.AppendUvarint(m, uint64(uint16(b.attributes())))
	m = binary.AppendVarint(m, int64(binary.BigEndian.Uint64(b[43:])))
	m = binary.AppendVarint(m, int64(int16(binary.BigEndian.Uint16(b[51:]))))
	m = binary.AppendVarint(m, int64(int32(binary.BigEndian.Uint32(b[53:]))))
	first := b.firstTimestamp()
	m = binary.AppendVarint(m, first-e.prevTs)
	m = binary.AppendVarint(m, b.maxTimestamp()-first)
	m = binary.AppendUvarint(m, uint64(b.recordCount()))
	e.prevTs = first
	if opaque || b.opaque() {
		m = append(m, 1)
		m = binary.AppendUvarint(m, uint64(len(b)-batchHeaderSize))
		m = append(m, b[batchHeaderSize:]...)
	} else {
		m = append(m, 0)
		e.addRecords(b, first)
	}
	e.meta = m
	e.nBatches++
}

func (e *blockEncoder) addRecords(b batchView, first int64) {
	c := &e.cols
	prev := first
	e.it.reset(b)
	for e.it.next() {
		r := &e.it.rec
		ms := first + r.TimestampDelta64
		headers := r.Headers
		var rem int64
		if len(headers) > 0 && headers[0].Key == nsHeaderKey {
			if v, ok := decodeNsRemainder(headers[0].Value); ok {
				rem, headers = v, headers[1:]
			}
		}
		c[colAttrs] = append(c[colAttrs], byte(r.Attributes))
		c[colTimeDeltas] = binary.AppendVarint(c[colTimeDeltas], ms-prev)
		c[colNsRemainders] = binary.AppendUvarint(c[colNsRemainders], uint64(rem))
		c[colKeyLens] = appendLen(c[colKeyLens], r.Key)
		c[colKeys] = append(c[colKeys], r.Key...)
		c[colHeaderCounts] = binary.AppendUvarint(c[colHeaderCounts], uint64(len(headers)))
		for _, h := range headers {
			c[colHeaderKeyLens] = binary.AppendUvarint(c[colHeaderKeyLens], uint64(len(h.Key)))
			c[colHeaderKeys] = append(c[colHeaderKeys], h.Key...)
			c[colHeaderValueLens] = appendLen(c[colHeaderValueLens], h.Value)
			c[colHeaderValues] = append(c[colHeaderValues], h.Value...)
		}
		c[colValueLens] = appendLen(c[colValueLens], r.Value)
		c[colValues] = append(c[colValues], r.Value...)
		prev = ms
		e.nRecords++
	}
}

func appendLen(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	return binary.AppendVarint(dst, int64(len(b)))
}

// appendTo appends the encoded block.
func (e *blockEncoder) appendTo(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(e.nBatches))
	dst = append(dst, e.meta...)
	dst = binary.AppendUvarint(dst, uint64(e.nRecords))
	for _, col := range e.cols {
		dst = binary.AppendUvarint(dst, uint64(len(col)))
		dst = append(dst, col...)
	}
	return dst
}

var errBadBlock = errors.New("bad block")

// blockReader reads an encoded block back.
type blockReader struct {
	src  []byte
	err  error
	cols [numColumns][]byte
}

func (r *blockReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.src)
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.src = r.src[n:]
	return v
}

func (r *blockReader) varint() int64 {
	v, n := binary.Varint(r.src)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.src = r.src[n:]
	return v
}

func (r *blockReader) bytes(n uint64) []byte {
	if n > uint64(len(r.src)) {
		r.fail("length")
		return nil
	}
	b := r.src[:n]
	r.src = r.src[n:]
	return b
}

func (r *blockReader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errBadBlock, what)
	}
	r.src = nil
}

// decodeBlock rebuilds the batches of a block based at base, appending them to dst.
func decodeBlock(dst, src []byte, base int64) ([]byte, error) {
	r := &blockReader{src: src}
	nBatches := r.uvarint()
	if nBatches > uint64(len(src)) {
		return dst, fmt.Errorf("%w: %d batches", errBadBlock, nBatches)
	}
	type batchMeta struct {
		hdr    kmsg.RecordBatch
		opaque []byte
		plain  bool
	}
	metas := make([]batchMeta, nBatches)
	prevTs := int64(0)
	for i := range metas {
		m := &metas[i]
		m.hdr.LastOffsetDelta = int32(r.uvarint() - 1)
		m.hdr.PartitionLeaderEpoch = int32(r.varint())
		m.hdr.Attributes = int16(r.uvarint())
		m.hdr.ProducerID = r.varint()
		m.hdr.ProducerEpoch = int16(r.varint())
		m.hdr.FirstSequence = int32(r.varint())
		m.hdr.FirstTimestamp = prevTs + r.varint()
		m.hdr.MaxTimestamp = m.hdr.FirstTimestamp + r.varint()
		m.hdr.NumRecords = int32(r.uvarint())
		prevTs = m.hdr.FirstTimestamp
		if kind := r.bytes(1); len(kind) == 1 && kind[0] == 1 {
			m.opaque = r.bytes(r.uvarint())
		} else {
			m.plain = true
		}
	}
	r.uvarint() // record count: implied by the batches
	for i := range r.cols {
		r.cols[i] = r.bytes(r.uvarint())
	}
	if r.err != nil {
		return dst, r.err
	}
	cr := &columnReader{cols: r.cols}
	next := base
	for i := range metas {
		m := &metas[i]
		m.hdr.FirstOffset = next
		m.hdr.Magic = batchMagic
		start := len(dst)
		dst = m.hdr.AppendTo(dst)
		if m.plain {
			dst = cr.appendRecords(dst, m.hdr.NumRecords, m.hdr.FirstTimestamp)
		} else {
			dst = append(dst, m.opaque...)
		}
		if cr.err != nil {
			return dst[:start], cr.err
		}
		b := batchView(dst[start:])
		binary.BigEndian.PutUint32(b[posBatchLength:], uint32(len(b)-batchLengthAdjust))
		binary.BigEndian.PutUint32(b[posCRC:], crc32.Checksum(b[posAttributes:], castagnoli))
		next = b.nextOffset()
	}
	return dst, nil
}

// columnReader consumes record columns in step.
type columnReader struct {
	cols    [numColumns][]byte
	rec     kmsg.Record
	headers []Header
	ns      [binary.MaxVarintLen64]byte
	err     error
}

func (c *columnReader) uvarint(col int) uint64 {
	v, n := binary.Uvarint(c.cols[col])
	if n <= 0 {
		c.err = fmt.Errorf("%w: column %d", errBadBlock, col)
		return 0
	}
	c.cols[col] = c.cols[col][n:]
	return v
}

func (c *columnReader) varint(col int) int64 {
	v, n := binary.Varint(c.cols[col])
	if n <= 0 {
		c.err = fmt.Errorf("%w: column %d", errBadBlock, col)
		return 0
	}
	c.cols[col] = c.cols[col][n:]
	return v
}

// take returns the next field of a bytes column given its length column (-1 = nil).
func (c *columnReader) take(lenCol, col int) []byte {
	n := c.varint(lenCol)
	if n < 0 || c.err != nil {
		return nil
	}
	if n > int64(len(c.cols[col])) {
		c.err = fmt.Errorf("%w: column %d short", errBadBlock, col)
		return nil
	}
	b := c.cols[col][:n:n]
	c.cols[col] = c.cols[col][n:]
	return b
}

func (c *columnReader) appendRecords(dst []byte, n int32, first int64) []byte {
	prev := first
	for i := int32(0); i < n && c.err == nil; i++ {
		if len(c.cols[colAttrs]) == 0 {
			c.err = fmt.Errorf("%w: attributes column short", errBadBlock)
			break
		}
		c.rec.Attributes = int8(c.cols[colAttrs][0])
		c.cols[colAttrs] = c.cols[colAttrs][1:]
		ms := prev + c.varint(colTimeDeltas)
		prev = ms
		c.rec.TimestampDelta64 = ms - first
		c.rec.OffsetDelta = i
		rem := c.uvarint(colNsRemainders)
		c.rec.Key = c.take(colKeyLens, colKeys)
		c.headers = c.headers[:0]
		if rem != 0 {
			c.headers = append(c.headers, Header{Key: nsHeaderKey, Value: binary.AppendUvarint(c.ns[:0], rem)})
		}
		for h := c.uvarint(colHeaderCounts); h > 0 && c.err == nil; h-- {
			k := c.bytesN(colHeaderKeys, c.uvarint(colHeaderKeyLens))
			c.headers = append(c.headers, Header{Key: string(k), Value: c.take(colHeaderValueLens, colHeaderValues)})
		}
		c.rec.Headers = c.headers
		c.rec.Value = c.take(colValueLens, colValues)
		c.rec.Length = int32(recordBodyLen(&c.rec))
		dst = c.rec.AppendTo(dst)
	}
	return dst
}

func (c *columnReader) bytesN(col int, n uint64) []byte {
	if n > uint64(len(c.cols[col])) {
		c.err = fmt.Errorf("%w: column %d short", errBadBlock, col)
		return nil
	}
	b := c.cols[col][:n]
	c.cols[col] = c.cols[col][n:]
	return b
}

// encodeBlockExact encodes batches (concatenated, based at base) and proves the
// encoding rebuilds them byte for byte; when it does not (a batch with bytes the
// columns cannot express), every batch is stored opaque instead.
func encodeBlockExact(e *blockEncoder, dst, batches []byte, base int64) ([]byte, error) {
	for _, opaque := range []bool{false, true} {
		e.reset()
		for p := batches; len(p) > 0; {
			n, err := peekBatchLength(p)
			if err != nil || n > len(p) {
				return dst, fmt.Errorf("encode block: %w", ErrInvalidBatch)
			}
			e.add(batchView(p[:n]), opaque)
			p = p[n:]
		}
		start := len(dst)
		dst = e.appendTo(dst)
		back, err := decodeBlock(nil, dst[start:], base)
		if err == nil && bytes.Equal(back, batches) {
			return dst, nil
		}
		dst = dst[:start]
	}
	return dst, fmt.Errorf("encode block at offset %d: %w: no exact encoding", base, errBadBlock)
}
