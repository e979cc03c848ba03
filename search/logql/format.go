package logql

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// templateFuncs are the helpers line_format and label_format templates may
// call, named as in Loki (which takes most of them from sprig).
var templateFuncs = template.FuncMap{
	"ToLower": strings.ToLower, "ToUpper": strings.ToUpper, "lower": strings.ToLower, "upper": strings.ToUpper,
	"Replace": strings.Replace, "Trim": strings.Trim, "TrimLeft": strings.TrimLeft, "TrimRight": strings.TrimRight,
	"TrimPrefix": strings.TrimPrefix, "TrimSuffix": strings.TrimSuffix, "TrimSpace": strings.TrimSpace,
	"trim": strings.TrimSpace, "title": title, "trunc": trunc, "substr": substr,
	"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
	"hasPrefix": func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
	"hasSuffix": func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
	"replace":   func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"repeat":    func(n int, s string) string { return strings.Repeat(s, max(n, 0)) },
	"trimAll":   func(cut, s string) string { return strings.Trim(s, cut) },
	"indent":    func(n int, s string) string { return indent(n, s) },
	"nindent":   func(n int, s string) string { return "\n" + indent(n, s) },
	"regexReplaceAll": func(re, s, repl string) (string, error) {
		r, err := regexp.Compile(re)
		if err != nil {
			return "", err
		}
		return r.ReplaceAllString(s, repl), nil
	},
	"regexReplaceAllLiteral": func(re, s, repl string) (string, error) {
		r, err := regexp.Compile(re)
		if err != nil {
			return "", err
		}
		return r.ReplaceAllLiteralString(s, repl), nil
	},
	"default":          func(d string, v ...string) string { return defaultValue(d, v) },
	"count":            func(sub, s string) int { return strings.Count(s, sub) },
	"urlencode":        url.QueryEscape,
	"urldecode":        url.QueryUnescape,
	"b64enc":           func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"b64dec":           b64dec,
	"alignLeft":        func(n int, s string) string { return align(n, s, false) },
	"alignRight":       func(n int, s string) string { return align(n, s, true) },
	"printf":           fmt.Sprintf,
	"int":              toInt,
	"float64":          toFloat,
	"add":              func(a, b any) int64 { return toInt(a) + toInt(b) },
	"sub":              func(a, b any) int64 { return toInt(a) - toInt(b) },
	"mul":              func(a, b any) int64 { return toInt(a) * toInt(b) },
	"div":              intDiv,
	"mod":              intMod,
	"addf":             func(a, b any) float64 { return toFloat(a) + toFloat(b) },
	"subf":             func(a, b any) float64 { return toFloat(a) - toFloat(b) },
	"mulf":             func(a, b any) float64 { return toFloat(a) * toFloat(b) },
	"divf":             func(a, b any) float64 { return toFloat(a) / toFloat(b) },
	"round":            func(a any, p int) float64 { m := math.Pow(10, float64(p)); return math.Round(toFloat(a)*m) / m },
	"ceil":             func(a any) float64 { return math.Ceil(toFloat(a)) },
	"floor":            func(a any) float64 { return math.Floor(toFloat(a)) },
	"bytes":            func(s string) (float64, error) { return parseBytes(s) },
	"duration":         durationSeconds,
	"duration_seconds": durationSeconds,
	"unixEpoch":        func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) },
	"unixEpochMillis":  func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) },
	"unixEpochNanos":   func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) },
	"date":             func(layout string, t time.Time) string { return t.UTC().Format(layout) },
	"toDate":           func(layout, v string) time.Time { t, _ := time.Parse(layout, v); return t },
	"toDateInZone": func(layout, zone, v string) time.Time {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			loc = time.UTC
		}
		t, _ := time.ParseInLocation(layout, v, loc)
		return t
	},
	"unixToTime": unixToTime,
	"now":        time.Now,
	// Replaced per entry; present here so templates parse.
	"__line__":      func() string { return "" },
	"__timestamp__": func() time.Time { return time.Time{} },
}

func newTemplate(text string) (*template.Template, error) {
	return template.New("").Option("missingkey=zero").Funcs(templateFuncs).Parse(text)
}

func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		defer func() { prev = r }()
		if prev == ' ' || prev == '\t' || prev == '\n' {
			return []rune(strings.ToUpper(string(r)))[0]
		}
		return r
	}, s)
}

