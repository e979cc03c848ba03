package segments

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

type manifestSegment struct {
	Base   int64  `json:"base"`
	Layout layout `json:"layout"`
}

// coldEntry is one cold-tier upload attempt (FORMAT.md, "Cold tier").
type coldEntry struct {
	Base         int64     `json:"base"`
	Next         int64     `json:"next"`
	ID           string    `json:"id"`
	State        coldState `json:"state"`
	Bytes        int64     `json:"bytes"`
	MinTimestamp int64     `json:"min_timestamp"`
	MaxTimestamp int64     `json:"max_timestamp"`
}

func (e *coldEntry) attempt() ColdAttempt {
	return ColdAttempt{ID: e.ID, Base: e.Base, Next: e.Next, Bytes: e.Bytes,
		MinTimestamp: e.MinTimestamp, MaxTimestamp: e.MaxTimestamp}
}

// manifest lists the live segments of a partition (FORMAT.md).
type manifest struct {
	Version     int               `json:"version"`
	StartOffset int64             `json:"start_offset"`
	Segments    []manifestSegment `json:"segments"`
	Cold        []coldEntry       `json:"cold,omitempty"`
}

func readManifest(fsys FS, dir string) (*manifest, error) {
	data, err := readFile(fsys, filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, manifestName)
	i := bytes.LastIndex(data, []byte(manifestCRCPrefix))
	if i < 0 || len(data)-i < len(manifestCRCPrefix)+8 {
		return nil, &CorruptionError{File: path, Err: errors.New("no checksum line")}
	}
	want, err := strconv.ParseUint(string(bytes.TrimSpace(data[i+len(manifestCRCPrefix):])), 16, 32)
	if err != nil || uint32(want) != crc32Castagnoli(data[:i]) {
		return nil, &CorruptionError{File: path, Offset: int64(i), Err: errors.New("checksum mismatch")}
	}
	var m manifest
	if err := json.Unmarshal(data[:i], &m); err != nil {
		return nil, &CorruptionError{File: path, Err: err}
	}
	if m.Version != manifestVersion && m.Version != manifestVersionNoCold {
		return nil, fmt.Errorf("%s: unsupported manifest version %d", filepath.Join(dir, manifestName), m.Version)
	}
	for i, s := range m.Segments {
		if (s.Layout != layoutLog && s.Layout != layoutZst) || (i > 0 && s.Base <= m.Segments[i-1].Base) {
			return nil, &CorruptionError{File: filepath.Join(dir, manifestName), Err: fmt.Errorf("segment entry %d (%d %q) out of order or unknown", i, s.Base, s.Layout)}
		}
	}
	for i, e := range m.Cold {
		switch e.State {
		case coldUploadStarted, coldUploaded, coldDeleteStarted, coldDeleteFinished:
		default:
			return nil, &CorruptionError{File: filepath.Join(dir, manifestName), Err: fmt.Errorf("cold entry %d has unknown state %q", i, e.State)}
		}
		if e.ID == "" || strings.ContainsAny(e.ID, "/\\.") || e.Next <= e.Base {
			return nil, &CorruptionError{File: filepath.Join(dir, manifestName), Err: fmt.Errorf("cold entry %d (%d-%s) is malformed", i, e.Base, e.ID)}
		}
	}
	return &m, nil
}

func writeManifest(fsys FS, dir string, m *manifest) error {
	m.Version = manifestVersion
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	data = fmt.Appendf(data, "%s%08x\n", manifestCRCPrefix, crc32Castagnoli(data))
	if err := WriteFileAtomic(fsys, filepath.Join(dir, manifestName), data); err != nil {
		return fmt.Errorf("write manifest of %s: %w", dir, err)
	}
	return nil
}
