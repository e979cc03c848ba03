package segments

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Every file name, extension and magic number of a partition directory.
const (
	manifestName    = "MANIFEST"
	tmpSuffix       = ".tmp"
	quarantineDir   = "quarantine"
	logExt          = ".log"
	indexExt        = ".index"
	zstExt          = ".zst"
	baseDigits      = 20
	indexMagic      = "SILTIDX"
	zstMagic        = "SILTZST"
	indexVersion    = 1
	zstVersion      = 1
	manifestVersion = 1
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
