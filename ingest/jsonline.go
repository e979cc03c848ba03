package ingest

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/siltlog/silt/segments"
)

// JSON lines API: POST /api/v1/push/jsonline, as VictoriaLogs' /insert/jsonline.
// The body holds one JSON object per line (empty lines are skipped). Each
// object's fields become:
//
//   - the log line: the first non-empty field of _msg_field (default _msg);
//   - the timestamp: _time_field (default _time), RFC 3339 or a Unix number in
//     s, ms, µs or ns (told apart by magnitude, as VictoriaLogs does); missing
//     or 0 means now;
//   - stream labels: the fields of _stream_fields, names sanitized to label
//     names, plus service_name as the Loki receiver adds it;
//   - structured metadata: every other field except ignore_fields, nested
//     objects flattened with dots ({"a":{"b":1}} is a.b=1), arrays kept as
//     JSON text, empty strings and nulls dropped (VictoriaLogs treats them as
//     missing).
//
// The parameters come from query arguments or, when those are absent, the
// VL-Msg-Field, VL-Time-Field, VL-Stream-Fields and VL-Ignore-Fields headers.
// Success is 200 with an empty body, as VictoriaLogs answers.
const (
	jsonlineProtocol = "jsonline"
	jsonlinePath     = "/api/v1/push/jsonline"

	// missingMsg is the line of an object without a message field, as
	// VictoriaLogs' -defaultMsgValue.
	missingMsg = "missing _msg field; see _msg_field"
	// maxJSONDepth bounds nesting, so that a hostile line cannot exhaust the stack.
	maxJSONDepth = 64
)

func jsonlineRoutes(d *Distributor) []Route {
	return []Route{{Method: http.MethodPost, Path: jsonlinePath, Handler: d.Handler(jsonlineProtocol, decodeJSONLineRequest, respondOK)}}
}

