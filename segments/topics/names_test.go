package topics

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string // substring; "" means valid
	}{
		{"simple", "logs", ""},
		{"all legal characters", "aZ09._-", ""},
		{"max length", strings.Repeat("a", 249), ""},
		{"dots inside", "a..b", ""},
		{"empty", "", "empty"},
		{"too long", strings.Repeat("a", 250), "250 characters is too long"},
		{"dot", ".", `"."`},
		{"dot dot", "..", `".."`},
		{"slash", "a/b", `illegal character '/' at position 1`},
		{"space", "a b", `illegal character ' '`},
		{"tenant-only character", "a*b", `illegal character '*'`},
		{"non-ASCII", "café", "illegal character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkNameErr(t, ValidateTopicName(tc.in), ErrInvalidTopicName, tc.wantErr, "[a-zA-Z0-9._-]")
		})
	}
}

func TestValidateTenantID(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"simple", "fake", ""},
		{"all legal characters", "aZ09!._*'()-", ""},
		{"max length", strings.Repeat("t", 150), ""},
		{"empty", "", "empty"},
		{"too long", strings.Repeat("t", 151), "151 characters is too long"},
		{"dot", ".", `"."`},
		{"dot dot", "..", `".."`},
		{"slash", "a/b", `illegal character '/'`},
		{"pipe", "a|b", `illegal character '|'`},
		{"backslash", `a\b`, `illegal character '\\'`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkNameErr(t, ValidateTenantID(tc.in), ErrInvalidTenantID, tc.wantErr, "[a-zA-Z0-9!._*'()-]")
		})
	}
}

func checkNameErr(t *testing.T, err, sentinel error, wantErr, rule string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want error containing %q, got nil", wantErr)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %v does not wrap %v", err, sentinel)
	}
	for _, want := range []string{wantErr, rule} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
