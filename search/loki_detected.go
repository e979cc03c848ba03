package search

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/siltlog/silt/search/logql"
)

// detectedLabels answers /detected_labels: the stream labels of the matching
// streams with their cardinality. Loki returns it without the envelope.
func (a *API) detectedLabels(w http.ResponseWriter, r *http.Request) {
	a.raw(w, r, func(r *http.Request, tenant string) (any, error) {
		start, end, ms, err := a.rangeAndSelector(r)
		if err != nil {
			return nil, err
		}
		streams, err := a.s.Streams(r.Context(), tenant, ms, start, end)
		if err != nil {
			return nil, err
		}
		values := map[string]map[string]bool{}
		for _, ls := range streams {
			ls.Range(func(l labels.Label) {
				if values[l.Name] == nil {
					values[l.Name] = map[string]bool{}
				}
				values[l.Name][l.Value] = true
			})
		}
		type detected struct {
			Label       string `json:"label"`
			Cardinality int    `json:"cardinality"`
		}
		out := []detected{}
		for _, name := range sortedKeys(boolKeys(values)) {
			out = append(out, detected{name, len(values[name])})
		}
		return map[string]any{"detectedLabels": out}, nil
	})
}

// field is what detection learns of one field of the sampled lines.
type field struct {
	values  map[string]bool
	types   map[string]bool
	parsers map[string]bool
}

// detectedFields answers /detected_fields (every field found in a sample of
// the newest lines, with type, cardinality and parser) and
// /detected_field/{name}/values.
func (a *API) detectedFields(w http.ResponseWriter, r *http.Request) {
	a.raw(w, r, func(r *http.Request, tenant string) (any, error) {
		fields, err := a.sampleFields(r, tenant)
		if err != nil {
			return nil, err
		}
		if name := pathParam(r.URL.Path, "/detected_field/", "/values"); name != "" {
			f := fields[name]
			vals := []string{}
			if f != nil {
				vals = sortedKeys(f.values)
			}
			return map[string]any{"values": vals}, nil
		}
		type detected struct {
			Label       string   `json:"label"`
			Type        string   `json:"type"`
			Cardinality int      `json:"cardinality"`
			Parsers     []string `json:"parsers"`
		}
		out := []detected{}
		for _, name := range sortedKeys(fieldKeys(fields)) {
			f := fields[name]
			var parsers []string
			if len(f.parsers) > 0 {
				parsers = sortedKeys(f.parsers)
			}
			out = append(out, detected{name, fieldType(f.types), len(f.values), parsers})
		}
		return map[string]any{"fields": out, "limit": len(out)}, nil
	})
}

// sampleFields parses up to line_limit (default 1000) of the newest matching
// lines with json or logfmt and collects their fields and structured metadata.
func (a *API) sampleFields(r *http.Request, tenant string) (map[string]*field, error) {
	start, end, err := a.timeRange(r)
	if err != nil {
		return nil, err
	}
	limit := 1000
	if v := r.Form.Get("line_limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
			return nil, badRequest("line_limit must be a positive integer, got %q", v)
		}
	}
	res, err := a.engine(tenant).Query(r.Context(), logql.QueryParams{
		Query: r.Form.Get("query"), Start: start, End: end, Limit: limit, Direction: logql.Backward})
	if err != nil {
		return nil, badRequest("query: %v", err)
	}
	fields := map[string]*field{}
	add := func(name, value, parser string) {
		f := fields[name]
		if f == nil {
			f = &field{values: map[string]bool{}, types: map[string]bool{}, parsers: map[string]bool{}}
			fields[name] = f
		}
		f.values[value] = true
		f.types[valueType(value)] = true
		if parser != "" {
			f.parsers[parser] = true
		}
	}
	for _, s := range res.Streams {
		for _, e := range s.Entries {
			e.Metadata.Range(func(l labels.Label) { add(l.Name, l.Value, "") })
			parseLineFields(e.Line, add)
		}
	}
	return fields, nil
}

// parseLineFields finds a line's top-level JSON fields or logfmt pairs.
func parseLineFields(line string, add func(name, value, parser string)) {
	if strings.HasPrefix(strings.TrimSpace(line), "{") {
		var obj map[string]any
		if json.Unmarshal([]byte(line), &obj) == nil {
			for k, v := range obj {
				if s, ok := v.(string); ok {
					add(k, s, "json")
				} else if b, err := json.Marshal(v); err == nil {
					add(k, string(b), "json")
				}
			}
			return
		}
	}
	for _, tok := range strings.Fields(line) {
		k, v, ok := strings.Cut(tok, "=")
		if ok && k != "" && !strings.ContainsAny(k, `"{}[]()<>`) {
			add(k, strings.Trim(v, `"`), "logfmt")
		}
	}
}

func valueType(v string) string {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return "int"
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return "float"
	}
	if _, err := strconv.ParseBool(v); err == nil {
		return "boolean"
	}
	if _, err := time.ParseDuration(v); err == nil {
		return "duration"
	}
	return "string"
}

// fieldType is a field's type when all its values agree, else string.
func fieldType(types map[string]bool) string {
	if len(types) == 1 {
		for t := range types {
			return t
		}
	}
	if len(types) == 2 && types["int"] && types["float"] {
		return "float"
	}
	return "string"
}

// raw runs h like handle but writes its result without the status envelope.
func (a *API) raw(w http.ResponseWriter, r *http.Request, h func(r *http.Request, tenant string) (any, error)) {
	tenant, err := a.tenant(r)
	if err == nil {
		err = r.ParseForm()
	}
	var data any
	if err == nil {
		data, err = h(r, tenant)
	}
	if err != nil {
		writeAPIError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(data)
}

func boolKeys(m map[string]map[string]bool) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func fieldKeys(m map[string]*field) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
