package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Discard reasons: the values of the reason label of
// silt_ingest_discarded_lines_total, and the Reason of an Error.
const (
	ReasonBadRequest    = "bad_request"       // undecodable body, wrong content type
	ReasonLineTooLong   = "line_too_long"     // a line over max_line_size
	ReasonTooManyLabels = "too_many_labels"   // a stream over max_label_names_per_series
	ReasonInvalidLabels = "invalid_labels"    // bad names, empty label set, over the length limits
	ReasonTooOld        = "too_far_in_past"   // older than reject_old_samples_max_age
	ReasonTooNew        = "too_far_in_future" // newer than now + creation_grace_period
	ReasonInvalidUTF8   = "invalid_utf8"      // a line or label value that is not UTF-8
	ReasonRequestTooBig = "request_too_large"
	ReasonRateLimited   = "rate_limited"
	ReasonOverloaded    = "overloaded" // in-flight bytes at their bound
	ReasonStorage       = "storage"    // the log refused the append (disk full, failed fsync)
	ReasonMissingTenant = "missing_tenant"
	ReasonInvalidTenant = "invalid_tenant"
	ReasonNotFound      = "not_found"
)

// Error is a rejected request: the HTTP status to answer, a reason for the
// metrics, a message for the client and, for 429/503, when to retry.
type Error struct {
	Status     int
	Reason     string
	Msg        string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

// Errorf returns an *Error with a formatted message.
func Errorf(status int, reason, format string, args ...any) *Error {
	return &Error{Status: status, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// BadRequest is the error of an undecodable body.
func BadRequest(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, ReasonBadRequest, format, args...)
}

// AsError returns err as an *Error; anything else is a 500.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Status: http.StatusInternalServerError, Reason: ReasonStorage, Msg: err.Error()}
}

// WriteError answers err as plain text, as Loki does, with Retry-After when set.
func WriteError(w http.ResponseWriter, err error) {
	e := AsError(err)
	SetRetryAfter(w, e)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(e.Msg + "\n"))
}

// SetRetryAfter sets the Retry-After header of a 429 or 503 (whole seconds,
// at least 1).
func SetRetryAfter(w http.ResponseWriter, e *Error) {
	if e.Status != http.StatusTooManyRequests && e.Status != http.StatusServiceUnavailable {
		return
	}
	secs := int((e.RetryAfter + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
}
