#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is missing, builds, runs.
#   1. every unit test under AddressSanitizer + UndefinedBehaviorSanitizer (build/asan)
#   2. the integration tests (the real agentd, agentctl and runner over HTTP) on a release build
#      (build/release); only what they need is built there, the unit tests ran in step 1
#   3. a short libFuzzer run of the request parsers when clang is available
# CI (.ci/run) calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh test

jobs="${AGENTD_JOBS:-$(nproc)}"

echo "== asan: configure + build unit tests"
cmake --preset asan >/dev/null
cmake --build build/asan --target unit_tests -j "$jobs"
echo "== asan: unit tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan -L unit --output-on-failure -j "$jobs"

echo "== release: configure + build the binaries and the integration tests"
cmake --preset release -DAGENTD_BUILD_TESTS=ON -DAGENTD_BUILD_BENCH=OFF >/dev/null
cmake --build build/release --target agentd agentctl fake-model-server integration_test -j "$jobs"
echo "== release: integration tests"
ctest --test-dir build/release -L integration --output-on-failure -j "$jobs"

if command -v clang++ >/dev/null 2>&1 && [[ -f tests/fuzz/CMakeLists.txt ]]; then
  echo "== fuzz: request parsers (short run)"
  cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
    -DAGENTD_FUZZ=ON -DAGENTD_WERROR=OFF -DAGENTD_BUILD_TESTS=OFF -DAGENTD_BUILD_BENCH=OFF >/dev/null
  cmake --build build/fuzz --target fuzz_targets -j "$jobs"
  # A fixed seed and a fixed number of inputs per target keep the run reproducible: the same
  # binary and corpus explore the same inputs here and in CI (a time budget would not). The YAML
  # target runs 150-200 inputs/s under the sanitizers: its count keeps it near a minute.
  declare -A runs=([submit_fuzz]=100000 [runner_event_fuzz]=100000 [objects_fuzz]=8000)
  mkdir -p build/fuzz/findings
  for f in build/fuzz/tests/fuzz/submit_fuzz build/fuzz/tests/fuzz/runner_event_fuzz \
    build/fuzz/tests/fuzz/objects_fuzz; do
    name=$(basename "$f")
    # Fuzz a scratch copy of the seed corpus so new inputs do not land in the source tree.
    work=$(mktemp -d)
    cp -r "tests/fuzz/corpus/$name/." "$work/"
    # A crash, a leak, an input slower than 30 s or one that needs over 2 GB fails the suite
    # (pipefail); the input is kept under build/fuzz/findings/ for reproduction. After an
    # out-of-memory libFuzzer prints an ASan heap profile with every thread stopped, which can
    # take many minutes and ignores SIGTERM: hence the SIGKILL 30 s after the time limit.
    timeout -k 30 600 "$f" -seed=1 -runs="${runs[$name]:-10000}" -max_len=65536 \
      -timeout=30 -rss_limit_mb=2048 -print_final_stats=0 -artifact_prefix=build/fuzz/findings/ \
      "$work" 2>&1 | tail -1
    rm -rf "$work"
  done
fi
echo "== all tests passed"
