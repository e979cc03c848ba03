package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// Error types of the Prometheus HTTP API and their status codes.
const (
	errBadData     = "bad_data"    // 400
	errExec        = "execution"   // 422
	errCanceled    = "canceled"    // 499
	errTimeout     = "timeout"     // 503
	errInternal    = "internal"    // 500
	errUnavailable = "unavailable" // 503
)

var errStatus = map[string]int{
	errBadData: http.StatusBadRequest, errExec: http.StatusUnprocessableEntity, errCanceled: 499,
	errTimeout: http.StatusServiceUnavailable, errInternal: http.StatusInternalServerError,
	errUnavailable: http.StatusServiceUnavailable,
}

// apiError is an error answered in the Prometheus shape.
type apiError struct {
	typ string
	err error
}

func (e *apiError) Error() string { return e.err.Error() }

func badData(err error) *apiError { return &apiError{errBadData, err} }

func invalidParam(err error, name string) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

// response is every answer of the API.
type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(response{Status: "error", ErrorType: errInternal, Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func respond(w http.ResponseWriter, data any, warnings, infos []string) {
	writeJSON(w, http.StatusOK, response{Status: "success", Data: data, Warnings: warnings, Infos: infos})
}

func respondError(w http.ResponseWriter, err error) {
	e := asAPIError(err)
	status := errStatus[e.typ]
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, response{Status: "error", ErrorType: e.typ, Error: e.err.Error()})
}

// asAPIError classifies err as Prometheus does (returnAPIError).
func asAPIError(err error) *apiError {
	var ae *apiError
	var un *Unavailable
	var eqc promql.ErrQueryCanceled
	var eqt promql.ErrQueryTimeout
	var es promql.ErrStorage
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &un):
		return &apiError{errUnavailable, err}
	case errors.As(err, &eqc), errors.Is(err, context.Canceled):
		return &apiError{errCanceled, err}
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errTimeout, err}
	case errors.As(err, &es):
		return &apiError{errInternal, err}
	}
	return &apiError{errExec, err}
}

// The widest times the API accepts, as Prometheus defines them.
var (
	minTime          = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime          = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// parseTime parses Unix seconds (with a fraction) or RFC 3339.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		s, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(s), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, invalidParam(err, name)
	}
	return t, nil
}

// parseDuration parses seconds (with a fraction) or a Prometheus duration (5m).
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if ts > float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

func parseLimit(r *http.Request) (int, error) {
	s := r.FormValue("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badData(errors.New("limit must be a non-negative number"))
	}
	return n, nil
}

// parseMatchers parses the match[] selectors; each must select something.
func parseMatchers(values []string) ([][]*labels.Matcher, error) {
	sets := make([][]*labels.Matcher, 0, len(values))
	for _, v := range values {
		ms, err := parser.ParseMetricSelector(v)
		if err != nil {
			return nil, badData(err)
		}
		empty := true
		for _, m := range ms {
			if !m.Matches("") {
				empty = false
				break
			}
		}
		if empty {
			return nil, badData(errors.New("match[] must contain at least one non-empty matcher"))
		}
		sets = append(sets, ms)
	}
	return sets, nil
}

// parseRange returns the start and end parameters (the widest range when absent).
func parseRange(r *http.Request) (start, end time.Time, err error) {
	if start, err = parseTimeParam(r, "start", minTime); err != nil {
		return start, end, err
	}
	if end, err = parseTimeParam(r, "end", maxTime); err != nil {
		return start, end, err
	}
	if end.Before(start) {
		return start, end, badData(errors.New("end timestamp must not be before start timestamp"))
	}
	return start, end, nil
}
