// Package cluster is silt's membership and placement.
//
// Membership: each node gossips over dskit's memberlist KV (port 7946) and
// registers itself in one dskit ring (key "silt-ring") with a
// BasicLifecycler; its tokens are kept in <data dir>/cluster/tokens.json so a
// restart takes back the same tokens. Membership runs as three dskit
// services started KV, ring client, lifecycler and stopped in the reverse
// order, so that peers see the node LEAVING before its gossip stops.
//
// Placement: a partition (tenant, topic, partition) is placed on
// min(RF, nodes) instances found walking the ring clockwise from the
// partition's xxhash token, in distinct zones when zone-aware. The result is
// recorded in <data dir>/cluster/placement.json and changes only one
// membership change at a time, after a node has been gone for
// -cluster.replace-after, or gradually toward the ring's choice after a node
// joins. See FORMAT.md.
package cluster
