package ingest

import (
	"strings"
	"time"
)

// parseRFC3164 parses what follows an RFC 3164 PRI (or a message without
// one), leniently as rsyslog's pmrfc3164 does:
//
//	[TIMESTAMP SP [HOSTNAME SP]] [TAG["[" PID "]"] ":" [SP]] MSG
//
// TIMESTAMP is "Mmm dd hh:mm:ss" (day space- or zero-padded, optionally with a
// year before the clock and a fraction after it) or RFC 3339, as rsyslog's
// RSYSLOG_ForwardFormat sends. A timestamp without a year takes the year that
// puts it closest before now (plus a day of clock skew); one without a zone is
// in loc. HOSTNAME is only looked for after a timestamp, as in rsyslog. Unlike
// rsyslog, a first word not ended by ':' is not taken as a TAG: it stays in
// MSG, so a message without a tag loses nothing.
func parseRFC3164(m *syslogMessage, s string, now time.Time, loc *time.Location) {
	if ts, rest, ok := parseRFC3164Timestamp(s, now, loc); ok {
		m.ts = ts
		s = rest
		if h, rest, ok := rfc3164Hostname(s); ok {
			m.hostname, s = h, rest
		}
	}
	if tag, pid, rest, ok := rfc3164Tag(s); ok {
		m.appName, m.procID, s = tag, pid, rest
	}
	m.msg = s
}

// parseRFC3164Timestamp parses a timestamp followed by SP (or ending s).
func parseRFC3164Timestamp(s string, now time.Time, loc *time.Location) (ts int64, rest string, ok bool) {
	if len(s) >= 20 && syslogIsDigit(s[0]) {
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		ts, err := parseSyslogTimestamp(s[:end])
		if err != nil {
			return 0, s, false
		}
		return ts, strings.TrimPrefix(s[end:], " "), true
	}
	if len(s) < 14 || s[3] != ' ' {
		return 0, s, false
	}
	month := syslogMonth(s[:3])
	if month == 0 {
		return 0, s, false
	}
	// Day: "dd", " d" (RFC 3164's space padding) or "d".
	p := s[4:]
	if p[0] == ' ' {
		p = p[1:]
	}
	i := 0
	for i < len(p) && i < 2 && syslogIsDigit(p[i]) {
		i++
	}
	day, okd := syslogAtoi(p[:i])
	if !okd || i >= len(p) || p[i] != ' ' {
		return 0, s, false
	}
	p = p[i+1:]
	year, explicitYear := now.In(loc).Year(), false
	if len(p) >= 5 && p[4] == ' ' { // "Mmm dd yyyy hh:mm:ss", as Cisco devices send
		if y, ok := syslogAtoi(p[:4]); ok {
			year, explicitYear, p = y, true, p[5:]
		}
	}
	if len(p) < 8 {
		return 0, s, false
	}
	t, okc := parseSyslogClock(p[:8], year, month, day, loc)
	if !okc {
		return 0, s, false
	}
	frac, p := parseSyslogFraction(p[8:])
	if p != "" && p[0] != ' ' {
		return 0, s, false
	}
	if !explicitYear && t.After(now.Add(24*time.Hour)) {
		// December's messages read in January belong to last year.
		t = time.Date(t.Year()-1, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
	}
	return t.UnixNano() + frac, strings.TrimPrefix(p, " "), true
}

func syslogMonth(s string) time.Month {
	const months = "JanFebMarAprMayJunJulAugSepOctNovDec"
	for i := 0; i < 12; i++ {
		if strings.EqualFold(months[3*i:3*i+3], s) {
			return time.Month(i + 1)
		}
	}
	return 0
}

// rfc3164Hostname takes the next word as HOSTNAME when it is followed by SP,
// does not end with ':' (then it is a TAG) and holds only hostname or IP
// address characters.
func rfc3164Hostname(s string) (host, rest string, ok bool) {
	i := strings.IndexByte(s, ' ')
	if i <= 0 || s[i-1] == ':' {
		return "", s, false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		if !(syslogIsDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '-' || c == '_' || c == ':') {
			return "", s, false
		}
	}
	return s[:i], s[i+1:], true
}

// rfc3164MaxTag bounds TAG, longer than RFC 3164's 32 as rsyslog accepts.
const rfc3164MaxTag = 128

// rfc3164Tag parses TAG["[" PID "]"] ":" and one following SP.
func rfc3164Tag(s string) (tag, pid, rest string, ok bool) {
	i := 0
	for i < len(s) && i <= rfc3164MaxTag && s[i] != ':' && s[i] != '[' && s[i] != ' ' {
		i++
	}
	if i == 0 || i > rfc3164MaxTag || i == len(s) {
		return "", "", s, false
	}
	tag, p := s[:i], s[i:]
	if p[0] == '[' {
		end := strings.IndexByte(p, ']')
		if end < 0 || end > rfc3164MaxTag || strings.IndexByte(p[:end], ' ') >= 0 {
			return "", "", s, false
		}
		pid, p = p[1:end], p[end+1:]
	}
	if !strings.HasPrefix(p, ":") {
		return "", "", s, false
	}
	return tag, pid, strings.TrimPrefix(p[1:], " "), true
}
