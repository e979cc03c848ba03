package metrics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

// checkpoint is where a partition's replay resumes (FORMAT.md).
type checkpoint struct {
	Resume    int64 // first offset to replay
	BlocksMax int64 // largest block maxTime (ms, exclusive) when written
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendCheckpoint appends c's encoding to dst.
func appendCheckpoint(dst []byte, c checkpoint) []byte {
	start := len(dst)
	dst = append(dst, checkpointMagic...)
	dst = append(dst, checkpointVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.Resume))
	dst = binary.BigEndian.AppendUint64(dst, uint64(c.BlocksMax))
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// errBadCheckpoint is a CHECKPOINT that cannot be trusted.
var errBadCheckpoint = errors.New("bad checkpoint")

// decodeCheckpoint decodes a CHECKPOINT file's bytes.
func decodeCheckpoint(b []byte) (checkpoint, error) {
	switch {
	case len(b) != checkpointSize:
		return checkpoint{}, fmt.Errorf("%w: %d bytes, want %d", errBadCheckpoint, len(b), checkpointSize)
	case string(b[:4]) != checkpointMagic:
		return checkpoint{}, fmt.Errorf("%w: magic %q at byte 0", errBadCheckpoint, b[:4])
	case b[4] != checkpointVersion:
		return checkpoint{}, fmt.Errorf("%w: unknown version %d at byte 4", errBadCheckpoint, b[4])
	}
	if got, want := crc32.Checksum(b[:21], castagnoli), binary.BigEndian.Uint32(b[21:]); got != want {
		return checkpoint{}, fmt.Errorf("%w: CRC %08x, stored %08x at byte 21", errBadCheckpoint, got, want)
	}
	c := checkpoint{Resume: int64(binary.BigEndian.Uint64(b[5:])), BlocksMax: int64(binary.BigEndian.Uint64(b[13:]))}
	if c.Resume < 0 {
		return checkpoint{}, fmt.Errorf("%w: negative resume offset %d at byte 5", errBadCheckpoint, c.Resume)
	}
	return c, nil
}

// readCheckpoint reads dir's CHECKPOINT; ok is false when there is none.
func readCheckpoint(dir string) (c checkpoint, ok bool, err error) {
	_ = os.Remove(filepath.Join(dir, checkpointTmp))
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if errors.Is(err, os.ErrNotExist) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, err
	}
	c, err = decodeCheckpoint(b)
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("%s: %w", filepath.Join(dir, checkpointName), err)
	}
	return c, true, nil
}

// writeCheckpoint publishes c atomically: temp file, fsync, rename, fsync dir.
func writeCheckpoint(dir string, c checkpoint) error {
	tmp := filepath.Join(dir, checkpointTmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = f.Write(appendCheckpoint(nil, c))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, checkpointName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("write checkpoint %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
