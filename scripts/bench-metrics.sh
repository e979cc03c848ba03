#!/usr/bin/env bash
# The metrics issue's benchmark: RUNS times, a fresh silt takes
# `silt bench -protocol remote_write -series SERIES` (a sample per series
# every 15 s of simulated time, from BACKFILL ago to now, as fast as silt
# takes them), after FLOOR of the in-process floor (stock Prometheus decoding
# and TSDB appends of the same requests). Each run's summary is printed, then
# the medians: samples/s, floor, materialiser lag, RSS per active series after
# a GC, and `sum by (job) (rate(x[5m]))` over the last hour.
#
#   RUNS=3 SERIES=100000 scripts/bench-metrics.sh
#   TAGS= scripts/bench-metrics.sh        # silt as `make build` builds it (stringlabels)
#   SERVER_ENV=GOGC=50 scripts/bench-metrics.sh
#   OUT=/tmp/runs scripts/bench-metrics.sh   # keep each run's JSON summary
set -euo pipefail
RUNS=${RUNS:-3}
SERIES=${SERIES:-100000}
BATCH=${BATCH:-2000}
BACKFILL=${BACKFILL:-65m}
FLOOR=${FLOOR:-10s}
TAGS=${TAGS-slicelabels}
work=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -tags "$TAGS" -o "$work/silt" ./cmd/silt
for i in $(seq "$RUNS"); do
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	rm -rf "$work/data"
	# shellcheck disable=SC2086 # SERVER_ENV is a list of NAME=value words
	env ${SERVER_ENV:-} "$work/silt" server -storage.data-dir "$work/data" -server.http-listen-address "127.0.0.1:$port" \
		-syslog.listen-address "" -kafka.listen-address "" -log.level warn &
	pid=$!
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
	"$work/silt" bench -url "http://127.0.0.1:$port" -protocol remote_write -series "$SERIES" -batch "$BATCH" \
		-concurrency 4 -backfill "$BACKFILL" -duration 30m -floor "$FLOOR" -pid "$pid" -json >"$work/run-$i.json"
	kill "$pid"
	wait "$pid" || true
	if [ -n "${OUT:-}" ]; then mkdir -p "$OUT" && cp "$work/run-$i.json" "$OUT/"; fi
	echo "run $i: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(" ".join(f"{k}={r.get(k)}" for k in ("samples_per_second","floor_samples_per_second","max_materialiser_lag_seconds","rss_bytes_per_series","heap_live_bytes_per_series","promql_seconds","promql_server_cpu_seconds","server_cpu_seconds","machine_busy_cpu_seconds","seconds")))' "$work/run-$i.json")"
done
python3 - "$work"/run-*.json <<'EOF'
import json, statistics, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
def med(k): return statistics.median(r.get(k, 0) for r in runs)
print(f"medians of {len(runs)} runs, {runs[0]['series']} series:")
print(f"  samples/s            {med('samples_per_second'):,.0f} (floor {med('floor_samples_per_second'):,.0f})")
print(f"  server CPU per sample {statistics.median(r['server_cpu_seconds'] / r['samples'] * 1e6 for r in runs):.2f} µs")
print(f"  materialiser lag     max {med('max_materialiser_lag_seconds'):.1f} s, drained {med('drain_seconds'):.2f} s after the run")
print(f"  RSS per series       {med('rss_bytes_per_series'):,.0f} B idle after a GC (live heap {med('heap_live_bytes_per_series'):,.0f} B); {statistics.median(r['server_rss_bytes'] / r['series'] for r in runs):,.0f} B at the end of the run")
print(f"  PromQL               {med('promql_seconds'):.3f} s, {med('promql_server_cpu_seconds'):.1f} CPU s ({runs[0]['promql']}, {runs[0]['promql_range_minutes']} min)")
print(f"  machine              {statistics.median(1 - (r['machine_busy_cpu_seconds'] - r['server_cpu_seconds'] - r['client_cpu_seconds']) / (r['seconds'] * r['machine_cpus']) for r in runs):.0%} of its CPU time left to silt and the bench by other work")
EOF
