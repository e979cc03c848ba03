package ingest

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	tests := []struct {
		in      string
		want    Labels
		wantErr string
	}{
		{in: `{app="api", host="a1"}`, want: Labels{{"app", "api"}, {"host", "a1"}}},
		{in: `{app="api",host="a1"}`, want: Labels{{"app", "api"}, {"host", "a1"}}},
		{in: `  {  host = "a1" ,app="api"  }  `, want: Labels{{"app", "api"}, {"host", "a1"}}},
		{in: `{}`, want: nil},
		{in: `{a=""}`, want: Labels{{"a", ""}}},
		{in: `{a="x\"y\\z\n", _b="ü,}="}`, want: Labels{{"_b", "ü,}="}, {"a", "x\"y\\z\n"}}},
		{in: `{a="\u00e9"}`, want: Labels{{"a", "é"}}},
		{in: `app="api"`, wantErr: `want {name="value", ...}`},
		{in: `{app="api"`, wantErr: `want {name="value", ...}`},
		{in: `{1app="x"}`, wantErr: `invalid label name "1app"`},
		{in: `{a-b="x"}`, wantErr: `invalid label name "a-b"`},
		{in: `{="x"}`, wantErr: `want name="value"`},
		{in: `{app}`, wantErr: `want name="value"`},
		{in: `{app='x'}`, wantErr: "must be a double-quoted string"},
		{in: "{app=`x`}", wantErr: "must be a double-quoted string"},
		{in: `{app=x}`, wantErr: "must be a double-quoted string"},
		{in: `{a="1" b="2"}`, wantErr: `want ','`},
		{in: `{a="1",,b="2"}`, wantErr: `invalid label name ",b"`},
		{in: `{a="1", a="2"}`, wantErr: `duplicate label name "a"`},
		{in: `{a=~"1"}`, wantErr: "must be a double-quoted string"},
	}
	for _, tc := range tests {
		got, err := ParseLabels(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseLabels(%s) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseLabels(%s) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
}

// TestLabelsStringRoundTrip checks that the canonical form parses back to
// the same set and is stable.
func TestLabelsStringRoundTrip(t *testing.T) {
	for _, ls := range []Labels{
		{{"a", "1"}},
		{{"app", "api"}, {"host", "a1"}, {"z", ""}},
		{{"q", `"quoted" \ back`}, {"u", "ünï\tcode\x7f"}},
	} {
		s := ls.String()
		got, err := ParseLabels(s)
		if err != nil || !reflect.DeepEqual(got, ls) {
			t.Errorf("ParseLabels(%s) = %v, %v; want %v", s, got, err, ls)
		}
		if again := got.String(); again != s {
			t.Errorf("%v: String %q, then %q", ls, s, again)
		}
	}
	if got := (Labels{{"b", "2"}, {"a", "1"}}); got.Normalize() != nil || got.String() != `{a="1", b="2"}` {
		t.Errorf("normalized form %s", got)
	}
}

func TestNormalizeLabels(t *testing.T) {
	tests := []struct {
		in      Labels
		want    Labels
		wantErr string
	}{
		{in: Labels{{"b", "2"}, {"a", "1"}}, want: Labels{{"a", "1"}, {"b", "2"}}},
		{in: Labels{{"a", "1"}, {"a", "2"}}, wantErr: `duplicate label name "a"`},
		{in: Labels{{"", "1"}}, wantErr: "empty name"},
	}
	for _, tc := range tests {
		err := tc.in.Normalize()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Normalize(%v) = %v, want error containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(tc.in, tc.want) {
			t.Errorf("Normalize = %v, %v; want %v", tc.in, err, tc.want)
		}
	}
}

func TestSanitizeLabelName(t *testing.T) {
	for in, want := range map[string]string{
		"service.name": "service_name", "host-name": "host_name", "ok_1": "ok_1", "1abc": "_abc",
		"": "_", "é": "__", "k8s.pod.name": "k8s_pod_name", "_x": "_x",
	} {
		got := SanitizeLabelName(in)
		if got != want {
			t.Errorf("SanitizeLabelName(%q) = %q, want %q", in, got, want)
		}
		if !validLabelName(got) {
			t.Errorf("SanitizeLabelName(%q) = %q is not a valid label name", in, got)
		}
	}
}

func TestWithServiceName(t *testing.T) {
	tests := []struct {
		in   Labels
		want string
	}{
		{Labels{{"service_name", "kept"}, {"app", "a"}}, "kept"},
		{Labels{{"app", "a"}, {"service", "s"}}, "s"},
		{Labels{{"job", "j"}, {"application", "ap"}}, "ap"},
		{Labels{{"app", ""}, {"k8s_job_name", "kj"}}, "kj"},
		{Labels{{"host", "h"}}, UnknownService},
		{nil, UnknownService},
	}
	for _, tc := range tests {
		got := withServiceName(append(Labels(nil), tc.in...))
		if v, ok := got.get(ServiceNameLabel); !ok || v != tc.want {
			t.Errorf("withServiceName(%v) = %v, want service_name=%q", tc.in, got, tc.want)
		}
		n := len(tc.in)
		if _, had := tc.in.get(ServiceNameLabel); !had {
			n++
		}
		if len(got) != n {
			t.Errorf("withServiceName(%v) = %v: want %d labels", tc.in, got, n)
		}
	}
}

func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{`{app="api", host="a1"}`, `{a="x\"y"}`, `{}`, `{a="\u00e9",b=""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ls, err := ParseLabels(s)
		if err != nil {
			return
		}
		again, err := ParseLabels(ls.String())
		if err != nil || !reflect.DeepEqual(again, ls) {
			t.Fatalf("%q parsed to %v, whose String %q parses to %v, %v", s, ls, ls.String(), again, err)
		}
	})
}