func trunc(n int, s string) string {
	if n < 0 {
		if -n >= len(s) {
			return s
		}
		return s[len(s)+n:]
	}
	if n >= len(s) {
		return s
	}
	return s[:n]
}

func substr(start, end int, s string) string {
	if start < 0 {
		start = 0
	}
	if end < 0 || end > len(s) {
		end = len(s)
	}
	if start > end {
		return ""
	}
	return s[start:end]
}

func indent(n int, s string) string {
	pad := strings.Repeat(" ", max(n, 0))
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func defaultValue(d string, v []string) string {
	if len(v) == 0 || v[0] == "" {
		return d
	}
	return v[0]
}

func b64dec(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func align(n int, s string, right bool) string {
	l := utf8.RuneCountInString(s)
	switch {
	case l > n:
		r := []rune(s)
		if right {
			return string(r[l-n:])
		}
		return string(r[:n])
	case right:
		return strings.Repeat(" ", n-l) + s
	}
	return s + strings.Repeat(" ", n-l)
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f
	}
	return 0
}

func toInt(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	case string:
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
		f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return int64(f)
	}
	return 0
}

func intDiv(a, b any) int64 {
	if toInt(b) == 0 {
		return 0
	}
	return toInt(a) / toInt(b)
}

func intMod(a, b any) int64 {
	if toInt(b) == 0 {
		return 0
	}
	return toInt(a) % toInt(b)
}

func durationSeconds(s string) (float64, error) {
	d, err := parseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	return d.Seconds(), nil
}

func unixToTime(s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	switch len(s) {
	case 5: // days
		return time.Unix(n*86400, 0).UTC(), nil
	case 10:
		return time.Unix(n, 0).UTC(), nil
	case 13:
		return time.UnixMilli(n).UTC(), nil
	case 16:
		return time.UnixMicro(n).UTC(), nil
	case 19:
		return time.Unix(0, n).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("unixToTime: %q is not a unix timestamp in days, s, ms, us or ns", s)
}

// formatter runs one template with per-entry __line__ and __timestamp__.
type formatter struct {
	tmpl *template.Template
	cur  *lineState
	buf  strings.Builder
}

func newFormatter(text string) (*formatter, error) {
	f := &formatter{}
	t, err := template.New("").Option("missingkey=zero").Funcs(templateFuncs).Funcs(template.FuncMap{
		"__line__":      func() string { return f.cur.line },
		"__timestamp__": func() time.Time { return time.Unix(0, f.cur.ts).UTC() },
	}).Parse(text)
	if err != nil {
		return nil, err
	}
	f.tmpl = t
	return f, nil
}

func (f *formatter) format(s *lineState, data map[string]string) (string, error) {
	f.cur = s
	f.buf.Reset()
	err := f.tmpl.Execute(&f.buf, data)
	return f.buf.String(), err
}

// lineFormatter implements line_format.
type lineFormatter struct{ f *formatter }

func newLineFormatter(text string) (processor, error) {
	f, err := newFormatter(text)
	if err != nil {
		return nil, err
	}
	return &lineFormatter{f}, nil
}

func (lf *lineFormatter) process(s *lineState) bool {
	out, err := lf.f.format(s, s.lbs.asMap())
	if err != nil {
		s.lbs.setErr(errTemplate, err.Error())
		return true
	}
	s.line = out
	return true
}

// labelFormatter implements label_format: renames and templates, all
// evaluated against the labels as they were before the stage.
type labelFormatter struct {
	items []LabelFormatItem
	fmts  []*formatter
}

func newLabelFormatter(s *LabelFormatStage) (processor, error) {
	lf := &labelFormatter{items: s.Items, fmts: make([]*formatter, len(s.Items))}
	for i, it := range s.Items {
		if it.Template {
			f, err := newFormatter(it.Src)
			if err != nil {
				return nil, err
			}
			lf.fmts[i] = f
		}
	}
	return lf, nil
}

func (lf *labelFormatter) process(s *lineState) bool {
	data := s.lbs.asMap()
	for i, it := range lf.items {
		if !it.Template {
			v, ok := data[it.Src]
			if !ok {
				continue
			}
			s.lbs.del(it.Src)
			s.lbs.set(it.Dst, v, catParsed)
			continue
		}
		v, err := lf.fmts[i].format(s, data)
		if err != nil {
			s.lbs.setErr(errTemplate, err.Error())
			continue
		}
		s.lbs.set(it.Dst, v, catParsed)
	}
	return true
}
