#!/usr/bin/env bash
# shellcheck disable=SC2016  # the single-quoted scripts expand inside the container
# Smoke test of the agentd image built by scripts/build-image.sh, with podman on this machine:
#   1. `agentd --version` and `--help` as UID 1001 with a read-only root filesystem (only /tmp and
#      /workspace writable, as in the pods), and the image's contract: user, working directory,
#      the tools the pods use (sh, git, curl, sha256sum, CA certificates), nothing writable else;
#   2. `agentd serve` (the image's default command) answers GET /health and /ready on a published
#      port, with its data dir on a tmpfs (the PVC in a cluster), and stops cleanly on SIGTERM;
#   3. the runner: `agentd runner --spec-file ... --journal ...` in the container, as a pod runs
#      it (spec mounted read-only at /var/run/agentd/runner, workspace /workspace), against the
#      fake model server on the host, whose script makes it call the shell tool (sh, git,
#      sha256sum, as UID 1001 in the workspace) and then finish; events on stdout (--events-fd 1).
#      Not covered: --events-url to a control plane (that needs a run created by the Kubernetes
#      executor, whose token only the executor's Secret carries; tests/integration/
#      kubernetes_e2e_test.cc covers that path with the host binary).
#
#   tests/image/smoke.sh [IMAGE]       IMAGE defaults to localhost/agentd:<project version>
#
# Needs root, podman with runc, curl, python3, and build/release/testing/fake-model-server (built
# here when missing). Not part of scripts/test.sh: CI has no podman and no time for debootstrap.
# PODMAN_RUN_FLAGS adds flags to every `podman run` (default: ulimits below the host's, as this
# machine refuses to raise rlimits inside containers).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
version="$(sed -n 's/^project(agentd VERSION \([0-9][0-9.]*\).*/\1/p' CMakeLists.txt)"
image="${1:-localhost/agentd:$version}"
podman=(podman --runtime runc)
# shellcheck disable=SC2206  # word splitting of the flags is intended
run_flags=(${PODMAN_RUN_FLAGS:---ulimit nofile=4096:4096 --ulimit nproc=4096:4096})
# The pods' volumes: emptyDir /tmp and /workspace (fsGroup 1001 makes them writable to 1001; `U`
# chowns the tmpfs to the container's user).
# shellcheck disable=SC2054  # the commas are mount options
pod_mounts=(--read-only --tmpfs /tmp:rw,mode=1777 --tmpfs /workspace:rw,U)

failures=0
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
prun() { "${podman[@]}" run --rm "${run_flags[@]}" "$@"; }

if ! "${podman[@]}" image exists "$image"; then
  echo "smoke: no image $image; build it with scripts/build-image.sh" >&2
  exit 1
fi
echo "smoke: testing $image"

work="$(mktemp -d)"
container="agentd-smoke-$$"
model_pid=""
cleanup() {
  "${podman[@]}" rm -f -t 0 "$container" >/dev/null 2>&1 || true
  if [[ -n "$model_pid" ]]; then kill "$model_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Polls "$@" every 0.2 s until it succeeds or `deadline_s` passes.
wait_for() {
  local deadline_s="$1"
  shift
  local end=$((SECONDS + deadline_s))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- 1. version, help, user, read-only root -----------------------------------------------------
out="$(prun "${pod_mounts[@]}" "$image" --version 2>&1)" || true
if [[ "$out" == *"$version"* ]]; then pass "agentd --version prints $out"; else fail "agentd --version: $out"; fi
out="$(prun "${pod_mounts[@]}" "$image" --help 2>&1)" || true
if [[ "$out" == *serve* && "$out" == *runner* ]]; then
  pass "agentd --help lists serve and runner"
else
  fail "agentd --help: $out"
fi
out="$(prun "${pod_mounts[@]}" --entrypoint /bin/sh "$image" -c \
  'echo "$(id -u):$(id -g) $(id -un) $(pwd)"' 2>&1)" || true
if [[ "$out" == "1001:1001 agentd /workspace" ]]; then
  pass "runs as 1001:1001 in /workspace by default"
else
  fail "user/workdir: $out"
fi
out="$(prun "${pod_mounts[@]}" --entrypoint /bin/sh "$image" -c '
  for f in /usr/local/bin/x /etc/x /var/lib/agentd/x /x; do
    if touch "$f" 2>/dev/null; then echo "writable: $f"; fi
  done
  touch /tmp/x /workspace/x && echo tmp-and-workspace-ok' 2>&1)" || true
if [[ "$out" == "tmp-and-workspace-ok" ]]; then
  pass "root filesystem read-only; /tmp and /workspace writable"
else
  fail "read-only root: $out"
fi
out="$(prun "${pod_mounts[@]}" --entrypoint /bin/sh "$image" -c '
  set -e
  git --version >/dev/null; curl --version >/dev/null
  echo abc | sha256sum | grep -q edeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb
  test -s /etc/ssl/certs/ca-certificates.crt
  test -f /usr/share/zoneinfo/Europe/Berlin
  ! command -v apt-get >/dev/null || test -z "$(ls /var/lib/apt/lists)"
  echo tools-ok' 2>&1)" || true
if [[ "$out" == "tools-ok" ]]; then
  pass "sh, git, curl, sha256sum, CA bundle, zoneinfo present; no apt lists"
else
  fail "tools: $out"
fi

# --- 2. serve: /health and /ready ---------------------------------------------------------------
port="$(free_port)"
if "${podman[@]}" run -d --name "$container" "${run_flags[@]}" "${pod_mounts[@]}" \
  --tmpfs /var/lib/agentd:rw,U,mode=0700 \
  -e SUBMIT_API_KEYS="admin:$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  -p "127.0.0.1:$port:8080" "$image" >/dev/null; then
  if wait_for 60 curl -fsS "http://127.0.0.1:$port/health"; then
    pass "serve answers GET /health on a published port: $(curl -sS "http://127.0.0.1:$port/health")"
    if wait_for 30 curl -fsS "http://127.0.0.1:$port/ready"; then
      pass "serve answers GET /ready"
    else
      fail "GET /ready: $(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")"
    fi
  else
    fail "serve never answered /health; logs:"
    "${podman[@]}" logs "$container" 2>&1 | tail -n 20
  fi
  "${podman[@]}" stop -t 20 "$container" >/dev/null
  code="$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$container")"
  if [[ "$code" == 0 ]]; then
    pass "serve exits 0 on SIGTERM"
  else
    fail "serve exit code on SIGTERM: $code"
    "${podman[@]}" logs "$container" 2>&1 | tail -n 10
  fi
  "${podman[@]}" rm -f "$container" >/dev/null