// respondOK answers 200 with an empty body on success, as VictoriaLogs does.
func respondOK(w http.ResponseWriter, _ *PushRequest, err error) {
	if err != nil {
		WriteError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// JSONLineParams says how the fields of a JSON line map onto an entry.
type JSONLineParams struct {
	MsgFields    []string // the first one present and non-empty is the line
	TimeField    string
	StreamFields []string
	IgnoreFields []string // a trailing * matches by prefix
}

// jsonlineParams reads the request's parameters, query arguments first.
func jsonlineParams(r *http.Request) JSONLineParams {
	q := r.URL.Query()
	get := func(arg, header string) string {
		if v := q.Get(arg); v != "" {
			return v
		}
		return r.Header.Get(header)
	}
	p := JSONLineParams{
		MsgFields:    splitFieldList(get("_msg_field", "VL-Msg-Field")),
		TimeField:    strings.TrimSpace(get("_time_field", "VL-Time-Field")),
		StreamFields: splitFieldList(get("_stream_fields", "VL-Stream-Fields")),
		IgnoreFields: splitFieldList(get("ignore_fields", "VL-Ignore-Fields")),
	}
	if len(p.MsgFields) == 0 {
		p.MsgFields = []string{"_msg"}
	}
	if p.TimeField == "" {
		p.TimeField = "_time"
	}
	return p
}

func splitFieldList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func decodeJSONLineRequest(r *http.Request, body []byte) (*PushRequest, error) {
	return DecodeJSONLines(body, jsonlineParams(r))
}

// DecodeJSONLines decodes an NDJSON body. The strings of the result alias body
// (and buffers of the decoder), so body must not change while it is in use.
func DecodeJSONLines(body []byte, p JSONLineParams) (*PushRequest, error) {
	d := newJSONLineDecoder(p, bytes.Count(body, []byte{'\n'})+1, len(body))
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if err := d.line(line); err != nil {
			if err == errInvalidUTF8 {
				return nil, Errorf(http.StatusBadRequest, ReasonInvalidUTF8, "line %d is not valid UTF-8", n)
			}
			return nil, BadRequest("line %d: %v", n, err)
		}
	}
	return d.finish(), nil
}

// jsonlineDecoder turns lines into entries, then groups them by stream.
type jsonlineDecoder struct {
	p          JSONLineParams
	labelNames []string // sanitized StreamFields
	sc         jsonScanner
	streams    map[string]int32 // stream key -> index in labels
	labels     []Labels
	entries    []Entry // in line order
	streamOf   []int32 // the stream of each entry
	key        []byte  // scratch stream key
	vals       [][]byte
	headers    []segments.Header // slab the entries' metadata is cut from
}

func newJSONLineDecoder(p JSONLineParams, lines, size int) *jsonlineDecoder {
	d := &jsonlineDecoder{
		p:        p,
		streams:  map[string]int32{},
		entries:  make([]Entry, 0, lines),
		streamOf: make([]int32, 0, lines),
		vals:     make([][]byte, len(p.StreamFields)),
	}
	d.sc.maxArena = 2*size + 64<<10
	for _, f := range p.StreamFields {
		d.labelNames = append(d.labelNames, SanitizeLabelName(f))
	}
	return d
}

// finish groups the entries by stream, keeping their order within each.
func (d *jsonlineDecoder) finish() *PushRequest {
	req := &PushRequest{Streams: make([]Stream, len(d.labels))}
	if len(d.labels) == 1 {
		req.Streams[0] = Stream{Labels: d.labels[0], Entries: d.entries}
		return req
	}
	ends := make([]int, len(d.labels))
	for _, si := range d.streamOf {
		ends[si]++
	}
	for i := 1; i < len(ends); i++ {
		ends[i] += ends[i-1]
	}
	grouped := make([]Entry, len(d.entries))
	for i := len(d.entries) - 1; i >= 0; i-- { // backwards, so each stream keeps its order
		si := d.streamOf[i]
		ends[si]--
		grouped[ends[si]] = d.entries[i]
	}
	for si, ls := range d.labels {
		start, end := ends[si], len(grouped)
		if si+1 < len(ends) {
			end = ends[si+1]
		}
		req.Streams[si] = Stream{Labels: ls, Entries: grouped[start:end:end]}
	}
	return req
}

func (d *jsonlineDecoder) line(line []byte) error {
	blank, err := d.sc.parse(line)
	if err != nil || blank {
		return err
	}
	sc := &d.sc
	msgIdx, msgRank, timeIdx := -1, len(d.p.MsgFields), -1
	for i, f := range sc.fields {
		if f.value.n == 0 {
			continue
		}
		name := bstr(sc.bytes(f.name))
		for r, m := range d.p.MsgFields[:msgRank] {
			if name == m {
				msgIdx, msgRank = i, r
				break
			}
		}
		if timeIdx < 0 && name == d.p.TimeField {
			timeIdx = i
		}
	}
	e := Entry{Line: missingMsg}
	if msgIdx >= 0 {
		e.Line = bstr(sc.bytes(sc.fields[msgIdx].value))
	}
	if timeIdx >= 0 {
		if e.Timestamp, err = parseLogTime(sc.bytes(sc.fields[timeIdx].value)); err != nil {
			return err
		}
	}
	e.Metadata = d.collect(msgIdx, timeIdx)
	d.entries = append(d.entries, e)
	d.streamOf = append(d.streamOf, d.stream())
	return nil
}

// collect sorts the fields other than the line and time into stream values
// and metadata.
func (d *jsonlineDecoder) collect(msgIdx, timeIdx int) []segments.Header {
	sc := &d.sc
	clear(d.vals)
	if cap(d.headers)-len(d.headers) < len(sc.fields) {
		// A fresh slab: earlier entries keep theirs, so none is ever copied.
		d.headers = make([]segments.Header, 0, max(1024, len(sc.fields)))
	}
	start := len(d.headers)
next:
	for i, f := range sc.fields {
		if i == msgIdx || i == timeIdx || f.value.n == 0 {
			continue
		}
		name := bstr(sc.bytes(f.name))
		for j, s := range d.p.StreamFields {
			if name == s {
				if d.vals[j] == nil {
					d.vals[j] = sc.bytes(f.value)
				}
				continue next
			}
		}
		if d.ignored(name) {
			continue
		}
		d.headers = append(d.headers, segments.Header{Key: name, Value: sc.bytes(f.value)})
	}
	if len(d.headers) == start {
		return nil
	}
	return d.headers[start:len(d.headers):len(d.headers)]
}

func (d *jsonlineDecoder) ignored(name string) bool {
	for _, f := range d.p.IgnoreFields {
		if name == f || (strings.HasSuffix(f, "*") && strings.HasPrefix(name, f[:len(f)-1])) {
			return true
		}
	}
	return false
}

// stream returns the index of this line's stream, adding it on first sight.
func (d *jsonlineDecoder) stream() int32 {
	d.key = d.key[:0]
	for _, v := range d.vals {
		d.key = binary.AppendUvarint(d.key, uint64(len(v)))
		d.key = append(d.key, v...)
	}
	if si, ok := d.streams[string(d.key)]; ok {
		return si
	}
	ls := make(Labels, 0, len(d.vals)+1)
	for j, v := range d.vals {
		if len(v) > 0 {
			ls = append(ls, Label{Name: d.labelNames[j], Value: string(v)})
		}
	}
	si := int32(len(d.labels))
	d.labels = append(d.labels, withServiceName(ls))
	d.streams[string(d.key)] = si
	return si
}

// bstr views b as a string without copying; b must not change afterwards.
func bstr(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// parseLogTime parses a timestamp field: RFC 3339 (also with a space for the T,
// or without a zone, meaning UTC) or a Unix timestamp. 0 means now.
func parseLogTime(v []byte) (int64, error) {
	s := bstr(v)
	if c := s[0]; (c == '-' || (c >= '0' && c <= '9')) && (len(s) < 10 || s[4] != '-') {
		return parseUnixTime(s)
	}
	if ns, ok := parseRFC3339Fast(s); ok {
		return ns, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Before(minTime) || t.After(maxTime) {
				return 0, errorString("timestamp " + strconv.Quote(s) + " is outside 1678-2262")
			}
			return t.UnixNano(), nil
		}
	}
	return 0, errorString("timestamp " + strconv.Quote(s) + " is neither RFC 3339 nor a Unix timestamp")
}

// parseRFC3339Fast parses the common shape YYYY-MM-DD(T| )hh:mm:ss[.f{1,9}](Z|±hh:mm)
// of the years 1970-2200 without time.Parse; ok is false for anything else,
// which time.Parse then decides. FuzzParseRFC3339Fast holds it to time.Parse.
func parseRFC3339Fast(s string) (ns int64, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return 0, false
	}
	for _, p := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[p]-'0' > 9 {
			return 0, false
		}
	}
	d2 := func(p int) int64 { return int64(s[p]-'0')*10 + int64(s[p+1]-'0') }
	y, mo, d, h, mi, sec := d2(0)*100+d2(2), d2(5), d2(8), d2(11), d2(14), d2(17)
	if y < 1970 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > int64(daysIn(mo, y)) || h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	num := func(i, n int) int64 {
		var v int64
		for j := i; j < i+n; j++ {
			c := s[j] - '0'
			if c > 9 {
				return -1
			}
			v = v*10 + int64(c)
		}
		return v
	}
	rest, frac := s[19:], int64(0)
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return 0, false
		}
		frac = num(20, n-1)
		for range 10 - n {
			frac *= 10
		}
		rest = rest[n:]
	}
	var off int64
	switch {
	case rest == "Z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, om := num(len(s)-5, 2), num(len(s)-2, 2)
		if oh < 0 || oh > 23 || om < 0 || om > 59 {
			return 0, false
		}
		off = oh*3600 + om*60
		if rest[0] == '-' {
			off = -off
		}
	default:
		return 0, false
	}
	secs := daysFromCivil(y, mo, d)*86400 + h*3600 + mi*60 + sec - off
	return secs*1e9 + frac, true
}

