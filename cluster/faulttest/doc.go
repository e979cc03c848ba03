// Package faulttest holds silt's cluster fault harness: its tests start
// silt processes on 127.0.0.1, write to them with real Kafka producers
// (acks=all) while faults are injected — SIGKILL and SIGSTOP of the leader
// or a follower, a network cut through a TCP proxy in front of each node's
// raft port, a full-cluster restart — and check afterwards that nothing
// acknowledged is lost or doubled, that every replica holds the same log,
// and that the history is linearizable (porcupine).
//
// `go test ./cluster/faulttest/` runs one seeded run per fault (about a
// minute); SILT_FAULT_RUNS=20 runs twenty per fault, and SILT_FAULT_SEED
// replays one seed.
package faulttest
