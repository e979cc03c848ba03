package ingest

import (
	"bytes"
	"errors"
	"io"
)

// syslogFramer splits a TCP byte stream into syslog messages (RFC 6587),
// detecting the framing of each message by its first byte: a digit starts
// octet counting ("LEN SP MSG"), anything else is non-transparent framing,
// ended by LF or NUL. A message over max bytes is truncated to max and the
// rest of its frame skipped, as rsyslog does. The framer keeps a partial frame
// across read errors (deadlines), so a timed-out read can be retried.
type syslogFramer struct {
	r   io.Reader
	max int
	buf []byte // buf[start:end] is read and not yet returned
	// start and end index buf.
	start, end int
	// skip is how many bytes of an oversize frame remain to be discarded;
	// skipLine discards up to the next LF or NUL instead.
	skip     int
	skipLine bool
}

// syslogMaxOctetDigits bounds the length prefix: more digits than this is not
// octet counting.
const syslogMaxOctetDigits = 9

func newSyslogFramer(r io.Reader, max int) *syslogFramer {
	return &syslogFramer{r: r, max: max, buf: make([]byte, max+syslogMaxOctetDigits+2)}
}

// next returns the next message, valid until the following call. Empty
// non-transparent frames (blank lines) are skipped. At the end of the stream
// a final unterminated message is returned before io.EOF.
func (f *syslogFramer) next() ([]byte, error) {
	for {
		msg, ok := f.frame()
		if ok {
			if len(msg) == 0 {
				continue
			}
			return msg, nil
		}
		if err := f.fill(); err != nil {
			if errors.Is(err, io.EOF) && f.end > f.start && f.skip == 0 && !f.skipLine {
				msg := f.buf[f.start:f.end]
				f.start = f.end
				if n, digits, complete := syslogOctetCount(msg); complete && n >= 0 && msg[0] != '0' {
					msg = msg[digits+1:] // a cut-off octet-counted frame: keep what came
				}
				if len(msg) > 0 {
					return msg, nil
				}
			}
			return nil, err
		}
	}
}

// frame returns a complete message from the buffer, if there is one.
func (f *syslogFramer) frame() ([]byte, bool) {
	if !f.discard() {
		return nil, false
	}
	b := f.buf[f.start:f.end]
	if len(b) == 0 {
		return nil, false
	}
	if b[0] >= '1' && b[0] <= '9' {
		n, digits, complete := syslogOctetCount(b)
		if complete && n >= 0 {
			if len(b) < digits+1+min(n, f.max) {
				return nil, false
			}
			msg := b[digits+1 : digits+1+min(n, f.max)]
			f.start += digits + 1 + len(msg)
			f.skip = n - len(msg)
			return msg, true
		}
		if !complete {
			return nil, false
		}
	}
	if i := bytes.IndexAny(b, "\n\x00"); i >= 0 {
		f.start += i + 1
		return b[:min(i, f.max)], true
	}
	if len(b) >= f.max {
		f.start += len(b)
		f.skipLine = true
		return b[:f.max], true
	}
	return nil, false
}

// octetCount parses the "LEN SP" prefix of b. complete is false while more
// bytes are needed to decide; n is -1 when b does not start with one.
func syslogOctetCount(b []byte) (n, digits int, complete bool) {
	for digits < len(b) && digits <= syslogMaxOctetDigits && syslogIsDigit(b[digits]) {
		n = n*10 + int(b[digits]-'0')
		digits++
	}
	switch {
	case digits == 0 || digits > syslogMaxOctetDigits:
		return -1, 0, true
	case digits == len(b):
		return 0, 0, false
	case b[digits] != ' ':
		return -1, 0, true
	}
	return n, digits, true
}

// discard drops the rest of an oversize frame; it reports whether it is done.
func (f *syslogFramer) discard() bool {
	if f.skip > 0 {
		k := min(f.skip, f.end-f.start)
		f.start += k
		f.skip -= k
		return f.skip == 0
	}
	if f.skipLine {
		b := f.buf[f.start:f.end]
		if i := bytes.IndexAny(b, "\n\x00"); i >= 0 {
			f.start += i + 1
			f.skipLine = false
			return true
		}
		f.start = f.end
		return false
	}
	return true
}

// fill compacts the buffer and reads more bytes into it.
func (f *syslogFramer) fill() error {
	if f.start > 0 {
		f.end = copy(f.buf, f.buf[f.start:f.end])
		f.start = 0
	}
	n, err := f.r.Read(f.buf[f.end:])
	f.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}