// daysFromCivil returns the days from 1970-01-01 to y-m-d (proleptic
// Gregorian; Howard Hinnant's algorithm, for y >= 0).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func daysIn(m, y int64) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseUnixTime parses a Unix timestamp whose unit is told by its magnitude, as
// VictoriaLogs does: seconds up to 2^31, then ms, µs, ns. Seconds, ms and µs
// may have a fraction.
func parseUnixTime(s string) (int64, error) {
	bad := func() (int64, error) {
		return 0, errorString("timestamp " + strconv.Quote(s) + " is not a Unix timestamp at or after 1970")
	}
	if strings.ContainsAny(s, "eE") { // a JSON number such as 1.7e9
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0 || f >= 1<<63 {
			return bad()
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	}
	ip, frac, hasFrac := strings.Cut(s, ".")
	n, err := strconv.ParseInt(ip, 10, 64)
	if err != nil || n < 0 || ip[0] == '-' || (hasFrac && (frac == "" || !allDigits(frac))) {
		return bad()
	}
	var unit int64
	switch {
	case n < 1<<31:
		unit = 1e9
	case n < 1e3*(1<<31):
		unit = 1e6
	case n < 1e6*(1<<31):
		unit = 1e3
	default:
		unit = 1
	}
	ns := n * unit
	if len(frac) > 9 {
		frac = frac[:9]
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac+"000000000"[len(frac):], 10, 64) // nanoseconds of a whole unit's fraction ×1e9
		ns += f * unit / 1e9
	}
	return ns, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

type errorString string

func (e errorString) Error() string { return string(e) }

// errInvalidUTF8 is a string of a JSON line that is not valid UTF-8.
var errInvalidUTF8 = errorString("invalid UTF-8")

// span locates bytes in the scanner's current line or in its arena. Fields
// hold spans rather than slices so that the per-field bookkeeping has no
// pointers (no GC write barriers on the hot path).
type span struct {
	off, n int32
	arena  bool
}

// jsonField is one scalar of a JSON object: a string (unescaped), a number or
// boolean (as written), or an array (as its JSON text). Nested object fields
// are named with dots.
type jsonField struct {
	name, value span
}

// jsonScanner parses one JSON object into its fields without reflection.
// Unescaped strings and dotted names go to arena, which only ever grows
// (reallocation leaves earlier bytes where slices handed out see them), so
// everything handed out stays valid while the decoder lives.
type jsonScanner struct {
	src      []byte
	pos      int
	fields   []jsonField
	arena    []byte
	maxArena int // bound on the arena: nested names can repeat a long prefix
}

type jsonSyntaxError struct {
	pos int
	msg string
}

func (e *jsonSyntaxError) Error() string { return "byte " + strconv.Itoa(e.pos+1) + ": " + e.msg }

func (s *jsonScanner) fail(msg string) error { return &jsonSyntaxError{pos: s.pos, msg: msg} }

// bytes returns the bytes sp locates.
func (s *jsonScanner) bytes(sp span) []byte {
	b := s.src
	if sp.arena {
		b = s.arena
	}
	end := sp.off + sp.n
	return b[sp.off:end:end]
}

func (s *jsonScanner) srcSpan(start, end int) span {
	return span{off: int32(start), n: int32(end - start)}
}

// parse parses line into s.fields. A line of only white space is blank.
func (s *jsonScanner) parse(line []byte) (blank bool, err error) {
	if len(line) > math.MaxInt32 {
		return false, errorString("line over 2 GiB")
	}
	s.src, s.pos, s.fields = line, 0, s.fields[:0]
	s.skipWS()
	if s.pos == len(s.src) {
		return true, nil
	}
	if s.src[s.pos] != '{' {
		return false, s.fail("want a JSON object")
	}
	if err := s.object(span{}, false, 1); err != nil {
		return false, err
	}
	s.skipWS()
	if s.pos != len(s.src) {
		return false, s.fail("unexpected data after the object")
	}
	return false, nil
}

func (s *jsonScanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *jsonScanner) skipWS() {
	for s.pos < len(s.src) && s.src[s.pos] <= ' ' {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// object parses the object at s.pos; nested objects name their fields
// prefix.name.
func (s *jsonScanner) object(prefix span, nested bool, depth int) error {
	if depth > maxJSONDepth {
		return s.fail("objects nested deeper than " + strconv.Itoa(maxJSONDepth))
	}
	s.pos++ // {
	s.skipWS()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("want a field name")
		}
		name, err := s.str()
		if err != nil {
			return err
		}
		s.skipWS()
		if s.peek() != ':' {
			return s.fail("want ':' after a field name")
		}
		s.pos++
		s.skipWS()
		if nested {
			if name, err = s.join(prefix, name); err != nil {
				return err
			}
		}
		if err := s.value(name, depth); err != nil {
			return err
		}
		s.skipWS()
		switch s.peek() {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("want ',' or '}' after a value")
		}
	}
}

// join writes prefix.name to the arena.
func (s *jsonScanner) join(prefix, name span) (span, error) {
	if len(s.arena)+int(prefix.n)+1+int(name.n) > s.maxArena {
		return span{}, s.fail("nested field names too long")
	}
	start := len(s.arena)
	s.arena = append(s.arena, s.bytes(prefix)...)
	s.arena = append(s.arena, '.')
	s.arena = append(s.arena, s.bytes(name)...)
	return span{off: int32(start), n: int32(len(s.arena) - start), arena: true}, nil
}

func (s *jsonScanner) value(name span, depth int) error {
	start := s.pos
	switch c := s.peek(); {
	case c == '"':
		v, err := s.str()
		if err != nil {
			return err
		}
		s.fields = append(s.fields, jsonField{name: name, value: v})
		return nil
	case c == '{':
		return s.object(name, true, depth+1)
	case c == 'n':
		return s.literal("null") // null is a missing field
	case c == '[' || c == 't' || c == 'f':
		if err := s.skip(depth); err != nil {
			return err
		}
	default:
		if err := s.number(); err != nil {
			return err
		}
	}
	s.fields = append(s.fields, jsonField{name: name, value: s.srcSpan(start, s.pos)})
	return nil
}

// skip steps over any value, validating it.
func (s *jsonScanner) skip(depth int) error {
	if depth > maxJSONDepth {
		return s.fail("values nested deeper than " + strconv.Itoa(maxJSONDepth))
	}
	switch s.peek() {
	case '"':
		return s.skipString()
	case '{':
		return s.skipComposite('}', depth)
	case '[':
		return s.skipComposite(']', depth)
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		return s.number()
	}
}

// skipComposite steps over an object (end '}') or an array (end ']').
func (s *jsonScanner) skipComposite(end byte, depth int) error {
	s.pos++
	s.skipWS()
	if s.peek() == end {
		s.pos++
		return nil
	}
	for {
		if end == '}' {
			if s.peek() != '"' {
				return s.fail("want a field name")
			}
			if err := s.skipString(); err != nil {
				return err
			}
			s.skipWS()
			if s.peek() != ':' {
				return s.fail("want ':' after a field name")
			}
			s.pos++
			s.skipWS()
		}
		if err := s.skip(depth + 1); err != nil {
			return err
		}
		s.skipWS()
		switch s.peek() {
		case ',':
			s.pos++
			s.skipWS()
		case end:
			s.pos++
			return nil
		default:
			return s.fail("want ',' or '" + string(end) + "' after a value")
		}
	}
}

func (s *jsonScanner) literal(word string) error {
	if !bytes.HasPrefix(s.src[s.pos:], []byte(word)) {
		return s.fail("invalid literal; want a string, number, object, array, true, false or null")
	}
	s.pos += len(word)
	return nil
}

// number steps over a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *jsonScanner) number() error {
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return s.fail("want a value")
	}
	if s.peek() == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.fail("want digits after '.'")
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if s.digits() == 0 {
			return s.fail("want digits in the exponent")
		}
	}
	return nil
}

