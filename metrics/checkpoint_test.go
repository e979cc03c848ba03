package metrics

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckpointRoundTrip(t *testing.T) {
	dir := t.TempDir()
	c := checkpoint{Resume: 123456789, BlocksMax: 1714557600000}
	b := appendCheckpoint(nil, c)
	if len(b) != checkpointSize || !bytes.HasPrefix(b, []byte("SMCK\x01")) {
		t.Fatalf("encoding %x: want %d bytes starting SMCK 01", b, checkpointSize)
	}
	if err := writeCheckpoint(dir, c); err != nil {
		t.Fatal(err)
	}
	got, ok, err := readCheckpoint(dir)
	if err != nil || !ok || got != c {
		t.Fatalf("read %+v, %v, %v; want %+v", got, ok, err, c)
	}
	// A leftover temp file is removed on read.
	if err := os.WriteFile(filepath.Join(dir, checkpointTmp), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readCheckpoint(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, checkpointTmp)); !os.IsNotExist(err) {
		t.Fatalf("temp checkpoint still there: %v", err)
	}
}

func TestCheckpointCorruption(t *testing.T) {
	good := appendCheckpoint(nil, checkpoint{Resume: 7, BlocksMax: 9})
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x40; return b }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"truncated", good[:20], "20 bytes"},
		{"bad magic", flip(0), "magic"},
		{"unknown version", flip(4), "unknown version"},
		{"flipped offset", flip(8), "CRC"},
		{"flipped crc", flip(23), "CRC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, checkpointName), tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := readCheckpoint(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), checkpointName) {
				t.Fatalf("error %v, want one naming the file and %q", err, tc.want)
			}
		})
	}
}

func FuzzCheckpoint(f *testing.F) {
	f.Add(appendCheckpoint(nil, checkpoint{Resume: 1, BlocksMax: 2}))
	f.Add([]byte("SMCK"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCheckpoint(data)
		if err != nil {
			return
		}
		if !bytes.Equal(appendCheckpoint(nil, c), data) {
			t.Fatalf("%x decodes to %+v, which encodes differently", data, c)
		}
	})
}
