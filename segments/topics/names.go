package topics

import (
	"errors"
	"fmt"
)

// Name rules. Topic names follow Kafka (so Kafka clients can name any silt
// topic); tenant IDs follow Loki (so the same X-Scope-OrgID works for both).
const (
	MaxTopicNameLen = 249
	MaxTenantIDLen  = 150
)

var (
	// ErrInvalidTopicName is wrapped by every topic-name validation error.
	ErrInvalidTopicName = errors.New("invalid topic name")
	// ErrInvalidTenantID is wrapped by every tenant-ID validation error.
	ErrInvalidTenantID = errors.New("invalid tenant ID")
)

const (
	topicRule  = `topic names are 1-249 characters from [a-zA-Z0-9._-] and not "." or ".."`
	tenantRule = `tenant IDs are 1-150 characters from [a-zA-Z0-9!._*'()-] and not "." or ".."`
)

// ValidateTopicName reports whether name is a legal topic name.
func ValidateTopicName(name string) error {
	return validateName(name, MaxTopicNameLen, isTopicChar, ErrInvalidTopicName, topicRule)
}

// ValidateTenantID reports whether id is a legal tenant ID.
func ValidateTenantID(id string) error {
	return validateName(id, MaxTenantIDLen, isTenantChar, ErrInvalidTenantID, tenantRule)
}

func validateName(s string, maxLen int, ok func(byte) bool, sentinel error, rule string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty: %s", sentinel, rule)
	case len(s) > maxLen:
		return fmt.Errorf("%w: %d characters is too long: %s", sentinel, len(s), rule)
	case s == "." || s == "..":
		return fmt.Errorf("%w: %q: %s", sentinel, s, rule)
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return fmt.Errorf("%w: %q has illegal character %q at position %d: %s", sentinel, s, s[i], i, rule)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

func isTopicChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '-'
}

func isTenantChar(c byte) bool {
	if isAlnum(c) {
		return true
	}
	switch c {
	case '!', '.', '_', '*', '\'', '(', ')', '-':
		return true
	}
	return false
}