else
  fail "podman run serve"
fi

# --- 3. the runner against the fake model server ------------------------------------------------
fake="$root/build/release/testing/fake-model-server"
if [[ ! -x "$fake" ]]; then
  echo "smoke: building fake-model-server"
  cmake --preset release >/dev/null
  cmake --build --preset release --target fake-model-server -j "${JOBS:-1}" >/dev/null
fi
cat >"$work/script.json" <<'EOF'
{
  "mode": "script",
  "whenExhausted": "error",
  "responses": [
    {"toolCalls": [{"name": "shell", "arguments": {"command":
      "echo uid=$(id -u) && git init -q repo && git -C repo config user.email a@b && git -C repo config user.name a && echo hi > repo/hello.txt && git -C repo add hello.txt && git -C repo commit -qm first && git -C repo log --format=commit:%s && sha256sum repo/hello.txt"}}]},
    {"text": "image smoke done"}
  ]
}
EOF
"$fake" --script "$work/script.json" >"$work/model.out" 2>"$work/model.err" &
model_pid=$!
if ! wait_for 20 grep -q "listening on" "$work/model.out"; then
  fail "fake-model-server did not start: $(cat "$work/model.err")"
else
  model_port="$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$work/model.out")"
  mkdir -p "$work/secret"
  cat >"$work/secret/spec.json" <<EOF
{"runId": "run_imagesmoke", "attempt": 1, "agent": "smoke", "role": "developer",
 "systemPrompt": "You are a test.", "input": "run the shell",
 "model": {"provider": "openai-compatible", "baseUrl": "http://127.0.0.1:$model_port/v1",
           "model": "fake-model", "apiKeyEnv": "", "maxRetries": 0, "requestTimeoutSeconds": 30},
 "tools": ["shell"],
 "limits": {"maxTurns": 4, "timeoutSeconds": 60, "shellTimeoutSeconds": 30},
 "workspace": "/workspace"}
EOF
  chmod -R a+rX "$work/secret"
  # Host network: the container reaches the fake server on the host's loopback, as a pod reaches
  # a model endpoint. The spec is mounted read-only where the Job mounts the runner Secret.
  if prun "${pod_mounts[@]}" --network host -v "$work/secret:/var/run/agentd/runner:ro" \
    -e HOSTNAME=smoke-pod "$image" runner --run-id run_imagesmoke --attempt 1 \
    --spec-file /var/run/agentd/runner/spec.json --events-fd 1 \
    --journal /workspace/.agentd/journal.jsonl >"$work/events.jsonl" 2>"$work/runner.err"; then
    pass "agentd runner exits 0"
  else
    fail "agentd runner failed: $(tail -n 5 "$work/runner.err")"
  fi
  if python3 - "$work/events.jsonl" <<'EOF'; then
import json, sys
events = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
results = [e for e in events if e["type"] == "tool_result"]
assert results and results[0]["data"]["ok"], results
out = results[0]["data"]["output"]
assert "uid=1001" in out and "commit:first" in out and "repo/hello.txt" in out, out
assert events[-1]["type"] == "result" and events[-1]["data"]["status"] == "succeeded", events[-1]
assert events[-1]["data"].get("result") == "image smoke done", events[-1]
EOF
    pass "runner events: shell ran git and sha256sum as 1001; result succeeded"
  else
    fail "runner events:"
    cat "$work/events.jsonl"
    tail -n 5 "$work/runner.err"
  fi
fi

if ((failures > 0)); then
  echo "smoke: $failures check(s) failed"
  exit 1
fi
echo "smoke: all checks passed"
