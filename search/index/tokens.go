package index

// isWordByte reports whether c is part of a token: an ASCII letter or digit, or any
// byte of a UTF-8 multi-byte sequence (>= 0x80). '_' is a separator: it splits
// `attempt_1445_m_000012` into a word and ID-like parts (see FORMAT.md for the
// measurement behind this).
func isWordByte(c byte) bool {
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// isIDByte reports whether c may occur in an ID-like token.
func isIDByte(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
}

// IsIDLike reports whether tok (a token) is kept in the block's bloom filter rather
// than in bleve: every byte in [0-9a-f] and at least one digit. That is the issue's
// rule (>= 5 bytes of [0-9a-f.,_] with a digit) widened to short tokens, so pure
// numbers of any length, IP parts and UUID parts all count: measured on loghub,
// 1-4 digit numbers are 85% of a block's distinct non-ID terms under the 5-byte
// rule, and each one costs a bleve posting per block.
func IsIDLike(tok string) bool {
	if len(tok) == 0 {
		return false
	}
	digit := false
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !isIDByte(c) {
			return false
		}
		if c >= '0' && c <= '9' {
			digit = true
		}
	}
	return digit
}

// mayBePartOfID reports whether a fragment could be part of an ID-like token, that
// is whether every byte is in [0-9a-f].
func mayBePartOfID(frag string) bool {
	for i := 0; i < len(frag); i++ {
		if !isIDByte(frag[i]) {
			return false
		}
	}
	return true
}

// Tokens calls fn for each token of line, in order, with a subslice of line.
func Tokens(line []byte, fn func(tok []byte)) {
	start := -1
	for i := 0; i < len(line); i++ {
		if isWordByte(line[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			fn(line[start:i])
			start = -1
		}
	}
	if start >= 0 {
		fn(line[start:])
	}
}

// FragmentKind says how much of a line token a query fragment is known to be.
type FragmentKind uint8

const (
	// Whole: bounded by non-word bytes on both sides inside the query string, so
	// a matching line holds it as a whole token.
	Whole FragmentKind = iota
	// Prefix: bounded on the left only; the line token starts with it.
	Prefix
	// Suffix: bounded on the right only; the line token ends with it.
	Suffix
	// Infix: the query string is one word run; the line token contains it.
	Infix
)

func (k FragmentKind) String() string {
	switch k {
	case Whole:
		return "whole"
	case Prefix:
		return "prefix"
	case Suffix:
		return "suffix"
	default:
		return "infix"
	}
}

// Fragment is a maximal word run of a `|=` query string.
type Fragment struct {
	Text string
	Kind FragmentKind
}

// Fragments splits a `|=` string into its word runs and says of each whether a
// line containing s must hold it as a whole token, or only as a prefix, suffix or
// infix of one (see FORMAT.md).
func Fragments(s string) []Fragment {
	var out []Fragment
	Tokens([]byte(s), func(tok []byte) {
		out = append(out, Fragment{Text: string(tok)})
	})
	if len(out) == 0 {
		return nil
	}
	leftOpen := isWordByte(s[0])
	rightOpen := isWordByte(s[len(s)-1])
	last := len(out) - 1
	for i := range out {
		l, r := leftOpen && i == 0, rightOpen && i == last
		switch {
		case l && r:
			out[i].Kind = Infix
		case l:
			out[i].Kind = Suffix
		case r:
			out[i].Kind = Prefix
		default:
			out[i].Kind = Whole
		}
	}
	return out
}
