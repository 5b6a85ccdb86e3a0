#!/usr/bin/env bash
# The README's first command: installs what is missing, builds agentd and agentctl, and starts
# `agentd serve` on http://127.0.0.1:8080 with SQLite under ./data and the objects in examples/.
#
# Environment (all optional): PORT, AGENTD_DATA, AGENTD_CONFIG, WORKSPACE_DIR,
# WORKER_CONCURRENCY, SUBMIT_API_KEYS, LOG_LEVEL, OPENAI_API_KEY. See `agentd serve --help`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh build
cmake -S . -B build/run -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGENTD_BUILD_TESTS=OFF \
  -DAGENTD_BUILD_BENCH=OFF >/dev/null
cmake --build build/run --target agentd agentctl -j "$(nproc)"

mkdir -p "${AGENTD_DATA:-data}"
echo "agentctl: $(pwd)/build/run/cmd/agentctl/agentctl"
exec build/run/cmd/agentd/agentd serve \
  --config "${AGENTD_CONFIG:-examples}" \
  --data "${AGENTD_DATA:-data}" \
  --listen "127.0.0.1:${PORT:-8080}"
