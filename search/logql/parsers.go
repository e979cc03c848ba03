package logql

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

func newParser(s *ParserStage) (processor, error) {
	switch s.Kind {
	case "json":
		p := &jsonParser{}
		for _, f := range s.Fields {
			path, err := parseJSONPath(f.Path)
			if err != nil {
				return nil, fmt.Errorf("json: field %s: %w", f.Name, err)
			}
			p.fields = append(p.fields, jsonField{name: f.Name, path: path})
		}
		return p, nil
	case "logfmt":
		return &logfmtParser{fields: s.Fields, strict: s.Strict, keepEmpty: s.KeepEmpty}, nil
	case "regexp":
		return newRegexpParser(s.Param)
	case "pattern":
		return newPatternParser(s.Param)
	case "unpack":
		return unpackParser{}, nil
	}
	return nil, fmt.Errorf("unknown parser %q", s.Kind)
}

// sanitizeLabelName turns a key into a valid label name: characters other
// than [a-zA-Z0-9_] become _, and a leading digit gets a _ prefix.
func sanitizeLabelName(k string) string {
	valid := k != "" && !isDigit(k[0])
	for i := 0; i < len(k) && valid; i++ {
		valid = isIdentChar(k[i])
	}
	if valid {
		return k
	}
	var b strings.Builder
	if k != "" && isDigit(k[0]) {
		b.WriteByte('_')
	}
	for i := 0; i < len(k); i++ {
		if isIdentChar(k[i]) {
			b.WriteByte(k[i])
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// jsonParser flattens a JSON object into labels: nested keys are joined
// with _, arrays are skipped. With fields, it extracts only those paths.
type jsonParser struct {
	fields []jsonField
}

type jsonField struct {
	name string
	path []any // string keys and int indexes
}

func (p *jsonParser) process(s *lineState) bool {
	var v any
	dec := json.NewDecoder(strings.NewReader(s.line))
	dec.UseNumber()
	err := dec.Decode(&v)
	obj, isObj := v.(map[string]any)
	if err != nil || !isObj {
		if err == nil {
			err = fmt.Errorf("the line is not a JSON object")
		}
		s.lbs.setErr(errJSON, err.Error())
		return true
	}
	if len(p.fields) > 0 {
		for _, f := range p.fields {
			if val, ok := lookupJSON(obj, f.path); ok {
				s.lbs.setParsed(f.name, jsonString(val, true))
			}
		}
		return true
	}
	flattenJSON(&s.lbs, "", obj)
	return true
}

func flattenJSON(lbs *labelSet, prefix string, obj map[string]any) {
	for k, v := range obj {
		name := sanitizeLabelName(k)
		if prefix != "" {
			name = prefix + "_" + name
		}
		switch v := v.(type) {
		case map[string]any:
			flattenJSON(lbs, name, v)
		case []any:
			// Arrays are skipped, as in Loki.
		default:
			lbs.setParsed(name, jsonString(v, false))
		}
	}
}

// jsonString renders a scalar as its label value; objects and arrays (only
// reachable through extraction paths) as compact JSON.
func jsonString(v any, raw bool) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	if !raw {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func lookupJSON(v any, path []any) (any, bool) {
	for _, step := range path {
		switch k := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			a, ok := v.([]any)
			if !ok || k < 0 || k >= len(a) {
				return nil, false
			}
			v = a[k]
		}
	}
	return v, true
}

// parseJSONPath parses a.b[0]["c d"] into its steps.
func parseJSONPath(p string) ([]any, error) {
	var out []any
	i := 0
	for i < len(p) {
		switch {
		case p[i] == '.':
			i++
		case p[i] == '[':
			end := strings.IndexByte(p[i:], ']')
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in path %q", p)
			}
			inner := strings.TrimSpace(p[i+1 : i+end])
			if n, err := strconv.Atoi(inner); err == nil {
				out = append(out, n)
			} else if s, err := strconv.Unquote(inner); err == nil {
				out = append(out, s)
			} else {
				return nil, fmt.Errorf("invalid index %q in path %q", inner, p)
			}
			i += end + 1
		default:
			j := i
			for j < len(p) && p[j] != '.' && p[j] != '[' {
				j++
			}
			out = append(out, p[i:j])
			i = j
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return out, nil
}

// logfmtParser extracts key=value pairs. Without --strict, malformed pairs
// are skipped; with it, the first one stops parsing and sets __error__.
type logfmtParser struct {
	fields    []ExtractField
	strict    bool
	keepEmpty bool
}

func (p *logfmtParser) process(s *lineState) bool {
	err := scanLogfmt(s.line, func(k, v string) {
		if v == "" && !p.keepEmpty {
			return
		}
		if len(p.fields) == 0 {
			s.lbs.setParsed(sanitizeLabelName(k), v)
			return
		}
		for _, f := range p.fields {
			if f.Path == k {
				s.lbs.setParsed(f.Name, v)
			}
		}
	}, p.strict)
	if err != nil {
		s.lbs.setErr(errLogfmt, err.Error())
	}
	return true
}

// scanLogfmt calls fn for each key=value pair of line. Values may be
// double-quoted with Go escapes. A key without = has an empty value.
func scanLogfmt(line string, fn func(k, v string), strict bool) error {
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] <= ' ' {
			i++
		}
		if i >= len(line) {
			break
		}
		start := i
		for i < len(line) && line[i] > ' ' && line[i] != '=' && line[i] != '"' {
			i++
		}
		key := line[start:i]
		if key == "" || (i < len(line) && line[i] == '"') {
			if strict {
				return fmt.Errorf("logfmt syntax error at pos %d: unexpected %q", i+1, line[i])
			}
			i = skipToSpace(line, i+1)
			continue
		}
		if i >= len(line) || line[i] != '=' {
			fn(key, "")
			continue
		}
		i++
		val, n, err := logfmtValue(line[i:])
		if err != nil {
			if strict {
				return fmt.Errorf("logfmt syntax error at pos %d: %v", i+1, err)
			}
			i = skipToSpace(line, i)
			continue
		}
		i += n
		fn(key, val)
	}
	return nil
}

func skipToSpace(s string, i int) int {
	for i < len(s) && s[i] > ' ' {
		i++
	}
	return i
}

func logfmtValue(s string) (string, int, error) {
	if s == "" || s[0] != '"' {
		n := 0
		for n < len(s) && s[n] > ' ' {
			if s[n] == '"' || s[n] == '=' {
				return "", 0, fmt.Errorf("unexpected %q in value", s[n])
			}
			n++
		}
		return s[:n], n, nil
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			if v, err := strconv.Unquote(s[:i+1]); err == nil {
				return v, i + 1, nil
			}
			return strings.ReplaceAll(s[1:i], `\"`, `"`), i + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated quoted value")
}

// regexpParser sets a label per named capture group.
type regexpParser struct {
	re    *regexp.Regexp
	names []string
}

func newRegexpParser(expr string) (*regexpParser, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	p := &regexpParser{re: re, names: re.SubexpNames()}
	named := false
	for _, n := range p.names {
		if n != "" {
			named = true
			if sanitizeLabelName(n) != n {
				return nil, fmt.Errorf("invalid label name %q in capture group", n)
			}
		}
	}
	if !named {
		return nil, fmt.Errorf("at least one named capture group (?P<name>...) is required")
	}
	return p, nil
}

func (p *regexpParser) process(s *lineState) bool {
	m := p.re.FindStringSubmatchIndex(s.line)
	for i := 1; m != nil && i < len(p.names); i++ {
		if p.names[i] != "" && m[2*i] >= 0 {
			s.lbs.setParsed(p.names[i], s.line[m[2*i]:m[2*i+1]])
		}
	}
	return true
}

// pattern is a compiled pattern expression: literals and <name> captures;
// <_> captures without a label.
type pattern struct {
	parts []patternPart
	named int // number of named captures
}

type patternPart struct {
	literal string
	capture string // "" for a literal part
}

var patternCapture = regexp.MustCompile(`<(_|[a-zA-Z_][a-zA-Z0-9_]*)>`)

func compilePattern(s string) (*pattern, error) {
	p := &pattern{}
	last, named := 0, 0
	for _, loc := range patternCapture.FindAllStringSubmatchIndex(s, -1) {
		if loc[0] > last {
			p.parts = append(p.parts, patternPart{literal: s[last:loc[0]]})
		} else if len(p.parts) > 0 && p.parts[len(p.parts)-1].capture != "" {
			return nil, fmt.Errorf("consecutive captures are not allowed")
		}
		name := s[loc[2]:loc[3]]
		if name != "_" {
			named++
		}
		p.parts = append(p.parts, patternPart{capture: name})
		last = loc[1]
	}
	if last < len(s) {
		p.parts = append(p.parts, patternPart{literal: s[last:]})
	}
	if len(p.parts) == 0 {
		return nil, fmt.Errorf("empty pattern")
	}
	p.named = named
	return p, nil
}

// match reports whether line matches, calling set for each named capture.
// A leading literal must start the line; a capture extends to the next
// literal, or to the end of the line when it is the last part.
func (p *pattern) match(line string, set func(name, value string)) bool {
	rest := line
	for i, part := range p.parts {
		if part.capture == "" {
			if i == 0 {
				if !strings.HasPrefix(rest, part.literal) {
					return false
				}
				rest = rest[len(part.literal):]
			}
			continue
		}
		value := rest
		if i+1 < len(p.parts) {
			lit := p.parts[i+1].literal
			j := strings.Index(rest, lit)
			if j < 0 {
				return false
			}
			value, rest = rest[:j], rest[j+len(lit):]
		}
		if set != nil && part.capture != "_" {
			set(part.capture, value)
		}
	}
	return true
}

type patternParser struct{ p *pattern }

func newPatternParser(expr string) (*patternParser, error) {
	p, err := compilePattern(expr)
	if err != nil {
		return nil, err
	}
	if p.named == 0 {
		return nil, fmt.Errorf("at least one named capture <name> is required")
	}
	return &patternParser{p: p}, nil
}

func (pp *patternParser) process(s *lineState) bool {
	pp.p.match(s.line, func(n, v string) { s.lbs.setParsed(n, v) })
	return true
}

// unpackParser reads a JSON object written by Promtail's pack stage: string
// values become labels and _entry becomes the line.
type unpackParser struct{}

func (unpackParser) process(s *lineState) bool {
	var obj map[string]any
	if err := json.Unmarshal([]byte(s.line), &obj); err != nil {
		s.lbs.setErr(errJSON, err.Error())
		return true
	}
	entry, hasEntry := obj["_entry"].(string)
	for k, v := range obj {
		if str, ok := v.(string); ok && k != "_entry" {
			s.lbs.setParsed(sanitizeLabelName(k), str)
		}
	}
	if hasEntry {
		s.line = entry
	}
	return true
}
