package groups

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Every file name, magic number and limit of the store directory.
const (
	fileExt    = ".commits"
	tmpSuffix  = ".tmp"
	magic      = "SILTGRP"
	version    = 1
	headerSize = len(magic) + 1

	frameSize      = 8        // length uint32 | crc uint32
	maxRecordBytes = 16 << 20 // a larger length field is corruption

	kindCommit byte = 1
	kindDelete byte = 2

	// Defaults of the compaction trigger: the file is rewritten when it is
	// larger than both defaultCompactMinBytes and defaultCompactRatio times
	// the live state.
	defaultCompactMinBytes = 1 << 20
	defaultCompactRatio    = 4
)

var (
	// ErrFailed wraps the first failed write or fsync of a tenant's log;
	// commits are refused after it until the store is reopened.
	ErrFailed = errors.New("committed offsets log failed")
	// ErrInvalid is returned for empty group or topic names and bad tenants.
	ErrInvalid = errors.New("invalid group commit")
	// ErrNotRunning is returned before the store starts and after it stops.
	ErrNotRunning = errors.New("group offsets store is not running")
)

// CorruptionError reports damaged bytes in a tenant's commit log, before its
// tail: the file and the byte position of the damaged record.
type CorruptionError struct {
	File   string
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("corruption in %s at byte %d: %v", e.File, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }

func tenantPath(dir, tenant string) string { return filepath.Join(dir, tenant+fileExt) }
