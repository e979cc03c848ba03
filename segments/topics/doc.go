// Package topics maps tenants' topics and partitions onto segments logs.
//
// A Registry lists every tenant's topics (name, partition count, retention
// overrides) in <data>/topics.json, rewritten atomically on every change. A
// Store owns the open partition logs, one segments.Log per directory
// <data>/tenants/<tenant>/<topic>/<partition>/, and enforces retention.
// Built-in topics "logs" and "metrics" are created for a tenant on first use.
package topics
