package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"
)

// A bench corpus is a pool of log lines expanded from sample log files. Each
// pool line is a template line whose ID-like tokens were replaced by random
// ones of the same shape, so the pool holds no exact repeats of its sources:
//
//   - a word (maximal run of [0-9A-Za-z]) of at least 4 hex digits holding
//     both a digit and a letter a-f is a hex ID: every character is redrawn
//     from the same case's hex alphabet;
//   - in any other word, a run of 2 or more decimal digits is a number: every
//     digit is redrawn, keeping a leading non-zero digit non-zero.
//
// Everything else (punctuation, words, single digits) is kept. The pool is
// deterministic for a seed.

// segKind is what a template segment becomes in a generated line.
type segKind uint8

const (
	segLiteral  segKind = iota // copied as is
	segDigits                  // random decimal digits
	segDigitsNZ                // random decimal digits, the first not 0
	segHexLower                // random 0-9a-f
	segHexUpper                // random 0-9A-F
)

// segment is a span [start, end) of a template line.
type segment struct {
	kind       segKind
	start, end int
}

// template is one source line cut into literal and ID segments.
type template struct {
	line string
	segs []segment
}

// corpusSource is the lines of one sample file; its base name is the app label.
type corpusSource struct {
	app       string
	templates []template
}

// benchStream is the label set of one stream.
type benchStream struct{ app, host string }

// benchCorpus is the generated pool: line i is data[offs[i]:offs[i+1]] and
// belongs to streams[stream[i]].
type benchCorpus struct {
	data    string
	offs    []uint32
	stream  []uint16
	streams []benchStream
}

func (c *benchCorpus) len() int                  { return len(c.stream) }
func (c *benchCorpus) line(i int) string         { return c.data[c.offs[i]:c.offs[i+1]] }
func (c *benchCorpus) labels(i int) *benchStream { return &c.streams[c.stream[i]] }

// loadCorpusSources reads every file matching glob (sorted by name), strips
// CRs, drops empty lines and makes invalid UTF-8 valid.
func loadCorpusSources(glob string) ([]corpusSource, error) {
	paths, err := filepath.Glob(glob)
	if err != nil {
		return nil, fmt.Errorf("corpus glob %q: %w", glob, err)
	}
	sort.Strings(paths)
	var srcs []corpusSource
	for _, p := range paths {
		src, err := loadCorpusFile(p)
		if err != nil {
			return nil, err
		}
		if len(src.templates) > 0 {
			srcs = append(srcs, src)
		}
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("corpus glob %q matches no non-empty file; point -corpus at log files", glob)
	}
	return srcs, nil
}

func loadCorpusFile(path string) (corpusSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return corpusSource{}, fmt.Errorf("open corpus file: %w", err)
	}
	defer f.Close()
	base := filepath.Base(path)
	src := corpusSource{app: strings.TrimSuffix(base, filepath.Ext(base))}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		line = bytes.ReplaceAll(line, []byte{'\r'}, nil)
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		src.templates = append(src.templates, parseTemplate(strings.ToValidUTF8(string(line), "\uFFFD")))
	}
	if err := sc.Err(); err != nil {
		return corpusSource{}, fmt.Errorf("read corpus file %s: %w", path, err)
	}
	return src, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseTemplate cuts line into literal and ID segments (see the corpus doc).
func parseTemplate(line string) template {
	t := template{line: line}
	add := func(k segKind, start, end int) {
		if n := len(t.segs); k == segLiteral && n > 0 && t.segs[n-1].kind == segLiteral {
			t.segs[n-1].end = end
			return
		}
		t.segs = append(t.segs, segment{kind: k, start: start, end: end})
	}
	for i := 0; i < len(line); {
		if !isAlnum(line[i]) {
			j := i
			for j < len(line) && !isAlnum(line[j]) {
				j++
			}
			add(segLiteral, i, j)
			i = j
			continue
		}
		j := i
		for j < len(line) && isAlnum(line[j]) {
			j++
		}
		if k, ok := hexKind(line[i:j]); ok {
			add(k, i, j)
		} else {
			cutDigitRuns(line, i, j, add)
		}
		i = j
	}
	return t
}

