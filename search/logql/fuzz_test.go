package logql

import "testing"

// FuzzParseExpr checks that parsing never panics and that the canonical
// form of a parsed query parses back to the same canonical form.
func FuzzParseExpr(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.query)
	}
	for _, tc := range errorCases {
		f.Add(tc.query)
	}
	f.Fuzz(func(t *testing.T, q string) {
		e, err := ParseExpr(q)
		if err != nil {
			return
		}
		s := e.String()
		e2, err := ParseExpr(s)
		if err != nil {
			t.Fatalf("String() of %q is %q, which does not parse: %v", q, s, err)
		}
		if s2 := e2.String(); s2 != s {
			t.Fatalf("not stable: %q -> %q -> %q", q, s, s2)
		}
	})
}
