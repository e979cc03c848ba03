package logql

import (
	"github.com/prometheus/prometheus/model/labels"
)

// Names of the labels the engine itself sets.
const (
	ErrorLabel        = "__error__"
	ErrorDetailsLabel = "__error_details__"
	DetectedLevel     = "detected_level"
)

// Values of ErrorLabel, as Loki names them.
const (
	errJSON        = "JSONParserErr"
	errLogfmt      = "LogfmtParserErr"
	errLabelFilter = "LabelFilterErr"
	errSample      = "SampleExtractionErr"
	errTemplate    = "TemplateFormatErr"
)

// category says where a label came from; the categorize-labels encoding of
// the Loki API reports the three separately.
type category uint8

const (
	catStream category = iota
	catMeta
	catParsed
)

type label struct {
	name, value string
	cat         category
}

// labelSet is the mutable label set of one entry while the pipeline runs.
// It is reused across entries: reset starts it over without allocating.
type labelSet struct {
	stream labels.Labels
	kv     []label
}

func (ls *labelSet) reset(stream, meta labels.Labels) {
	ls.stream = stream
	ls.kv = ls.kv[:0]
	stream.Range(func(l labels.Label) { ls.kv = append(ls.kv, label{l.Name, l.Value, catStream}) })
	meta.Range(func(l labels.Label) { ls.set(l.Name, l.Value, catMeta) })
}

func (ls *labelSet) index(name string) int {
	for i := range ls.kv {
		if ls.kv[i].name == name {
			return i
		}
	}
	return -1
}

func (ls *labelSet) get(name string) (string, bool) {
	if i := ls.index(name); i >= 0 {
		return ls.kv[i].value, true
	}
	return "", false
}

// set adds or overwrites a label; an overwritten label takes the new category.
func (ls *labelSet) set(name, value string, cat category) {
	if i := ls.index(name); i >= 0 {
		ls.kv[i].value, ls.kv[i].cat = value, cat
		return
	}
	ls.kv = append(ls.kv, label{name, value, cat})
}

// setParsed adds a label extracted from the line; a name that clashes with a
// stream label gets the suffix _extracted, as in Loki.
func (ls *labelSet) setParsed(name, value string) {
	if ls.stream.Has(name) {
		name += "_extracted"
	}
	ls.set(name, value, catParsed)
}

func (ls *labelSet) del(name string) {
	if i := ls.index(name); i >= 0 {
		ls.kv = append(ls.kv[:i], ls.kv[i+1:]...)
	}
}

func (ls *labelSet) hasErr() bool {
	_, ok := ls.get(ErrorLabel)
	return ok
}

// setErr records the first error of the entry.
func (ls *labelSet) setErr(kind, details string) {
	if ls.hasErr() {
		return
	}
	ls.set(ErrorLabel, kind, catParsed)
	if details != "" {
		ls.set(ErrorDetailsLabel, details, catParsed)
	}
}

// build returns the labels of the categories in mask (a bit per category).
func (ls *labelSet) build(b *labels.ScratchBuilder, mask uint8) labels.Labels {
	b.Reset()
	for _, l := range ls.kv {
		if mask&(1<<l.cat) != 0 {
			b.Add(l.name, l.value)
		}
	}
	b.Sort()
	return b.Labels()
}

const (
	maskAll    = 1<<catStream | 1<<catMeta | 1<<catParsed
	maskStream = 1 << catStream
	maskMeta   = 1 << catMeta
	maskParsed = 1 << catParsed
)

// asMap returns the labels as template data.
func (ls *labelSet) asMap() map[string]string {
	m := make(map[string]string, len(ls.kv))
	for _, l := range ls.kv {
		m[l.name] = l.value
	}
	return m
}
