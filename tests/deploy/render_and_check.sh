#!/usr/bin/env bash
# Renders one deployable set of agentd's manifests into a temporary multi-document YAML and runs
# deploy_manifests_test on it (AGENTD_MANIFESTS_FILE): the same Pod Security, RBAC allow-list and
# environment checks as for the plain manifests. The rendered order is the order `kubectl apply
# -f <rendered>` applies in (Kustomize and Helm both put Namespaces first), so the apply-order
# check runs too.
#
#   render_and_check.sh TEST_BINARY SOURCE_DIR kustomize DIR       kubectl kustomize DIR
#   render_and_check.sh TEST_BINARY SOURCE_DIR helm CHART [VALUES]  helm template, VALUES optional
#
# The tools come from HELM and KUBECTL (paths; CMake passes what find_program found). Extra
# arguments for the test binary go in GTEST_ARGS (e.g. --gtest_filter=...).
set -euo pipefail

if (($# < 4)); then
  echo "usage: $0 TEST_BINARY SOURCE_DIR kustomize|helm DIR|CHART [VALUES]" >&2
  exit 2
fi
test_binary="$1"
source_dir="$2"
mode="$3"
target="$4"
values="${5:-}"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
rendered="$tmp/rendered.yaml"

case "$mode" in
  kustomize)
    "${KUBECTL:?KUBECTL must name a kubectl with kustomize}" kustomize "$target" >"$rendered"
    ;;
  helm)
    args=(template agentd "$target")
    if [[ -n "$values" ]]; then args+=(--values "$values"); fi
    "${HELM:?HELM must name a helm binary}" "${args[@]}" >"$rendered"
    ;;
  *)
    echo "$0: unknown mode '$mode' (kustomize or helm)" >&2
    exit 2
    ;;
esac
echo "render_and_check: $mode $target${values:+ with $values}: $(grep -c '^kind:' "$rendered") objects"

# shellcheck disable=SC2086  # GTEST_ARGS is a list of words
AGENTD_SOURCE_DIR="$source_dir" AGENTD_MANIFESTS_FILE="$rendered" \
  "$test_binary" --gtest_brief=1 ${GTEST_ARGS:-}
