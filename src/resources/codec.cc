#include "resources/codec.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>
#include <utility>

#include "core/text.h"
#include "resources/decoder.h"
#include "resources/validation.h"
#include "resources/yaml_json.h"

namespace agentd::resources {

using core::Json;
using core::Result;
using core::Status;

namespace {

constexpr size_t kMaxShortString = 253;
constexpr size_t kMaxUrlBytes = 2048;
constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

Status CheckDnsLabel(const Field& field, const std::string& value) {
  if (IsDnsLabel(value)) return core::Ok();
  return field.Fail(
      "must be a DNS-1123 label (at most 63 lowercase letters, digits and '-', starting and "
      "ending with a letter or digit), got " +
      core::QuoteForMessage(value));
}

// A list of DNS-1123 names without repeats (roles, instruction names).
Result<std::vector<std::string>> NameList(const Field& field, size_t max_items) {
  AGENTD_ASSIGN_OR_RETURN(auto names, field.StringList(max_items, kMaxShortString));
  std::set<std::string_view> seen;
  for (size_t i = 0; i < names.size(); ++i) {
    AGENTD_RETURN_IF_ERROR(CheckDnsLabel(field.Item(i), names[i]));
    if (!seen.insert(names[i]).second)
      return field.Fail("lists " + core::QuoteForMessage(names[i]) + " twice");
  }
  return names;
}

// A list of tool names from kToolNames without repeats.
Result<std::vector<std::string>> ToolList(const Field& field) {
  AGENTD_ASSIGN_OR_RETURN(auto tools, field.StringList(16, 64));
  std::set<std::string_view> seen;
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string& tool = tools[i];
    if (std::find(std::begin(kToolNames), std::end(kToolNames), tool) == std::end(kToolNames)) {
      return field.Item(i).Fail("must be one of read_file, write_file, list_files, shell, got " +
                                core::QuoteForMessage(tool));
    }
    if (!seen.insert(tool).second)
      return field.Fail("lists " + core::QuoteForMessage(tool) + " twice");
  }
  return tools;
}

// How long a run may wait for approval: at most 30 days.
constexpr int64_t kMaxApprovalTimeoutSeconds = 30 * 86400;

// --- metadata -------------------------------------------------------------------------------

Result<ObjectMeta> DecodeMeta(const Field& field, DocContext& ctx, std::string_view kind) {
  // From creationTimestamp on: what the Kubernetes API server fills in; accepted and ignored.
  AGENTD_RETURN_IF_ERROR(field.RequireObject(
      {"name", "namespace", "labels", "annotations", "uid", "generation", "resourceVersion",
       "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers",
       "ownerReferences", "managedFields", "generateName", "selfLink"}));
  ObjectMeta meta;
  AGENTD_ASSIGN_OR_RETURN(meta.name, field["name"].RequiredString(kMaxShortString));
  AGENTD_RETURN_IF_ERROR(CheckDnsLabel(field["name"], meta.name));
  ctx.SetObject(kind, meta.name);

  AGENTD_ASSIGN_OR_RETURN(auto ns, field["namespace"].OptionalString(kMaxShortString));
  if (ns && !ns->empty()) {
    AGENTD_RETURN_IF_ERROR(CheckDnsLabel(field["namespace"], *ns));
    meta.namespace_ = *ns;
  }

  AGENTD_ASSIGN_OR_RETURN(meta.labels, field["labels"].StringMap(64, kMaxNameLength));
  for (const auto& [key, value] : meta.labels) {
    if (!IsQualifiedName(key)) {
      return field["labels"].Fail("has an invalid key " + core::QuoteForMessage(key) +
                                  " (want [prefix/]name, the name at most 63 characters of "
                                  "letters, digits, '-', '_' and '.')");
    }
    if (!IsLabelValue(value)) {
      return field["labels"][key].Fail(
          "must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
          "letter or digit, got " +
          core::QuoteForMessage(value));
    }
  }

  constexpr size_t kMaxAnnotationBytes = 256 * 1024;
  AGENTD_ASSIGN_OR_RETURN(meta.annotations,
                          field["annotations"].StringMap(256, kMaxAnnotationBytes));
  size_t total = 0;
  for (const auto& [key, value] : meta.annotations) {
    if (!IsQualifiedName(key)) {
      return field["annotations"].Fail("has an invalid key " + core::QuoteForMessage(key));
    }
    total += key.size() + value.size();
  }
  if (total > kMaxAnnotationBytes) {
    return field["annotations"].Fail("are " + std::to_string(total) +
                                     " bytes in total, over the limit of " +
                                     std::to_string(kMaxAnnotationBytes));
  }

  AGENTD_ASSIGN_OR_RETURN(auto uid, field["uid"].OptionalString(128));
  meta.uid = uid.value_or("");
  AGENTD_ASSIGN_OR_RETURN(meta.generation, field["generation"].Int(0, kMaxInt, 0));
  AGENTD_ASSIGN_OR_RETURN(auto resource_version, field["resourceVersion"].OptionalString(128));
  meta.resource_version = resource_version.value_or("");
  return meta;
}

Json MetaToJson(const ObjectMeta& meta) {
  Json out = {{"name", meta.name}};
  if (!meta.namespace_.empty()) out["namespace"] = meta.namespace_;
  if (!meta.labels.empty()) out["labels"] = meta.labels;
  if (!meta.annotations.empty()) out["annotations"] = meta.annotations;
  if (!meta.uid.empty()) out["uid"] = meta.uid;
  if (meta.generation != 0) out["generation"] = meta.generation;
  if (!meta.resource_version.empty()) out["resourceVersion"] = meta.resource_version;
  return out;
}

Json Envelope(std::string_view kind, const ObjectMeta& meta, Json spec) {
  return {{"apiVersion", kApiVersion},
          {"kind", kind},
          {"metadata", MetaToJson(meta)},
          {"spec", std::move(spec)}};
}

// --- Model ----------------------------------------------------------------------------------

// `env` is what local runs read, `secretRef` what Kubernetes pods get; a Model used in both
// places sets both.
Result<SecretSource> DecodeSecretSource(const Field& field) {
  AGENTD_RETURN_IF_ERROR(field.ExpectObject({"env", "secretRef"}));
  SecretSource out;
  if (!field.present()) return out;
  AGENTD_ASSIGN_OR_RETURN(auto env, field["env"].OptionalString(256));
  Field ref = field["secretRef"];
  if (!env.has_value() && !ref.present()) {
    return field.Fail(
        "must set env (an environment variable, for local runs), secretRef (a Kubernetes "
        "Secret, for Kubernetes runs), or both");
  }
  if (env) {
    if (!IsEnvVarName(*env)) {
      return field["env"].Fail(
          "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*), "
          "got " +
          core::QuoteForMessage(*env));
    }
    out.env = *env;
  }
  if (!ref.present()) return out;
  AGENTD_RETURN_IF_ERROR(ref.ExpectObject({"name", "key"}));
  SecretKeyRef secret;
  AGENTD_ASSIGN_OR_RETURN(secret.name, ref["name"].RequiredString(kMaxShortString));
  if (!IsDnsSubdomain(secret.name)) {
    return ref["name"].Fail("must be a Kubernetes Secret name (DNS-1123 subdomain), got " +
                            core::QuoteForMessage(secret.name));
  }
  AGENTD_ASSIGN_OR_RETURN(secret.key, ref["key"].RequiredString(kMaxShortString));
  if (!IsSecretKey(secret.key)) {
    return ref["key"].Fail("must be letters, digits, '-', '_' and '.', got " +
                           core::QuoteForMessage(secret.key));
  }
  out.secret_ref = std::move(secret);
  return out;
}

Json SecretSourceToJson(const SecretSource& source) {
  Json out = Json::object();
  if (!source.env.empty()) out["env"] = source.env;
  if (source.secret_ref) {
    out["secretRef"] = {{"name", source.secret_ref->name}, {"key", source.secret_ref->key}};
  }
  return out;
}

std::string DefaultBaseUrl(std::string_view provider) {
  if (provider == kProviderOpenAi) return "https://api.openai.com/v1";
  if (provider == kProviderAnthropic) return "https://api.anthropic.com/v1";
  return "";
}

Result<ModelSpec> DecodeModelSpec(const Field& spec) {
  AGENTD_RETURN_IF_ERROR(
      spec.RequireObject({"provider", "baseUrl", "model", "apiKey", "pricing", "contextWindow",
                          "maxOutputTokens", "requestTimeoutSeconds", "maxRetries", "weights"}));
  const ModelSpec defaults;
  ModelSpec out;
  AGENTD_ASSIGN_OR_RETURN(out.provider, spec["provider"].RequiredString(64));
  if (out.provider != kProviderOpenAi && out.provider != kProviderAnthropic &&
      out.provider != kProviderOpenAiCompatible) {
    return spec["provider"].Fail("must be one of openai, anthropic, openai-compatible, got " +
                                 core::QuoteForMessage(out.provider));
  }

  AGENTD_ASSIGN_OR_RETURN(auto base_url, spec["baseUrl"].OptionalString(kMaxUrlBytes));
  if (base_url && !base_url->empty()) {
    if (!IsHttpUrl(*base_url)) {
      return spec["baseUrl"].Fail("must be an http:// or https:// URL, got " +
                                  core::QuoteForMessage(*base_url));
    }
    // Clients append paths such as "/chat/completions".
    while (base_url->ends_with('/')) base_url->pop_back();
    out.base_url = *base_url;
  } else {
    out.base_url = DefaultBaseUrl(out.provider);
    if (out.base_url.empty()) {
      return spec["baseUrl"].Fail("is required for provider " + out.provider);
    }
  }

  AGENTD_ASSIGN_OR_RETURN(out.model, spec["model"].RequiredString(256));
  if (!IsSafeToken(out.model)) {
    return spec["model"].Fail("must not contain whitespace or start with '-', got " +
                              core::QuoteForMessage(out.model));
  }

  AGENTD_ASSIGN_OR_RETURN(out.api_key, DecodeSecretSource(spec["apiKey"]));
  if (out.api_key.empty() && out.provider != kProviderOpenAiCompatible) {
    return spec["apiKey"].Fail("is required for provider " + out.provider +
                               " (e.g. {env: OPENAI_API_KEY})");
  }

  Field pricing = spec["pricing"];
  AGENTD_RETURN_IF_ERROR(pricing.ExpectObject(
      {"inputPerMillionUsd", "outputPerMillionUsd", "cachedInputPerMillionUsd"}));
  AGENTD_ASSIGN_OR_RETURN(auto input, pricing["inputPerMillionUsd"].OptionalUsd());
  AGENTD_ASSIGN_OR_RETURN(auto output, pricing["outputPerMillionUsd"].OptionalUsd());
  AGENTD_ASSIGN_OR_RETURN(auto cached, pricing["cachedInputPerMillionUsd"].OptionalUsd());
  out.pricing.input_per_million = input.value_or(0);
  out.pricing.output_per_million = output.value_or(0);
  out.pricing.cached_input_per_million = cached.value_or(out.pricing.input_per_million);

  AGENTD_ASSIGN_OR_RETURN(out.context_window,
                          spec["contextWindow"].Int(0, 100'000'000, defaults.context_window));
  AGENTD_ASSIGN_OR_RETURN(out.max_output_tokens,
                          spec["maxOutputTokens"].Int(1, 10'000'000, defaults.max_output_tokens));
  if (out.context_window > 0 && out.max_output_tokens > out.context_window) {
    return spec["maxOutputTokens"].Fail("(" + std::to_string(out.max_output_tokens) +
                                        ") must not exceed contextWindow (" +
                                        std::to_string(out.context_window) + ")");
  }
  AGENTD_ASSIGN_OR_RETURN(int64_t timeout, spec["requestTimeoutSeconds"].Int(
                                               1, 3600, defaults.request_timeout.count()));
  out.request_timeout = std::chrono::seconds(timeout);
  AGENTD_ASSIGN_OR_RETURN(int64_t retries, spec["maxRetries"].Int(0, 20, defaults.max_retries));
  out.max_retries = static_cast<int>(retries);

  Field weights = spec["weights"];
  AGENTD_RETURN_IF_ERROR(weights.ExpectObject({"url", "sha256"}));
  if (weights.present()) {
    LocalWeights w;
    AGENTD_ASSIGN_OR_RETURN(w.url, weights["url"].RequiredString(kMaxUrlBytes));
    if (!IsHttpUrl(w.url)) {
      return weights["url"].Fail("must be an http:// or https:// URL, got " +
                                 core::QuoteForMessage(w.url));
    }
    AGENTD_ASSIGN_OR_RETURN(w.sha256, weights["sha256"].RequiredString(64 + 1));
    if (!IsSha256Hex(w.sha256)) {
      return weights["sha256"].Fail("must be 64 hexadecimal digits, got " +
                                    core::QuoteForMessage(w.sha256));
    }
    std::transform(w.sha256.begin(), w.sha256.end(), w.sha256.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.weights = std::move(w);
  }
  return out;
}

Json ModelSpecToJson(const ModelSpec& spec) {
  Json out = {
      {"provider", spec.provider},
      {"baseUrl", spec.base_url},
      {"model", spec.model},
      {"pricing",
       {{"inputPerMillionUsd", core::FormatUsd(spec.pricing.input_per_million)},
        {"outputPerMillionUsd", core::FormatUsd(spec.pricing.output_per_million)},
        {"cachedInputPerMillionUsd", core::FormatUsd(spec.pricing.cached_input_per_million)}}},
      {"contextWindow", spec.context_window},
      {"maxOutputTokens", spec.max_output_tokens},
      {"requestTimeoutSeconds", spec.request_timeout.count()},
      {"maxRetries", spec.max_retries},
  };
  if (!spec.api_key.empty()) out["apiKey"] = SecretSourceToJson(spec.api_key);
  if (spec.weights) out["weights"] = {{"url", spec.weights->url}, {"sha256", spec.weights->sha256}};
  return out;
}

// --- Instruction ----------------------------------------------------------------------------

Result<InstructionSpec> DecodeInstructionSpec(const Field& spec) {
  AGENTD_RETURN_IF_ERROR(spec.RequireObject({"scope", "priority", "roles", "text"}));
  InstructionSpec out;
  AGENTD_ASSIGN_OR_RETURN(std::string scope, spec["scope"].RequiredString(64));
  AGENTD_ASSIGN_OR_RETURN(auto priority, spec["priority"].OptionalInt(0, 10'000));
  AGENTD_ASSIGN_OR_RETURN(out.roles, NameList(spec["roles"], 64));
  if (scope == "global") {
    out.scope = InstructionScope::kGlobal;
    if (!priority) {
      return spec["priority"].Fail("is required for scope global (lower comes first)");
    }
    out.priority = static_cast<int>(*priority);
    if (spec["roles"].present()) {
      return spec["roles"].Fail(
          "applies only to scope local; a global instruction applies to "
          "every agent");
    }
  } else if (scope == "local") {
    out.scope = InstructionScope::kLocal;
    if (out.roles.empty()) {
      return spec["roles"].Fail("must list at least one agent role for scope local");
    }
    if (priority) {
      return spec["priority"].Fail(
          "applies only to scope global; local instructions are "
          "ordered by name");
    }
  } else {
    return spec["scope"].Fail("must be global or local, got " + core::QuoteForMessage(scope));
  }
  AGENTD_ASSIGN_OR_RETURN(out.text, spec["text"].RequiredString(kMaxTextBytes));
  return out;
}

Json InstructionSpecToJson(const InstructionSpec& spec) {
  Json out;
  if (spec.scope == InstructionScope::kGlobal) {
    out = {{"scope", "global"}, {"priority", spec.priority}};
  } else {
    out = {{"scope", "local"}, {"roles", spec.roles}};
  }
  out["text"] = spec.text;
  return out;
}

// --- Agent ----------------------------------------------------------------------------------

Result<AgentLimits> DecodeLimits(const Field& limits) {
  AGENTD_RETURN_IF_ERROR(
      limits.ExpectObject({"maxTurns", "timeoutSeconds", "maxTokens", "maxCostUsd", "maxConcurrent",
                           "shellTimeoutSeconds", "maxToolOutputBytes"}));
  const AgentLimits defaults;
  AgentLimits out;
  AGENTD_ASSIGN_OR_RETURN(int64_t turns, limits["maxTurns"].Int(1, 1000, defaults.max_turns));
  out.max_turns = static_cast<int>(turns);
  AGENTD_ASSIGN_OR_RETURN(int64_t timeout,
                          limits["timeoutSeconds"].Int(1, 7 * 86400, defaults.timeout.count()));
  out.timeout = std::chrono::seconds(timeout);
  AGENTD_ASSIGN_OR_RETURN(out.max_tokens,
                          limits["maxTokens"].Int(0, 1'000'000'000'000, defaults.max_tokens));
  AGENTD_ASSIGN_OR_RETURN(auto cost, limits["maxCostUsd"].OptionalUsd());
  out.max_cost_micros = cost.value_or(defaults.max_cost_micros);
  AGENTD_ASSIGN_OR_RETURN(int64_t concurrent,
                          limits["maxConcurrent"].Int(0, 10'000, defaults.max_concurrent));
  out.max_concurrent = static_cast<int>(concurrent);
  AGENTD_ASSIGN_OR_RETURN(int64_t shell_timeout, limits["shellTimeoutSeconds"].Int(
                                                     1, 86400, defaults.shell_timeout.count()));
  out.shell_timeout = std::chrono::seconds(shell_timeout);
  AGENTD_ASSIGN_OR_RETURN(
      out.max_tool_output_bytes,
      limits["maxToolOutputBytes"].Int(1024, 16 << 20, defaults.max_tool_output_bytes));
  return out;
}

// Agent spec.kubernetes: where and as whom the pods of Kubernetes runs are scheduled.
constexpr size_t kMaxSchedulingEntries = 32;
// Kubernetes accepts any int64 here; a year is more than any run lives.
constexpr int64_t kMaxTolerationSeconds = 365 * 86400;
constexpr std::string_view kTaintEffects[] = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"};

Result<Toleration> DecodeToleration(const Field& field) {
  if (!field.present() || !field.json().is_object()) {
    return field.Fail("must be an object with key, operator, value, effect, tolerationSeconds");
  }
  AGENTD_RETURN_IF_ERROR(
      field.ExpectObject({"key", "operator", "value", "effect", "tolerationSeconds"}));
  Toleration out;
  AGENTD_ASSIGN_OR_RETURN(auto key, field["key"].OptionalString(kMaxShortString + 64));
  out.key = key.value_or("");
  if (!out.key.empty() && !IsQualifiedName(out.key)) {
    return field["key"].Fail(
        "must be a taint key ([prefix/]name, the name at most 63 letters, digits, '-', '_' "
        "and '.'), got " +
        core::QuoteForMessage(out.key));
  }
  AGENTD_ASSIGN_OR_RETURN(auto op, field["operator"].OptionalString(64));
  out.operator_ = op && !op->empty() ? *op : "Equal";
  if (out.operator_ != "Equal" && out.operator_ != "Exists") {
    return field["operator"].Fail("must be Equal or Exists, got " +
                                  core::QuoteForMessage(out.operator_));
  }
  AGENTD_ASSIGN_OR_RETURN(auto value, field["value"].OptionalString(kMaxShortString));
  out.value = value.value_or("");
  if (out.operator_ == "Exists") {
    if (!out.value.empty()) {
      return field["value"].Fail("must be empty for operator Exists, got " +
                                 core::QuoteForMessage(out.value));
    }
  } else {
    if (out.key.empty()) {
      return field["key"].Fail(
          "is required for operator Equal (only operator Exists may leave it empty, which "
          "tolerates every taint)");
    }
    if (!IsLabelValue(out.value)) {
      return field["value"].Fail(
          "must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
          "letter or digit, got " +
          core::QuoteForMessage(out.value));
    }
  }
  AGENTD_ASSIGN_OR_RETURN(auto effect, field["effect"].OptionalString(64));
  out.effect = effect.value_or("");
  if (std::find(std::begin(kTaintEffects), std::end(kTaintEffects), out.effect) ==
      std::end(kTaintEffects)) {
    return field["effect"].Fail(
        "must be NoSchedule, PreferNoSchedule, NoExecute or empty (every effect), got " +
        core::QuoteForMessage(out.effect));
  }
  AGENTD_ASSIGN_OR_RETURN(out.toleration_seconds,
                          field["tolerationSeconds"].OptionalInt(0, kMaxTolerationSeconds));
  if (out.toleration_seconds && out.effect != "NoExecute") {
    return field["tolerationSeconds"].Fail("applies only to effect NoExecute");
  }
  return out;
}

Result<AgentKubernetes> DecodeAgentKubernetes(const Field& field) {
  AGENTD_RETURN_IF_ERROR(field.ExpectObject(
      {"nodeSelector", "tolerations", "serviceAccountName", "automountServiceAccountToken"}));
  AgentKubernetes out;
  Field selector = field["nodeSelector"];
  AGENTD_ASSIGN_OR_RETURN(out.node_selector,
                          selector.StringMap(kMaxSchedulingEntries, kMaxNameLength));
  for (const auto& [key, value] : out.node_selector) {
    if (!IsQualifiedName(key)) {
      return selector.Fail("has an invalid key " + core::QuoteForMessage(key) +
                           " (want a node label key: [prefix/]name, the name at most 63 "
                           "characters of letters, digits, '-', '_' and '.')");
    }
    if (!IsLabelValue(value)) {
      return selector[key].Fail(
          "must be at most 63 letters, digits, '-', '_' and '.', starting and ending with a "
          "letter or digit, got " +
          core::QuoteForMessage(value));
    }
  }

  Field tolerations = field["tolerations"];
  if (tolerations.present()) {
    if (!tolerations.json().is_array()) {
      return tolerations.Fail("must be a list, got " +
                              std::string(JsonTypeWord(tolerations.json())));
    }
    if (tolerations.json().size() > kMaxSchedulingEntries) {
      return tolerations.Fail("has " + std::to_string(tolerations.json().size()) +
                              " items, over the limit of " + std::to_string(kMaxSchedulingEntries));
    }
    for (size_t i = 0; i < tolerations.json().size(); ++i) {
      AGENTD_ASSIGN_OR_RETURN(Toleration toleration, DecodeToleration(tolerations.Item(i)));
      out.tolerations.push_back(std::move(toleration));
    }
  }

  AGENTD_ASSIGN_OR_RETURN(auto account,
                          field["serviceAccountName"].OptionalString(kMaxShortString));
  out.service_account_name = account.value_or("");
  if (!out.service_account_name.empty() && !IsDnsSubdomain(out.service_account_name)) {
    return field["serviceAccountName"].Fail(
        "must be a service account name (DNS-1123 subdomain), got " +
        core::QuoteForMessage(out.service_account_name));
  }
  AGENTD_ASSIGN_OR_RETURN(out.automount_service_account_token,
                          field["automountServiceAccountToken"].Bool(false));
  return out;
}

Json AgentKubernetesToJson(const AgentKubernetes& kubernetes) {
  Json tolerations = Json::array();
  for (const Toleration& t : kubernetes.tolerations) {
    Json item = {
        {"key", t.key}, {"operator", t.operator_}, {"value", t.value}, {"effect", t.effect}};
    if (t.toleration_seconds) item["tolerationSeconds"] = *t.toleration_seconds;
    tolerations.push_back(std::move(item));
  }
  Json selector = Json::object();
  for (const auto& [key, value] : kubernetes.node_selector) selector[key] = value;
  return {{"nodeSelector", std::move(selector)},
          {"tolerations", std::move(tolerations)},
          {"serviceAccountName", kubernetes.service_account_name},
          {"automountServiceAccountToken", kubernetes.automount_service_account_token}};
}

Result<AgentSpec> DecodeAgentSpec(const Field& spec, const ObjectMeta& meta) {
  AGENTD_RETURN_IF_ERROR(spec.RequireObject(
      {"role", "model", "instructions", "systemPrompt", "runtime", "command", "tools", "workspace",
       "limits", "resources", "tier", "env", "image", "approval", "kubernetes"}));
  AgentSpec out;
  AGENTD_ASSIGN_OR_RETURN(auto role, spec["role"].OptionalString(kMaxShortString));
  out.role = role && !role->empty() ? *role : meta.name;
  AGENTD_RETURN_IF_ERROR(CheckDnsLabel(spec["role"], out.role));

  AGENTD_ASSIGN_OR_RETURN(auto runtime, spec["runtime"].OptionalString(64));
  if (!runtime || *runtime == "llm") {
    out.runtime = AgentRuntime::kLlm;
  } else if (*runtime == "command") {
    out.runtime = AgentRuntime::kCommand;
  } else {
    return spec["runtime"].Fail("must be llm or command, got " + core::QuoteForMessage(*runtime));
  }

  AGENTD_ASSIGN_OR_RETURN(auto model, spec["model"].OptionalString(kMaxShortString));
  out.model = model.value_or("");
  if (!out.model.empty()) {
    AGENTD_RETURN_IF_ERROR(CheckDnsLabel(spec["model"], out.model));
  } else if (out.runtime == AgentRuntime::kLlm) {
    return spec["model"].Fail("is required for runtime llm (the name of a Model)");
  }

  AGENTD_ASSIGN_OR_RETURN(out.instructions, NameList(spec["instructions"], 64));
  AGENTD_ASSIGN_OR_RETURN(auto prompt, spec["systemPrompt"].OptionalString(kMaxTextBytes));
  out.system_prompt = prompt.value_or("");

  AGENTD_ASSIGN_OR_RETURN(out.command, spec["command"].StringList(64, 4096));
  if (out.runtime == AgentRuntime::kCommand && out.command.empty()) {
    return spec["command"].Fail("is required for runtime command (e.g. [claude, -p])");
  }
  if (out.runtime == AgentRuntime::kLlm && spec["command"].present()) {
    return spec["command"].Fail("applies only to runtime command");
  }

  AGENTD_ASSIGN_OR_RETURN(out.tools, ToolList(spec["tools"]));

  Field workspace = spec["workspace"];
  AGENTD_RETURN_IF_ERROR(workspace.ExpectObject({"repo", "branch"}));
  AGENTD_ASSIGN_OR_RETURN(auto repo, workspace["repo"].OptionalString(kMaxUrlBytes));
  out.workspace.repo = repo.value_or("");
  if (!out.workspace.repo.empty() && !IsSafeToken(out.workspace.repo)) {
    return workspace["repo"].Fail(
        "must be a git URL without whitespace, not starting with '-', "
        "got " +
        core::QuoteForMessage(out.workspace.repo));
  }
  AGENTD_ASSIGN_OR_RETURN(auto branch, workspace["branch"].OptionalString(255));
  out.workspace.branch = branch.value_or("");
  if (!out.workspace.branch.empty()) {
    if (!IsGitRefName(out.workspace.branch)) {
      return workspace["branch"].Fail("must be a git branch name, got " +
                                      core::QuoteForMessage(out.workspace.branch));
    }
    if (out.workspace.repo.empty()) return workspace["branch"].Fail("needs workspace.repo");
  }

  AGENTD_ASSIGN_OR_RETURN(out.limits, DecodeLimits(spec["limits"]));

  Field resources = spec["resources"];
  AGENTD_RETURN_IF_ERROR(resources.ExpectObject({"cpu", "memory", "gpu"}));
  AGENTD_ASSIGN_OR_RETURN(auto cpu, resources["cpu"].OptionalString(32));
  out.resources.cpu = cpu.value_or("");
  if (!out.resources.cpu.empty() && !IsCpuQuantity(out.resources.cpu)) {
    return resources["cpu"].Fail("must be a CPU quantity such as \"2\", \"0.5\" or \"500m\", got " +
                                 core::QuoteForMessage(out.resources.cpu));
  }
  AGENTD_ASSIGN_OR_RETURN(auto memory, resources["memory"].OptionalString(32));
  out.resources.memory = memory.value_or("");
  if (!out.resources.memory.empty() && !IsMemoryQuantity(out.resources.memory)) {
    return resources["memory"].Fail("must be a memory quantity such as \"512Mi\" or \"2Gi\", got " +
                                    core::QuoteForMessage(out.resources.memory));
  }
  AGENTD_ASSIGN_OR_RETURN(int64_t gpu, resources["gpu"].Int(0, 64, 0));
  out.resources.gpu = static_cast<int>(gpu);

  AGENTD_ASSIGN_OR_RETURN(int64_t tier, spec["tier"].Int(0, 4, 0));
  out.tier = static_cast<int>(tier);

  AGENTD_ASSIGN_OR_RETURN(out.env, spec["env"].StringMap(256, 32 * 1024));
  for (const auto& [key, value] : out.env) {
    if (!IsEnvVarName(key)) {
      return spec["env"].Fail("has an invalid variable name " + core::QuoteForMessage(key) +
                              " (want [A-Za-z_][A-Za-z0-9_]*)");
    }
  }

  AGENTD_ASSIGN_OR_RETURN(auto image, spec["image"].OptionalString(512));
  out.image = image.value_or("");
  if (!out.image.empty() && !IsSafeToken(out.image)) {
    return spec["image"].Fail("must be a container image reference without whitespace, got " +
                              core::QuoteForMessage(out.image));
  }

  Field approval = spec["approval"];
  AGENTD_RETURN_IF_ERROR(approval.ExpectObject({"required", "timeoutSeconds"}));
  AGENTD_ASSIGN_OR_RETURN(out.approval.required, approval["required"].Bool(false));
  AGENTD_ASSIGN_OR_RETURN(int64_t approval_timeout,
                          approval["timeoutSeconds"].Int(0, kMaxApprovalTimeoutSeconds, 0));
  out.approval.timeout = std::chrono::seconds(approval_timeout);

  AGENTD_ASSIGN_OR_RETURN(out.kubernetes, DecodeAgentKubernetes(spec["kubernetes"]));
  return out;
}

Json AgentSpecToJson(const AgentSpec& spec) {
  const AgentLimits& limits = spec.limits;
  Json out = {
      {"role", spec.role},
      {"instructions", spec.instructions},
      {"systemPrompt", spec.system_prompt},
      {"runtime", spec.runtime == AgentRuntime::kLlm ? "llm" : "command"},
      {"tools", spec.tools},
      {"workspace", {{"repo", spec.workspace.repo}, {"branch", spec.workspace.branch}}},
      {"limits",
       {{"maxTurns", limits.max_turns},
        {"timeoutSeconds", limits.timeout.count()},
        {"maxTokens", limits.max_tokens},
        {"maxCostUsd", core::FormatUsd(limits.max_cost_micros)},
        {"maxConcurrent", limits.max_concurrent},
        {"shellTimeoutSeconds", limits.shell_timeout.count()},
        {"maxToolOutputBytes", limits.max_tool_output_bytes}}},
      {"resources",
       {{"cpu", spec.resources.cpu},
        {"memory", spec.resources.memory},
        {"gpu", spec.resources.gpu}}},
      {"tier", spec.tier},
      {"env", Json::object()},
      {"image", spec.image},
      {"approval",
       {{"required", spec.approval.required}, {"timeoutSeconds", spec.approval.timeout.count()}}},
      {"kubernetes", AgentKubernetesToJson(spec.kubernetes)},
  };
  if (!spec.model.empty()) out["model"] = spec.model;
  if (spec.runtime == AgentRuntime::kCommand) out["command"] = spec.command;
  for (const auto& [key, value] : spec.env) out["env"][key] = value;
  return out;
}

// --- Budget ---------------------------------------------------------------------------------

// An optional string field that, when set and non-empty, must pass `valid`.
template <typename Predicate>
Result<std::string> OptionalChecked(const Field& field, size_t max_bytes, Predicate valid,
                                    std::string_view want) {
  AGENTD_ASSIGN_OR_RETURN(auto text, field.OptionalString(max_bytes));
  if (!text || text->empty()) return std::string();
  if (!valid(*text)) {
    return field.Fail("must be " + std::string(want) + ", got " + core::QuoteForMessage(*text));
  }
  return *std::move(text);
}

Result<BudgetScope> DecodeBudgetScope(const Field& scope) {
  AGENTD_RETURN_IF_ERROR(scope.ExpectObject({"agent", "team", "tier", "namespace", "apiKey"}));
  BudgetScope out;
  AGENTD_ASSIGN_OR_RETURN(out.agent, OptionalChecked(scope["agent"], kMaxShortString, IsDnsLabel,
                                                     "the name of an Agent (a DNS-1123 label)"));
  AGENTD_ASSIGN_OR_RETURN(
      out.team, OptionalChecked(scope["team"], kMaxShortString, IsLabelValue,
                                "a team label value (at most 63 letters, digits, '-', '_' and "
                                "'.', starting and ending with a letter or digit)"));
  AGENTD_ASSIGN_OR_RETURN(auto tier, scope["tier"].OptionalInt(1, 4));
  out.tier = static_cast<int>(tier.value_or(0));
  AGENTD_ASSIGN_OR_RETURN(out.namespace_, OptionalChecked(scope["namespace"], kMaxShortString,
                                                          IsDnsLabel, "a DNS-1123 label"));
  AGENTD_ASSIGN_OR_RETURN(
      out.api_key, OptionalChecked(scope["apiKey"], kMaxShortString, IsCallerIdentity,
                                   "a caller identity (1-63 letters, digits, '.', '_' and '-', "
                                   "such as \"ci\" or \"key-1a2b3c4d\")"));
  return out;
}

Json BudgetScopeToJson(const BudgetScope& scope) {
  Json out = Json::object();
  if (!scope.agent.empty()) out["agent"] = scope.agent;
  if (!scope.team.empty()) out["team"] = scope.team;
  if (scope.tier != 0) out["tier"] = scope.tier;
  if (!scope.namespace_.empty()) out["namespace"] = scope.namespace_;
  if (!scope.api_key.empty()) out["apiKey"] = scope.api_key;
  return out;
}

Result<BudgetSpec> DecodeBudgetSpec(const Field& spec) {
  AGENTD_RETURN_IF_ERROR(spec.RequireObject(
      {"scope", "period", "timeZone", "limitUsd", "softThresholdPercent", "action"}));
  const BudgetSpec defaults;
  BudgetSpec out;
  AGENTD_ASSIGN_OR_RETURN(out.scope, DecodeBudgetScope(spec["scope"]));

  AGENTD_ASSIGN_OR_RETURN(auto period, spec["period"].OptionalString(64));
  out.period = period && !period->empty() ? *period : defaults.period;
  if (std::find(std::begin(kBudgetPeriods), std::end(kBudgetPeriods), out.period) ==
      std::end(kBudgetPeriods)) {
    return spec["period"].Fail("must be day, week or month, got " +
                               core::QuoteForMessage(out.period));
  }

  AGENTD_ASSIGN_OR_RETURN(auto time_zone, spec["timeZone"].OptionalString(kMaxShortString));
  out.time_zone = time_zone && !time_zone->empty() ? *time_zone : defaults.time_zone;
  if (!IsTimeZoneName(out.time_zone)) {
    return spec["timeZone"].Fail(
        "must be an IANA time zone name such as \"UTC\" or \"Europe/Berlin\" (at most 64 "
        "letters, digits, '_', '+', '-' and '/'), got " +
        core::QuoteForMessage(out.time_zone));
  }

  AGENTD_ASSIGN_OR_RETURN(auto limit, spec["limitUsd"].OptionalUsd());
  if (!limit) return spec["limitUsd"].Fail("is required (the budget in USD, e.g. \"150\")");
  if (*limit <= 0) return spec["limitUsd"].Fail("must be greater than 0");
  out.limit_micros = *limit;

  AGENTD_ASSIGN_OR_RETURN(
      int64_t soft, spec["softThresholdPercent"].Int(0, 100, defaults.soft_threshold_percent));
  out.soft_threshold_percent = static_cast<int>(soft);

  AGENTD_ASSIGN_OR_RETURN(auto action, spec["action"].OptionalString(64));
  if (!action || action->empty() || *action == "reject") {
    out.action = BudgetAction::kReject;
  } else if (*action == "requireApproval") {
    out.action = BudgetAction::kRequireApproval;
  } else if (*action == "allow") {
    out.action = BudgetAction::kAllow;
  } else {
    return spec["action"].Fail("must be reject, requireApproval or allow, got " +
                               core::QuoteForMessage(*action));
  }
  return out;
}

Json BudgetSpecToJson(const BudgetSpec& spec) {
  return {{"scope", BudgetScopeToJson(spec.scope)},
          {"period", spec.period},
          {"timeZone", spec.time_zone},
          {"limitUsd", core::FormatUsd(spec.limit_micros)},
          {"softThresholdPercent", spec.soft_threshold_percent},
          {"action", BudgetActionName(spec.action)}};
}

// --- TierPolicy -----------------------------------------------------------------------------

Result<TierPolicySpec> DecodeTierPolicySpec(const Field& spec) {
  AGENTD_RETURN_IF_ERROR(
      spec.RequireObject({"tier", "allowedModels", "allowedTools", "maxCostPerRunUsd", "maxTurns",
                          "requireApproval", "approvalTimeoutSeconds"}));
  const TierPolicySpec defaults;
  TierPolicySpec out;
  AGENTD_ASSIGN_OR_RETURN(auto tier, spec["tier"].OptionalInt(1, 4));
  if (!tier) return spec["tier"].Fail("is required (1-4)");
  out.tier = static_cast<int>(*tier);
  if (spec["allowedModels"].present()) {
    AGENTD_ASSIGN_OR_RETURN(out.allowed_models, NameList(spec["allowedModels"], 256));
  }
  if (spec["allowedTools"].present()) {
    AGENTD_ASSIGN_OR_RETURN(out.allowed_tools, ToolList(spec["allowedTools"]));
  }
  AGENTD_ASSIGN_OR_RETURN(auto cost, spec["maxCostPerRunUsd"].OptionalUsd());
  out.max_cost_per_run_micros = cost.value_or(defaults.max_cost_per_run_micros);
  AGENTD_ASSIGN_OR_RETURN(int64_t turns, spec["maxTurns"].Int(0, 1000, defaults.max_turns));
  out.max_turns = static_cast<int>(turns);
  AGENTD_ASSIGN_OR_RETURN(out.require_approval,
                          spec["requireApproval"].Bool(defaults.require_approval));
  AGENTD_ASSIGN_OR_RETURN(int64_t timeout,
                          spec["approvalTimeoutSeconds"].Int(1, kMaxApprovalTimeoutSeconds,
                                                             defaults.approval_timeout.count()));
  out.approval_timeout = std::chrono::seconds(timeout);
  return out;
}

Json TierPolicySpecToJson(const TierPolicySpec& spec) {
  Json out = {{"tier", spec.tier},
              {"maxCostPerRunUsd", core::FormatUsd(spec.max_cost_per_run_micros)},
              {"maxTurns", spec.max_turns},
              {"requireApproval", spec.require_approval},
              {"approvalTimeoutSeconds", spec.approval_timeout.count()}};
  if (spec.allowed_models) out["allowedModels"] = *spec.allowed_models;
  if (spec.allowed_tools) out["allowedTools"] = *spec.allowed_tools;
  return out;
}

// --- documents ------------------------------------------------------------------------------

Result<AnyObject> DecodeObject(const Json& doc, DocContext& ctx) {
  Field root(ctx, &doc, "");
  if (!doc.is_object()) {
    return ctx.Fail("",
                    "a document must be an object with apiVersion, kind, metadata and spec, "
                    "got " +
                        std::string(JsonTypeWord(doc)));
  }
  AGENTD_RETURN_IF_ERROR(root.ExpectObject({"apiVersion", "kind", "metadata", "spec", "status"}));
  AGENTD_ASSIGN_OR_RETURN(std::string api_version, root["apiVersion"].RequiredString(128));
  if (api_version != kApiVersion) {
    return root["apiVersion"].Fail("must be \"" + std::string(kApiVersion) + "\", got " +
                                   core::QuoteForMessage(api_version));
  }
  AGENTD_ASSIGN_OR_RETURN(std::string kind, root["kind"].RequiredString(128));
  if (kind != "Model" && kind != "Instruction" && kind != "Agent" && kind != "Budget" &&
      kind != "TierPolicy") {
    return root["kind"].Fail("must be one of Model, Instruction, Agent, Budget, TierPolicy, got " +
                             core::QuoteForMessage(kind));
  }
  ctx.SetObject(kind, "");
  AGENTD_ASSIGN_OR_RETURN(ObjectMeta meta, DecodeMeta(root["metadata"], ctx, kind));
  Field spec = root["spec"];
  if (kind == "Model") {
    AGENTD_ASSIGN_OR_RETURN(ModelSpec model_spec, DecodeModelSpec(spec));
    return AnyObject(Model{std::move(meta), std::move(model_spec)});
  }
  if (kind == "Instruction") {
    AGENTD_ASSIGN_OR_RETURN(InstructionSpec instruction_spec, DecodeInstructionSpec(spec));
    return AnyObject(Instruction{std::move(meta), std::move(instruction_spec)});
  }
  if (kind == "Budget") {
    AGENTD_ASSIGN_OR_RETURN(BudgetSpec budget_spec, DecodeBudgetSpec(spec));
    return AnyObject(Budget{std::move(meta), std::move(budget_spec)});
  }
  if (kind == "TierPolicy") {
    AGENTD_ASSIGN_OR_RETURN(TierPolicySpec tier_spec, DecodeTierPolicySpec(spec));
    return AnyObject(TierPolicy{std::move(meta), std::move(tier_spec)});
  }
  AGENTD_ASSIGN_OR_RETURN(AgentSpec agent_spec, DecodeAgentSpec(spec, meta));
  return AnyObject(Agent{std::move(meta), std::move(agent_spec)});
}

template <typename T>
Result<T> TypedFromJson(const Json& doc, std::string_view where, std::string_view want) {
  AGENTD_ASSIGN_OR_RETURN(AnyObject object, FromJson(doc, where));
  if (auto* typed = std::get_if<T>(&object)) return std::move(*typed);
  std::string prefix = where.empty() ? "" : std::string(where) + ": ";
  return core::InvalidArgument(prefix + "kind must be " + std::string(want) + ", got " +
                               core::QuoteForMessage(KindOf(object)));
}

}  // namespace

std::string_view KindOf(const AnyObject& object) {
  struct Visitor {
    std::string_view operator()(const Model&) const { return "Model"; }
    std::string_view operator()(const Instruction&) const { return "Instruction"; }
    std::string_view operator()(const Agent&) const { return "Agent"; }
    std::string_view operator()(const Budget&) const { return "Budget"; }
    std::string_view operator()(const TierPolicy&) const { return "TierPolicy"; }
  };
  return std::visit(Visitor{}, object);
}

const ObjectMeta& MetaOf(const AnyObject& object) {
  return std::visit([](const auto& typed) -> const ObjectMeta& { return typed.metadata; }, object);
}

std::string_view BudgetActionName(BudgetAction action) {
  switch (action) {
    case BudgetAction::kReject:
      return "reject";
    case BudgetAction::kRequireApproval:
      return "requireApproval";
    case BudgetAction::kAllow:
      return "allow";
  }
  return "reject";
}

Result<std::vector<LocatedObject>> ParseLocatedObjects(std::string_view yaml_text,
                                                       std::string_view file_name) {
  AGENTD_ASSIGN_OR_RETURN(auto documents,
                          ParseYamlDocuments(yaml_text, file_name, {.max_bytes = kMaxFileBytes}));
  std::vector<LocatedObject> out;
  out.reserve(documents.size());
  for (const YamlDocument& doc : documents) {
    DocContext ctx(std::string(file_name), doc.line, &doc.lines);
    AGENTD_ASSIGN_OR_RETURN(AnyObject object, DecodeObject(doc.value, ctx));
    out.push_back({std::move(object), ctx.Location()});
  }
  return out;
}

ParseReport ParseLocatedObjectsReportingAll(std::string_view yaml_text,
                                            std::string_view file_name) {
  ParseReport report;
  auto documents = ParseYamlDocuments(yaml_text, file_name, {.max_bytes = kMaxFileBytes});
  if (!documents.ok()) {
    report.errors.push_back(std::move(documents).error());
    return report;
  }
  report.documents = documents->size();
  for (const YamlDocument& doc : *documents) {
    DocContext ctx(std::string(file_name), doc.line, &doc.lines);
    auto object = DecodeObject(doc.value, ctx);
    if (object.ok()) {
      report.objects.push_back({std::move(object).value(), ctx.Location()});
    } else {
      report.errors.push_back(std::move(object).error());
    }
  }
  return report;
}

Result<std::vector<AnyObject>> ParseObjects(std::string_view yaml_text,
                                            std::string_view file_name) {
  AGENTD_ASSIGN_OR_RETURN(auto located, ParseLocatedObjects(yaml_text, file_name));
  std::vector<AnyObject> out;
  out.reserve(located.size());
  for (LocatedObject& item : located) out.push_back(std::move(item.object));
  return out;
}

Result<AnyObject> FromJson(const Json& doc, std::string_view where) {
  DocContext ctx(std::string(where), 0, nullptr);
  return DecodeObject(doc, ctx);
}

Result<Model> ModelFromJson(const Json& doc, std::string_view where) {
  return TypedFromJson<Model>(doc, where, "Model");
}
Result<Instruction> InstructionFromJson(const Json& doc, std::string_view where) {
  return TypedFromJson<Instruction>(doc, where, "Instruction");
}
Result<Agent> AgentFromJson(const Json& doc, std::string_view where) {
  return TypedFromJson<Agent>(doc, where, "Agent");
}
Result<Budget> BudgetFromJson(const Json& doc, std::string_view where) {
  return TypedFromJson<Budget>(doc, where, "Budget");
}
Result<TierPolicy> TierPolicyFromJson(const Json& doc, std::string_view where) {
  return TypedFromJson<TierPolicy>(doc, where, "TierPolicy");
}

Json ToJson(const Model& model) {
  return Envelope("Model", model.metadata, ModelSpecToJson(model.spec));
}
Json ToJson(const Instruction& instruction) {
  return Envelope("Instruction", instruction.metadata, InstructionSpecToJson(instruction.spec));
}
Json ToJson(const Agent& agent) {
  return Envelope("Agent", agent.metadata, AgentSpecToJson(agent.spec));
}
Json ToJson(const Budget& budget) {
  return Envelope("Budget", budget.metadata, BudgetSpecToJson(budget.spec));
}
Json ToJson(const TierPolicy& policy) {
  return Envelope("TierPolicy", policy.metadata, TierPolicySpecToJson(policy.spec));
}
Json ToJson(const AnyObject& object) {
  return std::visit([](const auto& typed) { return ToJson(typed); }, object);
}

}  // namespace agentd::resources
