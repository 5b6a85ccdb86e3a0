#include "api/v1/runner_protocol.h"

#include "core/time.h"

namespace agentd::api::v1 {

using core::Json;

Json RunnerSpecToJson(const RunnerSpec& s) {
  return {
      {"runId", s.run_id},
      {"attempt", s.attempt},
      {"agent", s.agent},
      {"role", s.role},
      {"systemPrompt", s.system_prompt},
      {"input", s.input},
      {"parameters", s.parameters},
      {"model",
       {{"provider", s.model.provider},
        {"baseUrl", s.model.base_url},
        {"model", s.model.model},
        {"apiKeyEnv", s.model.api_key_env},
        {"inputPerMillionMicros", s.model.input_per_million},
        {"cachedInputPerMillionMicros", s.model.cached_input_per_million},
        {"outputPerMillionMicros", s.model.output_per_million},
        {"maxOutputTokens", s.model.max_output_tokens},
        {"requestTimeoutSeconds", s.model.request_timeout.count()},
        {"maxRetries", s.model.max_retries}}},
      {"tools", s.tools},
      {"limits",
       {{"maxTurns", s.limits.max_turns},
        {"maxTokens", s.limits.max_tokens},
        {"maxCostMicros", s.limits.max_cost_micros},
        {"timeoutSeconds", s.limits.timeout.count()},
        {"shellTimeoutSeconds", s.limits.shell_timeout.count()},
        {"maxToolOutputBytes", s.limits.max_tool_output_bytes}}},
      {"workspace", s.workspace},
  };
}

namespace {

template <typename T>
core::Status Read(const Json& obj, const char* key, T& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return core::Ok();
  try {
    out = it->get<T>();
  } catch (const Json::exception&) {
    return core::InvalidArgument(std::string("runner spec field \"") + key +
                                 "\" has the wrong type");
  }
  return core::Ok();
}

core::Status ReadSeconds(const Json& obj, const char* key, std::chrono::seconds& out) {
  int64_t n = out.count();
  AGENTD_RETURN_IF_ERROR(Read(obj, key, n));
  out = std::chrono::seconds(n);
  return core::Ok();
}

}  // namespace

core::Result<RunnerSpec> RunnerSpecFromJson(const Json& j) {
  if (!j.is_object()) return core::InvalidArgument("runner spec must be a JSON object");
  RunnerSpec s;
  AGENTD_RETURN_IF_ERROR(Read(j, "runId", s.run_id));
  AGENTD_RETURN_IF_ERROR(Read(j, "attempt", s.attempt));
  AGENTD_RETURN_IF_ERROR(Read(j, "agent", s.agent));
  AGENTD_RETURN_IF_ERROR(Read(j, "role", s.role));
  AGENTD_RETURN_IF_ERROR(Read(j, "systemPrompt", s.system_prompt));
  AGENTD_RETURN_IF_ERROR(Read(j, "input", s.input));
  AGENTD_RETURN_IF_ERROR(Read(j, "parameters", s.parameters));
  AGENTD_RETURN_IF_ERROR(Read(j, "tools", s.tools));
  AGENTD_RETURN_IF_ERROR(Read(j, "workspace", s.workspace));
  if (auto m = j.find("model"); m != j.end() && m->is_object()) {
    AGENTD_RETURN_IF_ERROR(Read(*m, "provider", s.model.provider));
    AGENTD_RETURN_IF_ERROR(Read(*m, "baseUrl", s.model.base_url));
    AGENTD_RETURN_IF_ERROR(Read(*m, "model", s.model.model));
    AGENTD_RETURN_IF_ERROR(Read(*m, "apiKeyEnv", s.model.api_key_env));
    AGENTD_RETURN_IF_ERROR(Read(*m, "inputPerMillionMicros", s.model.input_per_million));
    AGENTD_RETURN_IF_ERROR(
        Read(*m, "cachedInputPerMillionMicros", s.model.cached_input_per_million));
    AGENTD_RETURN_IF_ERROR(Read(*m, "outputPerMillionMicros", s.model.output_per_million));
    AGENTD_RETURN_IF_ERROR(Read(*m, "maxOutputTokens", s.model.max_output_tokens));
    AGENTD_RETURN_IF_ERROR(ReadSeconds(*m, "requestTimeoutSeconds", s.model.request_timeout));
    AGENTD_RETURN_IF_ERROR(Read(*m, "maxRetries", s.model.max_retries));
  }
  if (auto l = j.find("limits"); l != j.end() && l->is_object()) {
    AGENTD_RETURN_IF_ERROR(Read(*l, "maxTurns", s.limits.max_turns));
    AGENTD_RETURN_IF_ERROR(Read(*l, "maxTokens", s.limits.max_tokens));
    AGENTD_RETURN_IF_ERROR(Read(*l, "maxCostMicros", s.limits.max_cost_micros));
    AGENTD_RETURN_IF_ERROR(ReadSeconds(*l, "timeoutSeconds", s.limits.timeout));
    AGENTD_RETURN_IF_ERROR(ReadSeconds(*l, "shellTimeoutSeconds", s.limits.shell_timeout));
    AGENTD_RETURN_IF_ERROR(Read(*l, "maxToolOutputBytes", s.limits.max_tool_output_bytes));
  }
  if (s.run_id.empty()) return core::InvalidArgument("runner spec has no runId");
  if (s.workspace.empty() || s.workspace[0] != '/') {
    return core::InvalidArgument("runner spec workspace must be an absolute path");
  }
  if (s.limits.max_turns < 1) return core::InvalidArgument("runner spec maxTurns must be >= 1");
  return s;
}

std::string FormatRunnerEvent(const RunnerEvent& e) {
  Json j = {
      {"seq", e.seq}, {"type", e.type}, {"time", core::FormatRfc3339(e.time)}, {"data", e.data}};
  return core::DumpJson(j);
}

bool IsKnownEventType(std::string_view type) {
  static constexpr std::string_view kTypes[] = {"phase",       "log",      "message", "delta",
                                                "tool_call",   "usage",    "result",  "error",
                                                "tool_result", "violation"};
  for (auto t : kTypes) {
    if (t == type) return true;
  }
  return false;
}

bool IsValidRunnerInstance(std::string_view instance) {
  if (instance.empty() || instance.size() > kMaxRunnerInstanceBytes) return false;
  for (char c : instance) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsValidViolationRule(std::string_view rule) {
  if (rule.empty() || rule.size() > kMaxViolationRuleBytes) return false;
  for (char c : rule) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

core::Status ValidateViolationData(const Json& data) {
  if (!data.is_object()) return core::InvalidArgument("violation event data must be an object");
  auto rule = data.find("rule");
  if (rule == data.end() || !rule->is_string() ||
      !IsValidViolationRule(rule->get_ref<const std::string&>())) {
    return core::InvalidArgument("violation event needs a \"rule\" of 1-64 characters of [a-z_]");
  }
  auto message = data.find("message");
  if (message == data.end() || !message->is_string()) {
    return core::InvalidArgument("violation event needs a \"message\" string");
  }
  if (message->get_ref<const std::string&>().size() > kMaxViolationMessageBytes) {
    return core::InvalidArgument("violation event \"message\" is longer than " +
                                 std::to_string(kMaxViolationMessageBytes) + " bytes");
  }
  return core::Ok();
}

core::Result<RunnerEvent> ParseRunnerEvent(std::string_view line) {
  AGENTD_ASSIGN_OR_RETURN(
      Json j, core::ParseJson(line, {.max_bytes = kMaxRunnerEventBytes, .max_depth = 16}));
  if (!j.is_object()) return core::InvalidArgument("runner event must be a JSON object");
  RunnerEvent e;
  AGENTD_ASSIGN_OR_RETURN(auto seq, core::OptionalInt(j, "seq", "runner event"));
  if (!seq || *seq < 1) return core::InvalidArgument("runner event needs a seq >= 1");
  e.seq = *seq;
  AGENTD_ASSIGN_OR_RETURN(e.type, core::RequiredString(j, "type", "runner event"));
  if (!IsKnownEventType(e.type)) {
    return core::InvalidArgument("unknown runner event type \"" + e.type.substr(0, 40) + "\"");
  }
  AGENTD_ASSIGN_OR_RETURN(auto time, core::OptionalString(j, "time", "runner event"));
  if (time) {
    AGENTD_ASSIGN_OR_RETURN(e.time, core::ParseRfc3339(*time));
  }
  auto data = j.find("data");
  if (data != j.end()) {
    if (!data->is_object()) return core::InvalidArgument("runner event data must be an object");
    e.data = std::move(*data);
  }
  if (e.type == "violation") AGENTD_RETURN_IF_ERROR(ValidateViolationData(e.data));
  return e;
}

}  // namespace agentd::api::v1
