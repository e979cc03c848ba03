package ingest

import (
	"errors"
	"strings"
	"time"
)

// syslogMessage is one parsed syslog message. Its strings alias the input, so
// parsing allocates only to unescape structured-data values.
type syslogMessage struct {
	pri      int   // facility*8 + severity; syslogDefaultPRI when the message had none
	ts       int64 // ns since the epoch; 0 when absent or unparseable (use receive time)
	hostname string
	appName  string // RFC 5424 APP-NAME, or the RFC 3164 TAG without [pid] and ':'
	procID   string
	msgID    string
	sd       []syslogSDParam
	msg      string
	// raw marks a message that did not fit its grammar: msg is the whole input
	// and only pri (when it was valid) was taken from it.
	raw bool
}

// syslogSDParam is one PARAM-NAME="PARAM-VALUE" of an SD-ELEMENT.
type syslogSDParam struct {
	id, name, value string
}

// syslogDefaultPRI is user.notice, what rsyslog assumes for a message without PRI.
const syslogDefaultPRI = 13

func (m *syslogMessage) reset() {
	sd := m.sd[:0]
	*m = syslogMessage{pri: syslogDefaultPRI, sd: sd}
}

var errSyslogSyntax = errors.New("syslog: malformed message")

// parseSyslog parses one syslog message (framing removed). A message whose
// PRI is followed by "1 " is RFC 5424; anything else is parsed leniently as
// RFC 3164, as rsyslog does. Nothing is dropped: input that fits neither is
// kept whole as a raw message. now is the receive time (for the RFC 3164 year)
// and loc the zone of RFC 3164 timestamps, which carry none.
func parseSyslog(m *syslogMessage, s string, now time.Time, loc *time.Location) {
	m.reset()
	pri, rest, ok := parseSyslogPRI(s)
	switch {
	case !ok && strings.HasPrefix(s, "<"):
		m.raw, m.msg = true, s
	case ok && strings.HasPrefix(rest, "1 "):
		m.pri = pri
		if parseRFC5424(m, rest[2:]) != nil {
			m.reset()
			m.pri, m.raw, m.msg = pri, true, s
		}
	default:
		if ok {
			m.pri = pri
		}
		parseRFC3164(m, rest, now, loc)
	}
}

// parseSyslogPRI parses "<N>" (N in 0..191, no leading zeros but "<0>").
func parseSyslogPRI(s string) (pri int, rest string, ok bool) {
	if len(s) < 3 || s[0] != '<' {
		return 0, s, false
	}
	i := 1
	for ; i < len(s) && i <= 4 && syslogIsDigit(s[i]); i++ {
		pri = pri*10 + int(s[i]-'0')
	}
	n := i - 1
	if n == 0 || n > 3 || i >= len(s) || s[i] != '>' || pri > 191 || (n > 1 && s[1] == '0') {
		return 0, s, false
	}
	return pri, s[i+1:], true
}

// parseRFC5424 parses what follows "<PRI>1 ":
// TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG].
func parseRFC5424(m *syslogMessage, s string) error {
	tok, s, err := syslogField(s)
	if err != nil {
		return err
	}
	if tok != "-" {
		if m.ts, err = parseSyslogTimestamp(tok); err != nil {
			return err
		}
	}
	for _, dst := range []*string{&m.hostname, &m.appName, &m.procID, &m.msgID} {
		if tok, s, err = syslogField(s); err != nil {
			return err
		}
		if tok != "-" {
			*dst = tok
		}
	}
	if s, err = parseSyslogSD(m, s); err != nil {
		return err
	}
	switch {
	case s == "":
	case s[0] == ' ':
		m.msg = strings.TrimPrefix(s[1:], "\ufeff")
	default:
		return errSyslogSyntax
	}
	return nil
}

// syslogField returns the header field before the next SP and what follows
// that SP.
func syslogField(s string) (field, rest string, err error) {
	i := strings.IndexByte(s, ' ')
	if i <= 0 {
		return "", s, errSyslogSyntax
	}
	return s[:i], s[i+1:], nil
}

// parseSyslogSD parses STRUCTURED-DATA: "-" or one or more
// [SD-ID *(SP PARAM-NAME="PARAM-VALUE")], values escaping '"', '\' and ']'.
func parseSyslogSD(m *syslogMessage, s string) (string, error) {
	if strings.HasPrefix(s, "-") {
		return s[1:], nil
	}
	if !strings.HasPrefix(s, "[") {
		return s, errSyslogSyntax
	}
	for strings.HasPrefix(s, "[") {
		id, rest, ok := syslogSDName(s[1:])
		if !ok {
			return s, errSyslogSyntax
		}
		s = rest
		for strings.HasPrefix(s, " ") {
			var p syslogSDParam
			var err error
			if p, s, err = parseSyslogSDParam(s[1:]); err != nil {
				return s, err
			}
			p.id = id
			m.sd = append(m.sd, p)
		}
		if !strings.HasPrefix(s, "]") {
			return s, errSyslogSyntax
		}
		s = s[1:]
	}
	return s, nil
}

