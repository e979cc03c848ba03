package ingest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Label is one name="value" pair of a stream's label set.
type Label struct {
	Name, Value string
}

// Labels is a stream's label set, sorted by name once Normalize has run.
type Labels []Label

// Normalize sorts ls by name and rejects empty or duplicate names.
func (ls Labels) Normalize() error {
	if !slices.IsSortedFunc(ls, compareLabelNames) { // senders usually sort them
		slices.SortFunc(ls, compareLabelNames)
	}
	for i, l := range ls {
		if l.Name == "" {
			return fmt.Errorf("label with an empty name")
		}
		if i > 0 && ls[i-1].Name == l.Name {
			return fmt.Errorf("duplicate label name %q", l.Name)
		}
	}
	return nil
}

func compareLabelNames(a, b Label) int { return strings.Compare(a.Name, b.Name) }

// String renders the label set in the canonical Prometheus/Loki form,
// {a="1", b="2"}. It is the record key of every entry of the stream.
func (ls Labels) String() string {
	return string(ls.AppendString(nil))
}

// AppendString appends the canonical form of ls to dst.
func (ls Labels) AppendString(dst []byte) []byte {
	dst = append(dst, '{')
	for i, l := range ls {
		if i > 0 {
			dst = append(dst, ',', ' ')
		}
		dst = append(dst, l.Name...)
		dst = append(dst, '=')
		dst = appendQuoted(dst, l.Value)
	}
	return append(dst, '}')
}

// appendQuoted is strconv.AppendQuote, with a fast path for the usual value
// that needs no escape: printable ASCII without a quote or backslash.
func appendQuoted(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return strconv.AppendQuote(dst, s)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// ParseLabels parses a Loki/Prometheus label selector string such as
// `{app="api", host="a1"}` or `{app="api",host="a1"}` (only = matchers).
func ParseLabels(s string) (Labels, error) {
	orig := s
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("labels %q: want {name=\"value\", ...}", orig)
	}
	s = strings.TrimSpace(s[1 : len(s)-1])
	var ls Labels
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("labels %q: want name=\"value\" at %q", orig, s)
		}
		name := strings.TrimSpace(s[:eq])
		if !validLabelName(name) {
			return nil, fmt.Errorf("labels %q: invalid label name %q", orig, name)
		}
		rest := strings.TrimSpace(s[eq+1:])
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil || quoted[0] != '"' {
			return nil, fmt.Errorf("labels %q: value of %q must be a double-quoted string", orig, name)
		}
		value, err := strconv.Unquote(quoted)
		if err != nil {
			return nil, fmt.Errorf("labels %q: value of %q: %v", orig, name, err)
		}
		ls = append(ls, Label{Name: name, Value: value})
		s = strings.TrimSpace(rest[len(quoted):])
		if s != "" {
			if s[0] != ',' {
				return nil, fmt.Errorf("labels %q: want ',' at %q", orig, s)
			}
			s = strings.TrimSpace(s[1:])
		}
	}
	if err := ls.Normalize(); err != nil {
		return nil, fmt.Errorf("labels %q: %v", orig, err)
	}
	return ls, nil
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]*.
func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// SanitizeLabelName maps an attribute or field name (service.name, host-name)
// to a valid label name (service_name, host_name), as Loki's OTLP ingest does.
func SanitizeLabelName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')) {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