// hexKind reports whether word is a hex ID and which case it uses.
func hexKind(word string) (segKind, bool) {
	if len(word) < 4 {
		return 0, false
	}
	var digit, lower, upper bool
	for i := 0; i < len(word); i++ {
		switch c := word[i]; {
		case isDigit(c):
			digit = true
		case c >= 'a' && c <= 'f':
			lower = true
		case c >= 'A' && c <= 'F':
			upper = true
		default:
			return 0, false
		}
	}
	switch {
	case !digit || lower == upper:
		return 0, false
	case upper:
		return segHexUpper, true
	}
	return segHexLower, true
}

// cutDigitRuns adds the word line[i:j] as literals and number segments.
func cutDigitRuns(line string, i, j int, add func(segKind, int, int)) {
	for i < j {
		k := i
		for k < j && isDigit(line[k]) {
			k++
		}
		switch {
		case k-i >= 2 && line[i] != '0':
			add(segDigitsNZ, i, k)
		case k-i >= 2:
			add(segDigits, i, k)
		case k > i:
			add(segLiteral, i, k)
		}
		if k == i {
			for k < j && !isDigit(line[k]) {
				k++
			}
			add(segLiteral, i, k)
		}
		i = k
	}
}

const (
	digitChars    = "0123456789"
	hexLowerChars = "0123456789abcdef"
	hexUpperChars = "0123456789ABCDEF"
)

// appendRandomized appends t with every ID segment redrawn from rng.
func (t *template) appendRandomized(dst []byte, rng *rand.Rand) []byte {
	for _, s := range t.segs {
		switch s.kind {
		case segLiteral:
			dst = append(dst, t.line[s.start:s.end]...)
		case segDigits, segDigitsNZ:
			start := len(dst)
			dst = appendRandom(dst, s.end-s.start, digitChars, rng)
			if s.kind == segDigitsNZ && dst[start] == '0' {
				dst[start] = '1' + byte(rng.IntN(9))
			}
		case segHexLower:
			dst = appendRandom(dst, s.end-s.start, hexLowerChars, rng)
		case segHexUpper:
			dst = appendRandom(dst, s.end-s.start, hexUpperChars, rng)
		}
	}
	return dst
}

// appendRandom appends n characters drawn from alphabet (10 or 16 long).
func appendRandom(dst []byte, n int, alphabet string, rng *rand.Rand) []byte {
	base := uint64(len(alphabet))
	for n > 0 {
		bits := rng.Uint64()
		for k := 0; k < 16 && n > 0; k, n = k+1, n-1 {
			dst = append(dst, alphabet[bits%base])
			bits /= base
		}
	}
	return dst
}

// buildCorpus expands srcs into n lines: line i comes from source i mod
// len(srcs), cycling through its templates, and is given a random host among
// hosts (so there are len(srcs)*hosts streams).
func buildCorpus(srcs []corpusSource, n, hosts int, seed uint64) *benchCorpus {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	c := &benchCorpus{offs: make([]uint32, 1, n+1), stream: make([]uint16, 0, n)}
	for _, s := range srcs {
		for h := 0; h < hosts; h++ {
			c.streams = append(c.streams, benchStream{app: s.app, host: fmt.Sprintf("host-%d", h)})
		}
	}
	var avg int
	for _, s := range srcs {
		for _, t := range s.templates {
			avg += len(t.line)
		}
	}
	avg /= max(1, countTemplates(srcs))
	data := make([]byte, 0, n*(avg+1))
	for i := 0; i < n; i++ {
		si := i % len(srcs)
		src := &srcs[si]
		t := &src.templates[(i/len(srcs))%len(src.templates)]
		data = t.appendRandomized(data, rng)
		c.offs = append(c.offs, uint32(len(data)))
		c.stream = append(c.stream, uint16(si*hosts+rng.IntN(hosts)))
	}
	// data is never written again, so the pool can share its bytes.
	c.data = unsafe.String(unsafe.SliceData(data), len(data))
	return c
}

func countTemplates(srcs []corpusSource) int {
	n := 0
	for _, s := range srcs {
		n += len(s.templates)
	}
	return n
}
