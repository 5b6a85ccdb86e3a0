// The contract between the control plane and `agentd runner`, the same for a local child
// process and a Kubernetes Job:
//  * RunnerSpec — everything the runner needs, as one JSON document (stdin for a local child, a
//    mounted file or env in a Job). It names secrets (the env var holding the API key), never
//    carries their values.
//  * RunnerEvent — what the runner reports, one JSON object per line:
//      {"seq":1,"type":"delta","time":"2026-...Z","data":{...}}
//    seq counts from 1 per attempt. The last event of a run is always type "result" with
//    data {"status":"succeeded"|"failed","result":"...","error":"...","reason":"..."}.
// Event types and their data:
//    phase       {"phase":"Running"}
//    message     {"role":"assistant","content":"..."}          a whole model message
//    delta       {"content":"..."}                              streamed model text
//    tool_call   {"id":"...","name":"shell","arguments":{...}}
//    tool_result {"id":"...","name":"shell","ok":true,"output":"...","truncated":false}
//    usage       {"model":"...","inputTokens":1,"cachedInputTokens":0,"outputTokens":2,
//                 "costMicros":3}
//    log         {"stream":"stderr","line":"..."}
//    error       {"message":"...","retryable":true}
//    violation   {"rule":"run_cost_limit","message":"..."}    a governance rule the run broke
//                (rule: 1-64 of [a-z_], see the Violations list of the governance design:
//                run_cost_limit, tool_not_allowed, max_turns from the runner); message <= 1 KiB
//    result      see above
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/money.h"
#include "core/result.h"

namespace agentd::api::v1 {

inline constexpr size_t kMaxRunnerEventBytes = 256 * 1024;  // one line

// Runner events over HTTP (a runner in a Kubernetes pod; docs/api.md "Runner event ingest"):
//   POST /api/v1/runs/{id}/events
//   Authorization: Bearer <the run- and attempt-scoped runner token>
//   X-Agentd-Attempt: <attempt>          must equal the run's attempts
//   X-Agentd-Runner: <instance id>       the pod name; the first instance to post claims the
//                                        attempt, any other one is refused (fencing)
//   Content-Type: application/x-ndjson   body: RunnerEvent lines, at most kMaxRunnerBatchBytes
inline constexpr char kRunnerAttemptHeader[] = "X-Agentd-Attempt";
inline constexpr char kRunnerInstanceHeader[] = "X-Agentd-Runner";
inline constexpr char kRunnerEventsContentType[] = "application/x-ndjson";
inline constexpr size_t kMaxRunnerBatchBytes = 1 << 20;
inline constexpr size_t kMaxRunnerInstanceBytes = 253;
inline constexpr size_t kMaxViolationRuleBytes = 64;
inline constexpr size_t kMaxViolationMessageBytes = 1024;

struct RunnerModel {
  std::string provider;  // "openai" | "openai-compatible" | "anthropic"
  std::string base_url;  // ".../v1"
  std::string model;
  std::string api_key_env;  // name of the env var with the key; empty = no key
  core::MicroUsd input_per_million = 0;
  core::MicroUsd cached_input_per_million = 0;
  core::MicroUsd output_per_million = 0;
  int64_t max_output_tokens = 4096;
  std::chrono::seconds request_timeout{120};
  int max_retries = 4;
};

struct RunnerLimits {
  int max_turns = 20;
  int64_t max_tokens = 0;              // 0 = unlimited
  core::MicroUsd max_cost_micros = 0;  // 0 = unlimited
  std::chrono::seconds timeout{900};
  std::chrono::seconds shell_timeout{120};
  int64_t max_tool_output_bytes = 64 * 1024;
};

struct RunnerSpec {
  std::string run_id;
  int attempt = 1;
  std::string agent;
  std::string role;
  std::string system_prompt;  // fully composed: agent prompt, global, local, extra instructions
  std::string input;
  core::Json parameters = core::Json::object();
  RunnerModel model;
  std::vector<std::string> tools;
  RunnerLimits limits;
  std::string workspace;  // absolute path of the run's workspace directory
};

core::Json RunnerSpecToJson(const RunnerSpec& spec);
core::Result<RunnerSpec> RunnerSpecFromJson(const core::Json& json);

struct RunnerEvent {
  int64_t seq = 0;
  std::string type;
  core::Json data = core::Json::object();
  core::TimePoint time;
};

// One line without the trailing newline.
std::string FormatRunnerEvent(const RunnerEvent& event);
// Validates an untrusted line: size, JSON, seq > 0, a known type, data an object; for a
// `violation` also its data (ValidateViolationData).
core::Result<RunnerEvent> ParseRunnerEvent(std::string_view line);
bool IsKnownEventType(std::string_view type);

// A runner instance id (X-Agentd-Runner): 1-253 characters of [A-Za-z0-9._-] (a pod name or a
// host name).
bool IsValidRunnerInstance(std::string_view instance);

// A violation rule name: 1-64 characters of [a-z_].
bool IsValidViolationRule(std::string_view rule);
// The data of a `violation` event: "rule" a valid rule name, "message" a string of at most
// kMaxViolationMessageBytes bytes. kInvalidArgument naming the field otherwise.
core::Status ValidateViolationData(const core::Json& data);

}  // namespace agentd::api::v1
