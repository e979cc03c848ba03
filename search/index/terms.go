package index

import (
	"bytes"
	"fmt"
)

// termSet is every distinct term of the tokens field, kept in memory so that
// a suffix or infix fragment is matched against the vocabulary with one
// bytes.Index sweep instead of a walk of bleve's term dictionary. The blob is
// "\n" followed by each term and "\n"; it only grows, so a reader may keep a
// snapshot of it.
type termSet struct {
	seen map[string]struct{}
	blob []byte
}

func newTermSet() termSet {
	return termSet{seen: map[string]struct{}{}, blob: []byte{'\n'}}
}

// add adds term unless present, reporting whether it was new.
func (t *termSet) add(term string) bool {
	if _, ok := t.seen[term]; ok {
		return false
	}
	t.seen[term] = struct{}{}
	t.blob = append(append(t.blob, term...), '\n')
	return true
}

// loadTerms reads the tokens field's dictionary from bleve.
func (ix *Index) loadTerms() error {
	dict, err := ix.bleve.FieldDict(fieldTokens)
	if err != nil {
		return fmt.Errorf("block index: term dictionary: %w", err)
	}
	defer func() { _ = dict.Close() }()
	for {
		e, err := dict.Next()
		if err != nil {
			return fmt.Errorf("block index: term dictionary: %w", err)
		}
		if e == nil {
			return nil
		}
		ix.terms.add(e.Term)
	}
}

// matchingTerms returns the terms of blob (a termSet snapshot) that end with
// f.Text (Suffix) or contain it (Infix), or ok false when there are more than
// limit.
func matchingTerms(blob []byte, f Fragment, limit int) (terms []string, ok bool) {
	pat := []byte(f.Text)
	if f.Kind == Suffix {
		pat = append(pat, '\n')
	}
	for p := 0; ; {
		i := bytes.Index(blob[p:], pat)
		if i < 0 {
			return terms, true
		}
		i += p
		start := bytes.LastIndexByte(blob[:i], '\n') + 1
		end := i + bytes.IndexByte(blob[i:], '\n')
		if len(terms) == limit {
			return nil, false
		}
		terms = append(terms, string(blob[start:end]))
		p = end + 1
	}
}