func (s *jsonScanner) digits() int {
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// str parses the string at s.pos and returns its unescaped bytes: a span of
// the line when it has no escapes, else of the arena.
func (s *jsonScanner) str() (span, error) {
	start := s.pos + 1
	i, ascii := scanPlain(s.src, start)
	switch {
	case i == len(s.src):
		return span{}, s.fail("unterminated string")
	case s.src[i] == '"':
		if !ascii && !utf8.Valid(s.src[start:i]) {
			return span{}, errInvalidUTF8
		}
		s.pos = i + 1
		return s.srcSpan(start, i), nil
	case s.src[i] < 0x20:
		s.pos = i
		return span{}, s.fail("control character in a string")
	}
	return s.strEscaped(start, i)
}

// strEscaped unescapes the string starting at start whose first escape is at
// i, as encoding/json does (a bad surrogate becomes U+FFFD).
func (s *jsonScanner) strEscaped(start, i int) (span, error) {
	if len(s.arena)+len(s.src)-start > s.maxArena {
		return span{}, s.fail("escaped strings too long")
	}
	a := len(s.arena)
	s.arena = append(s.arena, s.src[start:i]...)
	for {
		if i == len(s.src) {
			s.pos = i
			return span{}, s.fail("unterminated string")
		}
		switch c := s.src[i]; {
		case c == '"':
			s.pos = i + 1
			sp := span{off: int32(a), n: int32(len(s.arena) - a), arena: true}
			if !utf8.Valid(s.bytes(sp)) {
				return span{}, errInvalidUTF8
			}
			return sp, nil
		case c < 0x20:
			s.pos = i
			return span{}, s.fail("control character in a string")
		case c != '\\':
			j, _ := scanPlain(s.src, i)
			s.arena = append(s.arena, s.src[i:j]...)
			i = j
			continue
		}
		n, err := s.unescape(i)
		if err != nil {
			return span{}, err
		}
		i += n
	}
}

// unescape appends the escape at src[i] (a backslash) to the arena and returns
// its length.
func (s *jsonScanner) unescape(i int) (int, error) {
	if i+1 == len(s.src) {
		s.pos = i
		return 0, s.fail("unterminated string")
	}
	var c byte
	switch s.src[i+1] {
	case '"', '\\', '/':
		c = s.src[i+1]
	case 'b':
		c = '\b'
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'u':
		r := hex4(s.src[i+2:])
		if r < 0 {
			s.pos = i
			return 0, s.fail(`want 4 hex digits after \u`)
		}
		n := 6
		if r >= 0xd800 && r < 0xe000 { // a surrogate: valid only as a high+low pair
			r2 := rune(-1)
			if rest := s.src[i+6:]; len(rest) >= 6 && rest[0] == '\\' && rest[1] == 'u' {
				r2 = hex4(rest[2:])
			}
			if r < 0xdc00 && r2 >= 0xdc00 && r2 < 0xe000 {
				r, n = 0x10000+(r-0xd800)<<10+(r2-0xdc00), 12
			} else {
				r = utf8.RuneError
			}
		}
		s.arena = utf8.AppendRune(s.arena, r)
		return n, nil
	default:
		s.pos = i
		return 0, s.fail("invalid escape in a string")
	}
	s.arena = append(s.arena, c)
	return 2, nil
}

func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// skipString steps over a string, validating it; it leaves the arena as it
// was (nothing handed out points past its old end).
func (s *jsonScanner) skipString() error {
	a := len(s.arena)
	_, err := s.str()
	s.arena = s.arena[:a]
	return err
}

// scanPlain returns the index of the first '"', '\\' or control byte of b at
// or after i (or len(b)), and whether the bytes before it are all ASCII.
// Short strings (names, most values) are tested eight bytes at a time (SWAR);
// past 16 bytes, the SIMD bytes.IndexByte finds the quote and any backslash
// and SWAR checks the run between for control bytes.
func scanPlain(b []byte, i int) (int, bool) {
	var seen uint64
	for n := 0; n < 2; n++ {
		if i+8 > len(b) {
			return scanBytes(b, i, seen)
		}
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (swarOnes * '"')
		bs := x ^ (swarOnes * '\\')
		// The high bit of a byte is set iff it is < 0x20, '"' or '\\' (exact
		// for whether any is; the position comes from scanBytes).
		if ((x-swarOnes*0x20)&^x|(q-swarOnes)&^q|(bs-swarOnes)&^bs)&swarHighs != 0 {
			return scanBytes(b, i, seen)
		}
		seen |= x
		i += 8
	}
	end := len(b)
	if q := bytes.IndexByte(b[i:], '"'); q >= 0 {
		end = i + q
	}
	if k := bytes.IndexByte(b[i:end], '\\'); k >= 0 {
		end = i + k
	}
	for ; i+8 <= end; i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if (x-swarOnes*0x20)&^x&swarHighs != 0 { // a control byte
			break
		}
		seen |= x
	}
	return scanBytes(b, i, seen)
}

const swarOnes, swarHighs = 0x0101010101010101, 0x8080808080808080

// scanBytes finishes scanPlain a byte at a time.
func scanBytes(b []byte, i int, seen uint64) (int, bool) {
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		seen |= uint64(c)
	}
	return i, seen&swarHighs == 0
}
