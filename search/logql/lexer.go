package logql

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber   // 1, 1.5, 1e3
	tDuration // a number followed by a unit: 5m, 1h30m, 20MB
	tFlag     // --strict
	tLBrace
	tRBrace
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tEq      // =
	tNeq     // !=
	tRe      // =~
	tNre     // !~
	tPipeEq  // |=
	tPipeRe  // |~
	tPipe    // |
	tGt      // >
	tGte     // >=
	tLt      // <
	tLte     // <=
	tCmpEq   // ==
	tAdd     // +
	tSub     // -
	tMul     // *
	tDiv     // /
	tMod     // %
	tPow     // ^
	tPipePat // |>
	tNotPat  // !>
)

var tokNames = map[tokKind]string{
	tEOF: "end of query", tIdent: "identifier", tString: "string", tNumber: "number",
	tDuration: "duration", tFlag: "flag", tLBrace: "{", tRBrace: "}", tLParen: "(",
	tRParen: ")", tLBrack: "[", tRBrack: "]", tComma: ",", tEq: "=", tNeq: "!=",
	tRe: "=~", tNre: "!~", tPipeEq: "|=", tPipeRe: "|~", tPipe: "|", tGt: ">",
	tGte: ">=", tLt: "<", tLte: "<=", tCmpEq: "==", tAdd: "+", tSub: "-", tMul: "*",
	tDiv: "/", tMod: "%", tPow: "^", tPipePat: "|>", tNotPat: "!>",
}

func (k tokKind) String() string { return tokNames[k] }

// token is one lexical token; text is the decoded value for strings.
type token struct {
	kind tokKind
	pos  int // byte offset in the query
	text string
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string " + strconv.Quote(t.text)
	case tIdent, tNumber, tDuration, tFlag:
		return fmt.Sprintf("%s %q", t.kind, t.text)
	}
	return fmt.Sprintf("%q", t.kind.String())
}

// ParseError is a syntax or validation error with its position in the query.
type ParseError struct {
	Pos       int // byte offset
	Line, Col int // 1-based; Col counts characters
	Msg       string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("parse error at line %d, col %d: %s", e.Line, e.Col, e.Msg)
}

func newParseError(q string, pos int, msg string) *ParseError {
	if pos > len(q) {
		pos = len(q)
	}
	line, col := 1, 1
	for _, r := range q[:pos] {
		if r == '\n' {
			line++
			col = 1
			continue
		}
		col++
	}
	return &ParseError{Pos: pos, Line: line, Col: col, Msg: msg}
}

// two-character operators, longest match first.
var operators2 = map[string]tokKind{
	"!=": tNeq, "=~": tRe, "!~": tNre, "|=": tPipeEq, "|~": tPipeRe, ">=": tGte,
	"<=": tLte, "==": tCmpEq, "|>": tPipePat, "!>": tNotPat,
}

var operators1 = map[byte]tokKind{
	'{': tLBrace, '}': tRBrace, '(': tLParen, ')': tRParen, '[': tLBrack, ']': tRBrack,
	',': tComma, '=': tEq, '|': tPipe, '>': tGt, '<': tLt, '+': tAdd, '-': tSub,
	'*': tMul, '/': tDiv, '%': tMod, '^': tPow,
}

// lex splits a query into tokens, ending with tEOF.
func lex(q string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '#': // comment to end of line
			for i < len(q) && q[i] != '\n' {
				i++
			}
			continue
		case c == '"' || c == '`':
			s, n, err := lexString(q[i:])
			if err != nil {
				return nil, newParseError(q, i, err.Error())
			}
			toks = append(toks, token{kind: tString, pos: i, text: s})
			i += n
			continue
		case isDigit(c) || (c == '.' && i+1 < len(q) && isDigit(q[i+1])):
			t := lexNumber(q, i)
			toks = append(toks, t)
			i += len(t.text)
			continue
		case c == '-' && i+2 < len(q) && q[i+1] == '-' && isIdentStart(q[i+2]):
			j := i + 2
			for j < len(q) && (isIdentChar(q[j]) || q[j] == '-') {
				j++
			}
			toks = append(toks, token{kind: tFlag, pos: i, text: q[i:j]})
			i = j
			continue
		case isIdentStart(c):
			j := i
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, pos: i, text: q[i:j]})
			i = j
			continue
		}
		if i+1 < len(q) {
			if k, ok := operators2[q[i:i+2]]; ok {
				toks = append(toks, token{kind: k, pos: i, text: q[i : i+2]})
				i += 2
				continue
			}
		}
		if k, ok := operators1[c]; ok {
			toks = append(toks, token{kind: k, pos: i, text: q[i : i+1]})
			i++
			continue
		}
		r, _ := utf8.DecodeRuneInString(q[i:])
		return nil, newParseError(q, i, fmt.Sprintf("unexpected character %q", r))
	}
	return append(toks, token{kind: tEOF, pos: len(q)}), nil
}

// lexString decodes a double-quoted (Go escapes) or backquoted (raw) string
// at the start of s and returns it with the number of bytes consumed.
func lexString(s string) (string, int, error) {
	quote := s[0]
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quote == '"' {
				i++
			}
		case '\n':
			if quote == '"' {
				return "", 0, fmt.Errorf("newline in string")
			}
		case quote:
			if quote == '`' {
				return s[1:i], i + 1, nil
			}
			v, err := strconv.Unquote(s[:i+1])
			if err != nil {
				return "", 0, fmt.Errorf("invalid string %s: %v", s[:i+1], err)
			}
			return v, i + 1, nil
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

// lexNumber reads a number and, glued to it, a unit (5m, 1h30m, 10KiB).
func lexNumber(q string, i int) token {
	start := i
	for i < len(q) && (isDigit(q[i]) || q[i] == '.') {
		i++
	}
	// Exponent: 1e3, 1.5E-2 (but not 1ms or 1e, which is not a number).
	if i < len(q) && (q[i] == 'e' || q[i] == 'E') {
		j := i + 1
		if j < len(q) && (q[j] == '+' || q[j] == '-') {
			j++
		}
		if j < len(q) && isDigit(q[j]) {
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			i = j
		}
	}
	if i < len(q) && (isLetter(q[i]) || strings.HasPrefix(q[i:], "µ")) {
		for i < len(q) && (isLetter(q[i]) || isDigit(q[i]) || q[i] == '.' || strings.HasPrefix(q[i:], "µ")) {
			if strings.HasPrefix(q[i:], "µ") {
				i += len("µ")
				continue
			}
			i++
		}
		return token{kind: tDuration, pos: start, text: q[start:i]}
	}
	return token{kind: tNumber, pos: start, text: q[start:i]}
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isLetter(c byte) bool     { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isIdentStart(c byte) bool { return isLetter(c) || c == '_' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }
