#!/usr/bin/env bash
# Multi-host test on the project's own containers: four validators, one container each, on a
# private Docker network. It partitions one off, stops the leader gracefully, SIGKILLs another,
# brings each back, and checks that all four end on the same block hash and state root at every
# height and that none holds evidence of an equivocation.
# Usage: node/deploy/cluster-test.sh   (builds the image first; needs Docker and docker-compose)
set -euo pipefail
cd "$(dirname "$0")/../.."
bash node/deploy/build-image.sh
export KEEL_CLUSTER_DIR="$(mktemp -d)"
project="keelcluster$$"
compose() { docker-compose -p "$project" -f node/deploy/compose.yaml "$@"; }
cleanup() { compose down -v >/dev/null 2>&1 || true; rm -rf "$KEEL_CLUSTER_DIR"; }
trap cleanup EXIT
ips=(172.29.0.10 172.29.0.11 172.29.0.12 172.29.0.13)
target/release/keel testnet --create-only --validators 4 --dir "$KEEL_CLUSTER_DIR" --hosts "$(IFS=,; echo "${ips[*]}")" >/dev/null
compose up -d >/dev/null 2>&1
sleep 1
if [ "$(docker ps -q --filter "label=com.docker.compose.project=$project" | wc -l)" != 4 ]; then
  echo "cluster-test: a container exited at start" >&2; compose logs --tail 5 >&2; exit 1
fi

rpc() { # rpc NODE METHOD PARAMS -> result JSON (empty if the node does not answer)
  curl -s -m 2 -X POST -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}" "http://${ips[$1]}:8545/" |
    python3 -c 'import json,sys
try: print(json.dumps(json.load(sys.stdin)["result"]))
except Exception: pass' || true
}
height() { rpc "$1" keel_status '[]' | python3 -c 'import json,sys; print(json.load(sys.stdin)["latest_height"])' 2>/dev/null || echo -1; }
wait_height() { # wait_height MIN NODE...
  local min=$1; shift
  local deadline=$((SECONDS + 60))
  while [ $SECONDS -lt $deadline ]; do
    local ok=1
    for n in "$@"; do [ "$(height "$n")" -ge "$min" ] || ok=0; done
    [ $ok = 1 ] && return 0
    sleep 0.2
  done
  echo "cluster-test: nodes $* did not reach height $min" >&2; compose logs --tail 20 >&2; exit 1
}
container() { compose ps -q "node$1"; }
network="${project}_keel"

wait_height 5 0 1 2 3
echo "cluster-test: 4 containers committing"

docker network disconnect "$network" "$(container 3)"
h=$(height 0); wait_height $((h + 5)) 0 1 2
docker network connect --ip "${ips[3]}" "$network" "$(container 3)"
h=$(height 0); wait_height "$h" 3
echo "cluster-test: partitioned node3 rejoined at height $(height 3)"

compose stop node0 >/dev/null 2>&1
h=$(height 1); wait_height $((h + 3)) 1 2 3
compose start node0 >/dev/null 2>&1
h=$(height 1); wait_height "$h" 0
echo "cluster-test: stopped node0 restarted and caught up"

docker kill -s KILL "$(container 1)" >/dev/null
h=$(height 0); wait_height $((h + 3)) 0 2 3
compose start node1 >/dev/null 2>&1
h=$(height 0); wait_height "$h" 1
echo "cluster-test: SIGKILLed node1 restarted and caught up"

top=$(for n in 0 1 2 3; do height "$n"; done | sort -n | head -1)
for h in $(seq 1 "$top"); do
  first=$(rpc 0 keel_getBlockHeader "[$h]" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["hash"], r["state_root"])')
  for n in 1 2 3; do
    other=$(rpc "$n" keel_getBlockHeader "[$h]" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["hash"], r["state_root"])')
    [ "$first" = "$other" ] || { echo "cluster-test: node$n disagrees at height $h: $other vs $first" >&2; exit 1; }
  done
done
for n in 0 1 2 3; do
  evidence=$(rpc "$n" keel_status '[]' | python3 -c 'import json,sys; print(json.load(sys.stdin)["evidence"])')
  [ "$evidence" = 0 ] || { echo "cluster-test: node$n holds evidence of an equivocation" >&2; exit 1; }
done
echo "cluster-test: passed; all four agree on every block and state root up to height $top"
