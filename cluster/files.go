package cluster

// On-disk names of the cluster package, relative to the data directory. See
// FORMAT.md for their contents.
const (
	// Dir holds every cluster file of a node.
	Dir = "cluster"
	// TokensFile is the node's ring tokens (dskit's JSON tokens file), so a
	// restarted node takes back the same share of the ring.
	TokensFile = "tokens.json"
	// PlacementFile is the recorded placement of partitions on nodes.
	PlacementFile = "placement.json"
	// placementVersion is the version of PlacementFile's format.
	placementVersion = 1
)

// Ring identity in the KV store: every silt node shares one ring.
const (
	ringName = "silt"
	ringKey  = "silt-ring"
)

// WALFile is a partition's raft state and index-to-offset map, in the
// partition's log directory.
const WALFile = "raft.wal"
