package segments

import (
	"errors"
	"fmt"
)

var (
	// ErrOffsetOutOfRange is returned for reads below the log start offset.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrClosed is returned by every method of a closed log.
	ErrClosed = errors.New("log closed")
	// ErrInvalidBatch wraps every reason a batch is refused on append.
	ErrInvalidBatch = errors.New("invalid record batch")
	// ErrNotBatchBoundary is returned by Truncate for an offset inside a batch.
	ErrNotBatchBoundary = errors.New("offset is not a batch boundary")
)

// CorruptionError reports damaged bytes: the file and the byte position at which the
// damage was found. The segment holding it is quarantined and never served.
type CorruptionError struct {
	File   string
	Offset int64 // byte position in File
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corruption in %s at byte %d: %v", e.File, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

// IsCorruption reports whether err is or wraps a CorruptionError.
func IsCorruption(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}

// writeFailedError wraps the first write or fsync error of a log. After it the log
// refuses every append until it is reopened, because after a failed fsync the state
// of the file on disk is unknown.
type writeFailedError struct{ err error }

func (e *writeFailedError) Error() string {
	return fmt.Sprintf("log is read-only after a failed write (reopen to recover): %v", e.err)
}

func (e *writeFailedError) Unwrap() error { return e.err }
