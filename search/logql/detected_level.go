package logql

import (
	"strings"
)

// Level values of detected_level, as Loki reports them.
const (
	levelTrace    = "trace"
	levelDebug    = "debug"
	levelInfo     = "info"
	levelWarn     = "warn"
	levelError    = "error"
	levelCritical = "critical"
	levelFatal    = "fatal"
	levelUnknown  = "unknown"
)

// levelLabels are the label or metadata names that carry a level already.
var levelLabels = []string{"level", "LEVEL", "Level", "lvl", "severity", "SEVERITY", "Severity", "severity_text", "log.level", "log_level", "loglevel"}

// detectLevel guesses an entry's level: first from a level label or
// structured metadata, then from a level field of a JSON or logfmt line,
// then from the first level word in the line.
func detectLevel(line string, lbs *labelSet) string {
	for _, n := range levelLabels {
		if v, ok := lbs.get(n); ok && v != "" {
			return normalizeLevel(v)
		}
	}
	if v, ok := levelField(line); ok {
		return normalizeLevel(v)
	}
	if strings.IndexByte(line, 0x1b) >= 0 {
		line = ansiRE.ReplaceAllString(line, "")
	}
	return levelFromWords(line)
}

// levelField finds "level":"x" (JSON) or level=x (logfmt) without a full parse.
func levelField(line string) (string, bool) {
	for _, key := range []string{"level", "lvl", "severity", "LEVEL", "Level"} {
		if i := strings.Index(line, `"`+key+`":`); i >= 0 {
			rest := strings.TrimLeft(line[i+len(key)+3:], " ")
			if strings.HasPrefix(rest, `"`) {
				if j := strings.IndexByte(rest[1:], '"'); j >= 0 {
					return rest[1 : j+1], true
				}
			}
		}
		if i := strings.Index(line, key+"="); i >= 0 && (i == 0 || line[i-1] == ' ') {
			rest := line[i+len(key)+1:]
			rest = strings.TrimPrefix(rest, `"`)
			j := strings.IndexAny(rest, "\" \t")
			if j < 0 {
				j = len(rest)
			}
			return rest[:j], true
		}
	}
	return "", false
}

// normalizeLevel maps the many spellings of a level to Loki's names;
// anything else is returned lower-cased (OpenTelemetry and syslog numbers
// are mapped too).
func normalizeLevel(v string) string {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "trace", "trc", "tracing":
		return levelTrace
	case "debug", "dbg", "debu", "7":
		return levelDebug
	case "info", "inf", "information", "informational", "notice", "6", "5":
		return levelInfo
	case "warn", "warning", "wrn", "4":
		return levelWarn
	case "error", "err", "eror", "3":
		return levelError
	case "critical", "crit", "alert", "emerg", "emergency", "2", "1", "0":
		return levelCritical
	case "fatal", "panic":
		return levelFatal
	case "":
		return levelUnknown
	}
	return strings.ToLower(v)
}

// levelFromWords scans the line for the first whole word that names a level.
func levelFromWords(line string) string {
	i := 0
	for i < len(line) {
		for i < len(line) && !isLetter(line[i]) {
			i++
		}
		j := i
		for j < len(line) && isLetter(line[j]) {
			j++
		}
		if l := wordLevel(line[i:j]); l != "" {
			return l
		}
		i = j
	}
	return levelUnknown
}

func wordLevel(w string) string {
	if len(w) < 3 || len(w) > 8 {
		return ""
	}
	switch strings.ToLower(w) {
	case "trace":
		return levelTrace
	case "debug":
		return levelDebug
	case "info":
		return levelInfo
	case "warn", "warning":
		return levelWarn
	case "error", "err":
		return levelError
	case "critical", "crit":
		return levelCritical
	case "fatal", "panic":
		return levelFatal
	}
	return ""
}