// parseSyslogSDParam parses PARAM-NAME="PARAM-VALUE".
func parseSyslogSDParam(s string) (syslogSDParam, string, error) {
	name, s, ok := syslogSDName(s)
	if !ok || !strings.HasPrefix(s, `="`) {
		return syslogSDParam{}, s, errSyslogSyntax
	}
	s = s[2:]
	escaped := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			v := s[:i]
			if escaped {
				v = syslogUnescapeSD(v)
			}
			return syslogSDParam{name: name, value: v}, s[i+1:], nil
		}
	}
	return syslogSDParam{}, s, errSyslogSyntax
}

// sdName returns the SD-NAME at the start of s: 1 to 32 printable US-ASCII
// characters other than '=', SP, ']' and '"' (longer names are accepted).
func syslogSDName(s string) (name, rest string, ok bool) {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 127 || c == '=' || c == ']' || c == '"' {
			break
		}
	}
	return s[:i], s[i:], i > 0
}

// unescapeSDValue resolves \" \\ and \]; a backslash before anything else is
// kept, as RFC 5424 section 6.3.3 requires.
func syslogUnescapeSD(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\' || v[i+1] == ']') {
			i++
			c = v[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}

// parseRFC3339 parses an RFC 5424 TIMESTAMP (RFC 3339 with at most 9
// fractional digits) into ns since the epoch, without allocating.
func parseSyslogTimestamp(s string) (int64, error) {
	// 2006-01-02T15:04:05 is 19 bytes, then [.frac] and Z or +hh:mm.
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return 0, errSyslogSyntax
	}
	year, ok1 := syslogAtoi(s[0:4])
	month, ok2 := syslogAtoi(s[5:7])
	day, ok3 := syslogAtoi(s[8:10])
	t, ok4 := parseSyslogClock(s[11:19], year, time.Month(month), day, time.UTC)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return 0, errSyslogSyntax
	}
	frac, rest := parseSyslogFraction(s[19:])
	var offset int
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		hh, okh := syslogAtoi(rest[1:3])
		mm, okm := syslogAtoi(rest[4:6])
		if !okh || !okm || hh > 23 || mm > 59 {
			return 0, errSyslogSyntax
		}
		offset = (hh*60 + mm) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, errSyslogSyntax
	}
	return t.Add(-time.Duration(offset)*time.Second).UnixNano() + frac, nil
}

// parseClock parses "hh:mm:ss" and returns that time of the given day, or
// false when a field is out of range (a leap second 60 is taken as 59).
func parseSyslogClock(s string, year int, month time.Month, day int, loc *time.Location) (time.Time, bool) {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := syslogAtoi(s[0:2])
	mm, ok2 := syslogAtoi(s[3:5])
	ss, ok3 := syslogAtoi(s[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 || month < 1 || month > 12 || day < 1 || day > 31 {
		return time.Time{}, false
	}
	ss = min(ss, 59)
	t := time.Date(year, month, day, hh, mm, ss, 0, loc)
	if t.Day() != day { // Feb 30 and the like
		return time.Time{}, false
	}
	return t, true
}

// parseFraction parses an optional ".ddd" (1 to 9 digits) into ns.
func parseSyslogFraction(s string) (ns int64, rest string) {
	if !strings.HasPrefix(s, ".") {
		return 0, s
	}
	i := 1
	scale := int64(1e9)
	for ; i < len(s) && syslogIsDigit(s[i]); i++ {
		if i <= 9 {
			scale /= 10
			ns += int64(s[i]-'0') * scale
		}
	}
	if i == 1 {
		return 0, s // a lone '.': let the caller reject it
	}
	return ns, s[i:]
}

// atoiN parses a fixed-width run of decimal digits.
func syslogAtoi(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !syslogIsDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, len(s) > 0
}

func syslogIsDigit(c byte) bool { return c >= '0' && c <= '9' }

// Facility and severity keywords, as rsyslog's syslogfacility-text and
// syslogseverity-text name them.
var (
	syslogFacilities = [24]string{
		"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
		"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
	}
	syslogSeverities = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
	// syslogLevels maps a severity to Loki's detected_level vocabulary.
	syslogLevels = [8]string{"critical", "critical", "critical", "error", "warn", "info", "info", "debug"}
)
