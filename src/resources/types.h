// The declarative object kinds (ARCHITECTURE.md section 1) as plain C++ values. One definition per
// kind is the single source for parsing, validation, defaults and (later) the CRD schema; the
// codec lives in codec.h. Every kind has the Kubernetes shape: apiVersion agentd.dev/v1alpha1,
// kind, metadata, spec.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/money.h"

namespace agentd::resources {

inline constexpr char kApiVersion[] = "agentd.dev/v1alpha1";

// Model providers (ModelSpec::provider).
inline constexpr char kProviderOpenAi[] = "openai";
inline constexpr char kProviderAnthropic[] = "anthropic";
inline constexpr char kProviderOpenAiCompatible[] = "openai-compatible";

// The tools an `llm` agent may be allowed (AgentSpec::tools).
inline constexpr std::string_view kToolNames[] = {"read_file", "write_file", "list_files", "shell"};

struct ObjectMeta {
  std::string name;
  std::string namespace_;  // empty outside a cluster
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string uid;
  int64_t generation = 0;
  std::string resource_version;

  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

// Where a secret value comes from: an environment variable of the process that needs it, a key
// of a Kubernetes Secret, or both. For a Model's API key, `env` is what local runs read (the
// control plane's environment) and `secret_ref` what the pods of Kubernetes runs get.
struct SecretKeyRef {
  std::string name;
  std::string key;

  friend bool operator==(const SecretKeyRef&, const SecretKeyRef&) = default;
};
struct SecretSource {
  std::string env;  // e.g. OPENAI_API_KEY
  std::optional<SecretKeyRef> secret_ref;
  bool empty() const { return env.empty() && !secret_ref; }

  friend bool operator==(const SecretSource&, const SecretSource&) = default;
};

// --- Model ------------------------------------------------------------------------------------

struct Pricing {
  core::MicroUsd input_per_million = 0;
  core::MicroUsd cached_input_per_million = 0;  // defaults to input_per_million when unset
  core::MicroUsd output_per_million = 0;

  friend bool operator==(const Pricing&, const Pricing&) = default;
};

struct LocalWeights {
  std::string url;
  std::string sha256;  // 64 lowercase hex digits

  friend bool operator==(const LocalWeights&, const LocalWeights&) = default;
};

struct ModelSpec {
  std::string provider;  // "openai" | "anthropic" | "openai-compatible"
  std::string base_url;  // e.g. http://127.0.0.1:8000/v1; defaults per provider
  std::string model;     // model id sent to the provider
  SecretSource api_key;  // optional for local servers
  Pricing pricing;
  int64_t context_window = 0;        // tokens; 0 = unknown
  int64_t max_output_tokens = 4096;  // per call
  std::chrono::seconds request_timeout{120};
  int max_retries = 4;  // for 429 and 5xx
  std::optional<LocalWeights> weights;

  friend bool operator==(const ModelSpec&, const ModelSpec&) = default;
};

struct Model {
  ObjectMeta metadata;
  ModelSpec spec;

  friend bool operator==(const Model&, const Model&) = default;
};

// --- Instruction ------------------------------------------------------------------------------

enum class InstructionScope { kGlobal, kLocal };

struct InstructionSpec {
  InstructionScope scope = InstructionScope::kGlobal;
  int priority = 100;              // global: lower comes first
  std::vector<std::string> roles;  // local: the agent roles it applies to
  std::string text;                // markdown

  friend bool operator==(const InstructionSpec&, const InstructionSpec&) = default;
};

struct Instruction {
  ObjectMeta metadata;
  InstructionSpec spec;

  friend bool operator==(const Instruction&, const Instruction&) = default;
};

// --- Agent ------------------------------------------------------------------------------------

enum class AgentRuntime { kLlm, kCommand };

struct AgentLimits {
  int max_turns = 20;
  int64_t max_tokens = 0;              // total over the run; 0 = no limit
  core::MicroUsd max_cost_micros = 0;  // per run; 0 = no limit of the agent's own
  std::chrono::seconds timeout{900};
  int max_concurrent = 0;  // runs of this agent at once; 0 = only the global limit
  std::chrono::seconds shell_timeout{120};
  int64_t max_tool_output_bytes = 64 * 1024;

  friend bool operator==(const AgentLimits&, const AgentLimits&) = default;
};

struct AgentWorkspace {
  std::string repo;    // git URL to clone into the workspace (optional)
  std::string branch;  // optional

  friend bool operator==(const AgentWorkspace&, const AgentWorkspace&) = default;
};

struct AgentResources {
  std::string cpu;     // Kubernetes quantities, e.g. "500m"
  std::string memory;  // e.g. "1Gi"
  int gpu = 0;

  friend bool operator==(const AgentResources&, const AgentResources&) = default;
};

// A toleration of the pods of an agent's Kubernetes runs (core/v1 Toleration).
struct Toleration {
  std::string key;                  // empty only with operator Exists (tolerates every taint)
  std::string operator_ = "Equal";  // "Equal" | "Exists"
  std::string value;                // Equal only; empty with Exists
  std::string effect;               // "" (all) | "NoSchedule" | "PreferNoSchedule" | "NoExecute"
  std::optional<int64_t> toleration_seconds;  // NoExecute only: how long the pod stays

