#!/usr/bin/env bash
# Ingests into a fresh silt at RATE lines/s for DURATION with `silt bench` and
# samples the server's silt_index_lag_seconds every 5 s, then prints the
# bench summary and the largest index lag seen (issue 4: under 60 s at
# 250,000 lines/s for 10 minutes). Needs the loghub corpus (../shared/data).
#
#   RATE=250000 DURATION=10m scripts/bench-index-lag.sh
set -euo pipefail
RATE=${RATE:-250000}
DURATION=${DURATION:-10m}
BATCH=${BATCH:-4000}
work=$(mktemp -d)
trap 'kill "${sampler:-}" "${pid:-}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/silt" ./cmd/silt
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$work/silt" -storage.data-dir "$work/data" -server.http-listen-address "127.0.0.1:$port" \
	-syslog.listen-address "" -kafka.listen-address "" -log.level warn &
pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
max=0
(
	while kill -0 "$pid" 2>/dev/null; do
		curl -fs "http://127.0.0.1:$port/metrics" | awk '/^silt_index_lag_seconds/ {print $2}' >>"$work/lag"
		sleep 5
	done
) &
sampler=$!
"$work/silt" bench -url "http://127.0.0.1:$port" -rate "$RATE" -duration "$DURATION" -batch "$BATCH" \
	-concurrency 4 -pid "$pid"
sleep 10 # let the indexer drain what the last requests left
curl -fs "http://127.0.0.1:$port/metrics" | awk '/^silt_index_lag_seconds/ {print $2}' >>"$work/lag"
max=$(sort -g "$work/lag" | tail -1)
echo "index lag: largest sample ${max:-0} s over the run ($(wc -l <"$work/lag") samples, one per partition every 5 s)"
curl -fs "http://127.0.0.1:$port/metrics" | grep -E '^silt_index_(lines|blocks)_total|^silt_index_lag_records|^silt_ingest_lines_total' || true
