package segments

import (
	"sort"
)

// blockView is a decompressed warm block with every record's fields located,
// so that a scan jumps to the records it needs: a needle is searched in the
// value column of the scanned range at once, and only the records holding a
// match are decoded. It is immutable once built, and what the block cache
// keeps.
type blockView struct {
	raw  []byte
	base int64
	// next is the offset after the block's last batch.
	next int64
	// rebuild: the block holds a compressed producer batch, whose records
	// are not in the columns; it is scanned through rebuilt batches.
	rebuild bool
	offs    []int64 // record offsets, ascending (control batches hold none)
	ts      []int64
	key     []span
	val     []span // contiguous and in order in the value column
	hdr     []hdrCursor
}

// span is raw[from:to]; from > to means nil.
type span struct{ from, to uint32 }

var nilSpan = span{1, 0}

// hdrCursor is where a record's headers start in the header columns.
type hdrCursor struct {
	count                          uint32
	keyLens, keys, valLens, values uint32
}

// viewOverhead is the memory a view adds per record, for the cache's budget.
const viewOverhead = 8 + 8 + 8 + 8 + 20

// size is the memory the view holds.
func (v *blockView) size() int64 { return int64(len(v.raw)) + int64(len(v.offs))*viewOverhead }

// newBlockView parses a decompressed block based at base.
func newBlockView(raw []byte, base int64) (*blockView, error) {
	batches, cr, err := parseBlock(raw)
	if err != nil {
		return nil, err
	}
	v := &blockView{raw: raw, base: base, next: base}
	for _, b := range batches {
		v.next += int64(b.lastOffsetDelta) + 1
		if b.opaque && b.attributes&attrControl == 0 {
			v.rebuild = true
		}
	}
	if v.rebuild {
		return v, nil
	}
	pos := func(col int) uint32 { return uint32(cap(raw) - cap(cr.cols[col])) }
	next := base
	for _, b := range batches {
		batchBase := next
		next += int64(b.lastOffsetDelta) + 1
		if b.opaque {
			continue
		}
		prev := b.firstTs
		for j := int32(0); j < b.records && cr.err == nil; j++ {
			v.locate(cr, pos, batchBase+int64(j), &prev)
		}
	}
	if cr.err != nil {
		return nil, cr.err
	}
	return v, nil
}

// locate reads one record's fields from the columns and records where they are.
func (v *blockView) locate(cr *columnReader, pos func(int) uint32, off int64, prev *int64) {
	if len(cr.cols[colAttrs]) == 0 {
		cr.err = errBadBlock
		return
	}
	cr.cols[colAttrs] = cr.cols[colAttrs][1:]
	*prev += cr.varint(colTimeDeltas)
	ts := *prev*1e6 + int64(cr.uvarint(colNsRemainders))
	keyAt := pos(colKeys)
	key := cr.take(colKeyLens, colKeys)
	valAt := pos(colValues)
	val := cr.take(colValueLens, colValues)
	h := hdrCursor{keyLens: pos(colHeaderKeyLens), keys: pos(colHeaderKeys), valLens: pos(colHeaderValueLens), values: pos(colHeaderValues)}
	h.count = uint32(cr.uvarint(colHeaderCounts))
	for i := h.count; i > 0 && cr.err == nil; i-- {
		cr.bytesN(colHeaderKeys, cr.uvarint(colHeaderKeyLens))
		cr.take(colHeaderValueLens, colHeaderValues)
	}
	v.offs = append(v.offs, off)
	v.ts = append(v.ts, ts)
	v.key = append(v.key, spanOf(key, keyAt))
	v.val = append(v.val, spanOf(val, valAt))
	v.hdr = append(v.hdr, h)
}

func spanOf(b []byte, at uint32) span {
	if b == nil {
		return nilSpan
	}
	return span{at, at + uint32(len(b))}
}

func (v *blockView) bytes(s span) []byte {
	if s.from > s.to {
		return nil
	}
	return v.raw[s.from:s.to:s.to]
}

// record fills r with record i; its headers reuse hdrs.
func (v *blockView) record(i int, r *Record, hdrs []Header) []Header {
	r.Offset, r.Timestamp = v.offs[i], v.ts[i]
	r.Key, r.Value = v.bytes(v.key[i]), v.bytes(v.val[i])
	hdrs = hdrs[:0]
	if h := v.hdr[i]; h.count > 0 {
		c := columnReader{}
		c.cols[colHeaderKeyLens] = v.raw[h.keyLens:]
		c.cols[colHeaderKeys] = v.raw[h.keys:]
		c.cols[colHeaderValueLens] = v.raw[h.valLens:]
		c.cols[colHeaderValues] = v.raw[h.values:]
		for n := h.count; n > 0; n-- {
			k := c.bytesN(colHeaderKeys, c.uvarint(colHeaderKeyLens))
			hdrs = append(hdrs, Header{Key: string(k), Value: c.take(colHeaderValueLens, colHeaderValues)})
		}
	}
	r.Headers = hdrs
	if len(hdrs) == 0 {
		r.Headers = nil
	}
	return hdrs
}

// scan calls fn for the records in [from, end) whose value contains needle
// (all of them for an empty needle). It returns the offset to go on from and
// stop when fn asked to stop or failed.
func (v *blockView) scan(from, end int64, needle []byte, fn func(r *Record) error) (int64, bool, error) {
	if v.rebuild {
		return scanRebuilt(v.raw, v.base, from, end, fn)
	}
	lo := sort.Search(len(v.offs), func(i int) bool { return v.offs[i] >= from })
	hi := sort.Search(len(v.offs), func(i int) bool { return v.offs[i] >= end })
	var r Record
	var hdrs []Header
	emit := func(i int) (int64, bool, error) {
		hdrs = v.record(i, &r, hdrs)
		if err := fn(&r); err != nil {
			return stopped(&r, err)
		}
		return 0, false, nil
	}
	if len(needle) == 0 {
		for i := lo; i < hi; i++ {
			if next, stop, err := emit(i); stop {
				return next, true, err
			}
		}
	} else if lo < hi {
		for i := lo; i < hi; {
			i = v.nextMatch(i, hi, needle)
			if i == hi {
				break
			}
			if next, stop, err := emit(i); stop {
				return next, true, err
			}
			i++
		}
	}
	return max(from, min(v.next, end)), false, nil
}

// nextMatch returns the first record in [i, hi) whose value contains needle,
// or hi: it searches the value column from record i's value on.
func (v *blockView) nextMatch(i, hi int, needle []byte) int {
	for i < hi {
		at, stop := v.valueStart(i), v.valueEnd(hi-1)
		if at >= stop {
			return hi
		}
		k := indexRare(v.raw[at:stop], needle)
		if k < 0 {
			return hi
		}
		p := at + uint32(k)
		// The record whose value holds p: the last one starting at or before it.
		j := i + sort.Search(hi-i, func(j int) bool { return v.valueStart(i+j) > p }) - 1
		if end := v.valueEnd(j); p+uint32(len(needle)) <= end {
			return j
		}
		i = j + 1 // the match straddles two values: go on after it
	}
	return hi
}

// valueStart and valueEnd are record i's value bounds in the value column (a
// nil value is empty, at the next value's position).
func (v *blockView) valueStart(i int) uint32 {
	if s := v.val[i]; s.from <= s.to {
		return s.from
	}
	return v.valueEnd(i)
}

func (v *blockView) valueEnd(i int) uint32 {
	for ; i >= 0; i-- {
		if s := v.val[i]; s.from <= s.to {
			return s.to
		}
	}
	return 0
}
