#!/usr/bin/env bash
# Installs the Debian 12 packages agentd needs. Idempotent and non-interactive: packages that are
# already installed are skipped, and apt runs only when something is missing.
#
#   scripts/bootstrap.sh build   # compile and run agentd
#   scripts/bootstrap.sh test    # + test tools (GoogleTest, clang for the fuzzer, promtool, peers)
#   scripts/bootstrap.sh bench   # + load generator and the FastAPI/Express peer baselines
set -euo pipefail

profile="${1:-build}"

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libcurl4-openssl-dev
  libcli11-dev libssl-dev python3
)
test_pkgs=(
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev clang-format curl tzdata
  prometheus  # promtool: lints and unit-tests deploy/prometheus/rules.yaml
)
bench_pkgs=(wrk python3-fastapi python3-uvicorn sqlite3 procps)

pkgs=("${build_pkgs[@]}")
case "$profile" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# Node.js with npm for the Express peer (nodesource's nodejs bundles npm; Debian's needs npm).
if [[ "$profile" == bench ]] && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "bootstrap: done"
