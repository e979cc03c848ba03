package metrics

// Every on-disk name and magic number of the materialiser (FORMAT.md).
const (
	// MaterialiserDir is this package's directory inside a partition's directory.
	MaterialiserDir = "metrics"
	// tsdbDir holds the partition's Prometheus TSDB (blocks only, no WAL).
	tsdbDir = "tsdb"
	// checkpointName is the resume point; checkpointTmp one being written.
	checkpointName = "CHECKPOINT"
	checkpointTmp  = "CHECKPOINT.tmp"

	checkpointMagic   = "SMCK"
	checkpointVersion = 1
	checkpointSize    = 4 + 1 + 8 + 8 + 4
)
