#!/usr/bin/env bash
# Replication cost (issue 5): push throughput and latency with RF=3 over three
# local silt processes against RF=1 on one, measured in one run.
#
#  1. saturate each set-up for DURATION (unlimited rate) and take lines/s;
#  2. run each again at half of its saturating rate and take p50/p99.
#
# Targets: RF=3 throughput >= 0.5x RF=1, and p99 <= 20 ms at half load.
# Needs the loghub corpus (../shared/data).
#
#   DURATION=20s BATCH=200 CONCURRENCY=16 scripts/bench-replication.sh
set -euo pipefail
DURATION=${DURATION:-20s}
BATCH=${BATCH:-200}
CONCURRENCY=${CONCURRENCY:-16}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/silt" ./cmd/silt
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
common=(-syslog.listen-address "" -kafka.listen-address "" -log.level warn -search.index.enabled=false -metrics.enabled=false)

wait_ready() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/ready" >/dev/null && return; sleep 0.2; done; echo "node on $1 not ready" >&2; exit 1; }

# run_bench NAME PORT RATE: prints "lines/s p50 p99" from silt bench's JSON summary.
run_bench() {
	"$work/silt" bench -url "http://127.0.0.1:$2" -duration "$DURATION" -batch "$BATCH" \
		-concurrency "$CONCURRENCY" -rate "$3" -json >"$work/$1.json"
	python3 - "$work/$1.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
lat = s["latency"]
if s["failed_lines"]:
    print(f'{sys.argv[1]}: {s["failed_lines"]} lines failed: {s.get("error_samples")}', file=sys.stderr)
print(f'{s["lines_per_second"]:.0f} {lat["p50_ms"]:.2f} {lat["p99_ms"]:.2f}')
PY
}

# RF=1: one node, cluster mode (its partitions are raft groups of one).
p1=$(freeport)
"$work/silt" "${common[@]}" -storage.data-dir "$work/rf1" -server.http-listen-address "127.0.0.1:$p1" \
	-cluster.enabled -cluster.instance-id=solo -cluster.instance-addr=127.0.0.1 -cluster.instance-port="$(freeport)" \
	-memberlist.bind-addr=127.0.0.1 -memberlist.bind-port="$(freeport)" -cluster.replication-factor=1 &
pids+=($!)
wait_ready "$p1"

# RF=3: three nodes; the load goes to the first, which leads some partitions
# and hands the others' writes to their leaders inside raft.
gossip=()
http=()
for i in 0 1 2; do gossip+=("$(freeport)"); http+=("$(freeport)"); done
for i in 0 1 2; do
	"$work/silt" "${common[@]}" -storage.data-dir "$work/rf3-$i" -server.http-listen-address "127.0.0.1:${http[$i]}" \
		-cluster.enabled -cluster.instance-id="n$i" -cluster.instance-addr=127.0.0.1 -cluster.instance-port="$(freeport)" \
		-memberlist.bind-addr=127.0.0.1 -memberlist.bind-port="${gossip[$i]}" -memberlist.join="127.0.0.1:${gossip[0]}" &
	pids+=($!)
done
for i in 0 1 2; do wait_ready "${http[$i]}"; done
for _ in $(seq 100); do
	n=$(curl -fs "http://127.0.0.1:${http[0]}/api/v1/cluster" | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin)["nodes"] if n["state"]=="ACTIVE"))')
	[ "$n" = 3 ] && break
	sleep 0.2
done

read -r rf1 _ _ < <(run_bench rf1-sat "$p1" 0)
read -r rf3 _ _ < <(run_bench rf3-sat "${http[0]}" 0)
read -r _ rf1p50 rf1p99 < <(run_bench rf1-half "$p1" $((rf1 / 2)))
read -r _ rf3p50 rf3p99 < <(run_bench rf3-half "${http[0]}" $((rf3 / 2)))
python3 - "$rf1" "$rf3" "$rf1p50" "$rf1p99" "$rf3p50" "$rf3p99" <<'PY'
import sys
rf1, rf3, a50, a99, b50, b99 = map(float, sys.argv[1:])
print(f"saturated push, lines/s: RF=1 {rf1:.0f}, RF=3 {rf3:.0f}, ratio {rf3/rf1:.2f}x (target >= 0.5x)")
print(f"at half load, ms:        RF=1 p50 {a50:.2f} p99 {a99:.2f}; RF=3 p50 {b50:.2f} p99 {b99:.2f} (target p99 <= 20)")
PY
