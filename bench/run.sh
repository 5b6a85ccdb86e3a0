#!/usr/bin/env bash
# Runs every benchmark against a release build and prints one JSON line per measurement.
# Not a test: nothing here passes or fails on time. Results and the machine go into
# docs/performance.md by hand.
#
#   bench/run.sh              all
#   bench/run.sh submit       durable submissions/s: agentd vs FastAPI+SQLite vs Express+SQLite
#   bench/run.sh startup|dispatch|followers
#   bench/run.sh operator     API writes per Run custom resource against the fake API server
#   bench/run.sh failover     standby takeover after the leader is killed (3 x 15 s lease, 10 x 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
what="${1:-all}"
duration="${BENCH_DURATION:-10s}"
conns="${BENCH_CONNECTIONS:-64}"

scripts/bootstrap.sh bench
cmake --preset release -DAGENTD_BUILD_TESTS=ON >/dev/null
cmake --build build/release --target agentd agentctl agentd_bench operator_bench lease_failover -j "$(nproc)" >/dev/null
export AGENTD_BUILD_DIR="$root/build/release" AGENTD_SOURCE_DIR="$root"

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r)"

wait_port() {  # wait until something answers HTTP on 127.0.0.1:$1
  for _ in $(seq 1 500); do
    if curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null; then return 0; fi
    sleep 0.02
  done
  echo "nothing listening on $1" >&2; return 1
}

run_wrk() {  # name port token
  AGENTD_TOKEN="$3" wrk -t2 -c"$conns" -d"$duration" --latency -s bench/wrk/submit.lua \
    "http://127.0.0.1:$2/api/v1/runs" | grep '^JSON' | sed "s/^JSON {/{\"service\":\"$1\",\"connections\":$conns,/"
}

bench_submit() {
  tmp=$(mktemp -d)
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' RETURN
  # agentd: WORKER_CONCURRENCY=0 accepts and stores runs but starts none, so the machine's two
  # cores measure the API and the durable insert only (dispatch is measured separately).
  for sync in full normal; do
    rm -rf "$tmp/agentd"; mkdir -p "$tmp/agentd"
    WORKER_CONCURRENCY=0 SUBMIT_API_KEYS=bench-key LOG_LEVEL=warn AGENTD_SQLITE_SYNC=$sync \
      build/release/cmd/agentd/agentd serve --config examples --data "$tmp/agentd" \
      --listen 127.0.0.1:18080 >/dev/null 2>&1 &
    pid=$!
    wait_port 18080
    run_wrk "agentd-sqlite-$sync" 18080 bench-key
    kill $pid; wait $pid 2>/dev/null || true
  done

  (cd bench/peers && PEER_DB="$tmp/fastapi.db" /usr/bin/python3 -m uvicorn fastapi_sqlite:app \
      --port 18181 --workers 1 --log-level warning >/dev/null 2>&1) &
  wait_port 18181
  run_wrk "fastapi-sqlite-full" 18181 ""
  kill %% 2>/dev/null || true; pkill -f "uvicorn fastapi_sqlite" || true

  if [[ ! -d bench/peers/node_modules/express ]]; then
    (cd bench/peers && npm install --no-audit --no-fund --silent >/dev/null)
  fi
  (cd bench/peers && PORT=18182 PEER_DB="$tmp/express.db" node express_sqlite.js >/dev/null 2>&1) &
  wait_port 18182
  run_wrk "express-sqlite-full" 18182 ""
  pkill -f "node express_sqlite.js" || true
}

case "$what" in
  submit) bench_submit ;;
  startup|dispatch|followers) build/release/bench/agentd_bench "$what" ;;
  operator) build/release/bench/operator_bench 1000 ;;
  failover)
    build/release/bench/lease_failover 3 15000
    build/release/bench/lease_failover 10 3000
    ;;
  all)
    bench_submit
    for b in startup dispatch followers; do build/release/bench/agentd_bench "$b"; done
    build/release/bench/operator_bench 1000
    build/release/bench/lease_failover 10 3000
    ;;
  *) echo "usage: $0 [all|submit|startup|dispatch|followers|operator|failover]" >&2; exit 2 ;;
esac
