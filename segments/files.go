package segments

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Every file name, extension and magic number of a partition directory.
const (
	manifestName  = "MANIFEST"
	tmpSuffix     = ".tmp"
	quarantineDir = "quarantine"
	logExt        = ".log"
	indexExt      = ".index"
	zstExt        = ".zst"
	// coldExt names the local copy of an uploaded segment's index:
	// <base>-<uuid>.cold (FORMAT.md, "Cold tier").
	coldExt         = ".cold"
	baseDigits      = 20
	indexMagic      = "SILTIDX"
	zstMagic        = "SILTZST"
	indexVersion    = 1
	zstVersion      = 1
	manifestVersion = 2
	// manifestVersionNoCold is the version before the cold tier; still read.
	manifestVersionNoCold = 1
	// keepDeletedAttempts is how many delete_finished attempts the MANIFEST keeps
	// as history.
	keepDeletedAttempts = 16
	// manifestCRCPrefix starts the MANIFEST's last line, the CRC-32C of the JSON
	// before it in hex.
	manifestCRCPrefix = "\ncrc32c:"

	// nsHeaderKey is the record header that carries a timestamp's sub-millisecond
	// remainder (see FORMAT.md).
	nsHeaderKey = "_ns"
)

// Layout names a sealed segment's on-disk form, as written in the MANIFEST.
type layout string

const (
	layoutLog layout = "log" // raw Kafka batches, with a .index once sealed
	layoutZst layout = "zst" // compressed column blocks
)

func segmentName(base int64, ext string) string {
	return fmt.Sprintf("%0*d%s", baseDigits, base, ext)
}

func segmentPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, segmentName(base, ext))
}

// parseSegmentName returns the base offset and extension of a segment file name.
func parseSegmentName(name string) (base int64, ext string, ok bool) {
	ext = filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if len(stem) != baseDigits {
		return 0, "", false
	}
	base, err := strconv.ParseInt(stem, 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, ext, true
}

// coldState is the state of a cold-tier upload attempt, as written in the MANIFEST.
type coldState string

const (
	coldUploadStarted  coldState = "upload_started"
	coldUploaded       coldState = "uploaded"
	coldDeleteStarted  coldState = "delete_started"
	coldDeleteFinished coldState = "delete_finished"
)

// coldIndexName is the local index copy of an uploaded attempt.
func coldIndexName(base int64, id string) string {
	return fmt.Sprintf("%0*d-%s%s", baseDigits, base, id, coldExt)
}
