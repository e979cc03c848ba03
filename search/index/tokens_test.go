package index

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestFragments(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []Fragment
	}{
		{"empty", "", nil},
		{"punctuation only", " -:", nil},
		{"one word is an infix", "error", []Fragment{{"error", Infix}}},
		{"word then space is a suffix", "foo ", []Fragment{{"foo", Suffix}}},
		{"space then word is a prefix", " foo", []Fragment{{"foo", Prefix}}},
		{"bounded word is whole", " foo ", []Fragment{{"foo", Whole}}},
		{"issue example", "foo bar-ba", []Fragment{{"foo", Suffix}, {"bar", Whole}, {"ba", Prefix}}},
		{"underscore separates", "blk_-16089", []Fragment{{"blk", Suffix}, {"16089", Prefix}}},
		{"underscore bounds", "attempt_1445_m", []Fragment{{"attempt", Suffix}, {"1445", Whole}, {"m", Prefix}}},
		{"ip", "10.251.43.21", []Fragment{{"10", Suffix}, {"251", Whole}, {"43", Whole}, {"21", Prefix}}},
		{"utf-8 stays in a word", "é-x", []Fragment{{"é", Suffix}, {"x", Prefix}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Fragments(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Fragments(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestIsIDLike(t *testing.T) {
	for _, tc := range []struct {
		tok  string
		want bool
	}{
		{"081109", true},
		{"3a5f9c0d", true},
		{"1608999687919862906", true},
		{"dead_beef1", false}, // never a token: '_' separates
		{"1234", true},        // short numbers too
		{"4fbb", true},        // UUID part
		{"7", true},
		{"ab", false},         // no digit
		{"deadbeef", false},   // no digit
		{"Ab123", false},      // upper case
		{"blk", false},        // no digit
		{"error12345", false}, // r, o
	} {
		if got := IsIDLike(tc.tok); got != tc.want {
			t.Errorf("IsIDLike(%q) = %v, want %v", tc.tok, got, tc.want)
		}
	}
}

func tokenSet(line string) []string {
	var toks []string
	Tokens([]byte(line), func(tok []byte) { toks = append(toks, string(tok)) })
	return toks
}

// checkFragments fails when a line containing q lacks a token that q's fragments
// promise (see FORMAT.md): the invariant the index's exactness rests on.
func checkFragments(t *testing.T, line, q string) {
	if !strings.Contains(line, q) {
		return
	}
	toks := tokenSet(line)
	for _, f := range Fragments(q) {
		found := false
		for _, tok := range toks {
			switch f.Kind {
			case Whole:
				found = tok == f.Text
			case Prefix:
				found = strings.HasPrefix(tok, f.Text)
			case Suffix:
				found = strings.HasSuffix(tok, f.Text)
			case Infix:
				found = strings.Contains(tok, f.Text)
			}
			if found {
				if (f.Kind == Whole) && IsIDLike(f.Text) != IsIDLike(tok) {
					t.Fatalf("whole %q and token %q classed differently", f.Text, tok)
				}
				if f.Kind != Whole && !mayBePartOfID(f.Text) && IsIDLike(tok) {
					t.Fatalf("fragment %q outside [0-9a-f] is part of ID-like token %q", f.Text, tok)
				}
				break
			}
		}
		if !found {
			t.Fatalf("line %q contains %q but no token holds %s fragment %q (tokens %q)", line, q, f.Kind, f.Text, toks)
		}
	}
}

func FuzzFragments(f *testing.F) {
	for _, s := range [][2]string{
		{"081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_-1608999687919862906", "blk_-16089"},
		{"foo bar-baz qux", "foo bar-ba"},
		{"src: /10.250.19.102:54106", "10.250.19.10"},
		{"Ünïcode wörds ok", "ïcode w"},
		{"a\x80b c", "\x80b "},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, line, q string) {
		checkFragments(t, line, q)
		// Every substring of the line is a query the line must satisfy.
		if len(line) <= 64 {
			for i := 0; i < len(line); i++ {
				for j := i + 1; j <= len(line); j++ {
					checkFragments(t, line, line[i:j])
				}
			}
		}
	})
}

func TestMatchingTerms(t *testing.T) {
	ts := newTermSet()
	for _, w := range []string{"error", "errors", "ErrorCode", "terror", "mirror", "xerrorx", "error"} {
		ts.add(w)
	}
	for _, tc := range []struct {
		f     Fragment
		limit int
		want  string
		ok    bool
	}{
		{Fragment{Text: "error", Kind: Infix}, 10, "[error errors terror xerrorx]", true},
		{Fragment{Text: "error", Kind: Suffix}, 10, "[error terror]", true},
		{Fragment{Text: "rror", Kind: Suffix}, 10, "[error terror mirror]", true},
		{Fragment{Text: "rror", Kind: Infix}, 3, "[]", false},
		{Fragment{Text: "nothing", Kind: Infix}, 3, "[]", true},
	} {
		got, ok := matchingTerms(ts.blob, tc.f, tc.limit)
		if fmt.Sprint(got) != tc.want || ok != tc.ok {
			t.Errorf("%+v: %v %v, want %s %v", tc.f, got, ok, tc.want, tc.ok)
		}
	}
}