  friend bool operator==(const Toleration&, const Toleration&) = default;
};

// Where and as whom the pods of an agent's Kubernetes runs are scheduled (ignored by the local
// executor): GPU node pools (nodeSelector + tolerations) and the pod's service account.
struct AgentKubernetes {
  std::map<std::string, std::string> node_selector;  // label key -> value; at most 32
  std::vector<Toleration> tolerations;               // at most 32
  std::string service_account_name;  // DNS-1123 subdomain; empty = the executor's default
  // Mount the service account's API token into the pod; only for agents that call the
  // Kubernetes API themselves.
  bool automount_service_account_token = false;

  bool empty() const {
    return node_selector.empty() && tolerations.empty() && service_account_name.empty() &&
           !automount_service_account_token;
  }

  friend bool operator==(const AgentKubernetes&, const AgentKubernetes&) = default;
};

// Whether runs of the agent wait in AwaitingApproval until a person approves them.
struct AgentApproval {
  bool required = false;            // true: every run needs approval (the tier may also require it)
  std::chrono::seconds timeout{0};  // how long a run may wait; 0 = the tier's timeout

  friend bool operator==(const AgentApproval&, const AgentApproval&) = default;
};

struct AgentSpec {
  std::string role;
  std::string model;                      // Model name
  std::vector<std::string> instructions;  // extra Instruction names, appended after the rest
  std::string system_prompt;
  AgentRuntime runtime = AgentRuntime::kLlm;
  std::vector<std::string> command;  // runtime: command
  std::vector<std::string> tools;    // read_file, write_file, list_files, shell
  AgentWorkspace workspace;
  AgentLimits limits;
  AgentResources resources;
  int tier = 0;  // 1-4; 0 = unset
  std::map<std::string, std::string> env;
  std::string image;
  AgentApproval approval;
  AgentKubernetes kubernetes;

  friend bool operator==(const AgentSpec&, const AgentSpec&) = default;
};

struct Agent {
  ObjectMeta metadata;
  AgentSpec spec;

  friend bool operator==(const Agent&, const Agent&) = default;
};

// --- Budget -----------------------------------------------------------------------------------

// What a run does once a budget it falls under is exhausted.
enum class BudgetAction {
  kReject,           // refuse new runs (402 budget_exceeded)
  kRequireApproval,  // new runs wait in AwaitingApproval
  kAllow,            // admit them, flagged as a violation
};

// Budget periods and their wire names (governance::ParseBudgetPeriod parses them).
inline constexpr std::string_view kBudgetPeriods[] = {"day", "week", "month"};

// Which runs a budget applies to: every field that is set must match the run; an empty scope
// applies to every run (the organisation budget).
struct BudgetScope {
  std::string agent;       // Agent name
  std::string team;        // the agent's `team` label
  int tier = 0;            // 1-4; 0 = any tier
  std::string namespace_;  // the agent's namespace
  std::string api_key;     // the caller identity ("ci", "key-1a2b3c4d")

  bool empty() const {
    return agent.empty() && team.empty() && tier == 0 && namespace_.empty() && api_key.empty();
  }

  friend bool operator==(const BudgetScope&, const BudgetScope&) = default;
};

struct BudgetSpec {
  BudgetScope scope;
  std::string period = "month";     // one of kBudgetPeriods
  std::string time_zone = "UTC";    // IANA name; the period resets at local midnight
  core::MicroUsd limit_micros = 0;  // > 0
  int soft_threshold_percent = 80;  // 0-100; 0 = no soft threshold
  BudgetAction action = BudgetAction::kReject;

  friend bool operator==(const BudgetSpec&, const BudgetSpec&) = default;
};

struct Budget {
  ObjectMeta metadata;
  BudgetSpec spec;

  friend bool operator==(const Budget&, const Budget&) = default;
};

// --- TierPolicy -------------------------------------------------------------------------------

// The limits of a governance tier (1-4). An Agent of the tier may tighten them, never loosen
// them. Without a TierPolicy object a tier gets the built-in defaults
// (governance/policy.h DefaultTierPolicy).
struct TierPolicySpec {
  int tier = 0;  // 1-4
  // nullopt = any model / any tool; an empty list allows none.
  std::optional<std::vector<std::string>> allowed_models;  // Model names
  std::optional<std::vector<std::string>> allowed_tools;   // from kToolNames
  core::MicroUsd max_cost_per_run_micros = 0;              // 0 = no cap of the tier
  int max_turns = 0;                                       // 0 = no cap of the tier
  bool require_approval = false;
  std::chrono::seconds approval_timeout{86400};

  friend bool operator==(const TierPolicySpec&, const TierPolicySpec&) = default;
};

struct TierPolicy {
  ObjectMeta metadata;
  TierPolicySpec spec;

  friend bool operator==(const TierPolicy&, const TierPolicy&) = default;
};

}  // namespace agentd::resources
