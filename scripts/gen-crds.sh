#!/usr/bin/env bash
# Regenerates deploy/crds/ and the Helm chart's copy, deploy/helm/agentd/crds/, from the object
# kinds in src/resources/schema.cc (`agentd crds`). The crds_drift test fails until this has been
# run after a change to the kinds.
#
#   scripts/gen-crds.sh                          builds agentd in build/gen-crds, then generates
#   AGENTD=build/dev/cmd/agentd/agentd scripts/gen-crds.sh   uses an agentd that is built
set -euo pipefail
cd "$(dirname "$0")/.."

agentd="${AGENTD:-}"
if [[ -z "$agentd" ]]; then
  cmake -S . -B build/gen-crds -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGENTD_BUILD_TESTS=OFF \
    -DAGENTD_BUILD_BENCH=OFF >/dev/null
  cmake --build build/gen-crds --target agentd
  agentd=build/gen-crds/cmd/agentd/agentd
fi

# Generate aside first, so a failure leaves the committed files as they were.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$agentd" crds --output-dir "$tmp"
for dir in deploy/crds deploy/helm/agentd/crds; do
  mkdir -p "$dir"
  rm -f "$dir"/agentd.dev_*.yaml
  cp "$tmp"/*.yaml "$dir"/
  ls "$dir"/agentd.dev_*.yaml
done
