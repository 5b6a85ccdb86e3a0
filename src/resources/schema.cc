#include "resources/schema.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "resources/codec.h"
#include "resources/types.h"

namespace agentd::resources {

using core::Json;

namespace {

// --- formats ------------------------------------------------------------------------------------
// Regular expressions for the predicates of validation.h, in the subset RE2 (the API server)
// and ECMAScript (schema_test.cc) read alike. "Optional" forms also accept "", which the codec
// reads as "not set". Where a predicate says more than a regular expression can without
// look-arounds (git ref names, label lengths inside a subdomain), the pattern is looser and the
// codec has the last word.

constexpr char kDnsLabelPattern[] = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
constexpr char kOptionalDnsLabelPattern[] = "^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$";
constexpr char kDnsSubdomainPattern[] =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
constexpr char kOptionalDnsSubdomainPattern[] =
    "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$";
// A label key or taint key, [prefix/]name (validation.h IsQualifiedName), or "". The prefix's
// 253-character bound is left to the codec.
constexpr char kOptionalQualifiedNamePattern[] =
    "^(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/"
    ")?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$";
constexpr char kLabelValuePattern[] = "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
constexpr char kEnvVarPattern[] = "^[A-Za-z_][A-Za-z0-9_]*$";
constexpr char kSecretKeyPattern[] = "^[-._a-zA-Z0-9]+$";
constexpr char kHttpUrlPattern[] = "^https?://[^\\s/:]\\S*$";
constexpr char kOptionalHttpUrlPattern[] = "^(https?://[^\\s/:]\\S*)?$";
constexpr char kSha256Pattern[] = "^[0-9a-fA-F]{64}$";
constexpr char kUsdPattern[] = "^([0-9]{1,12}(\\.[0-9]{1,6})?|\\.[0-9]{1,6})$";
constexpr char kCpuPattern[] = "^(([0-9]+(\\.[0-9]+)?|\\.[0-9]+)m?)?$";
constexpr char kMemoryPattern[] = "^(([0-9]+(\\.[0-9]+)?|\\.[0-9]+)([kMGTPE]|[KMGTPE]i)?)?$";
constexpr char kSafeTokenPattern[] = "^[^\\s-]\\S*$";
constexpr char kOptionalSafeTokenPattern[] = "^([^\\s-]\\S*)?$";
constexpr char kGitRefPattern[] = "^([^\\s~^:?*\\[\\\\-][^\\s~^:?*\\[\\\\]*)?$";
constexpr char kTimeZonePattern[] = "^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$";
constexpr char kOptionalCallerIdentityPattern[] = "^([A-Za-z0-9._-]{1,63})?$";
constexpr char kIdempotencyKeyPattern[] = "^[ -~]{1,128}$";

constexpr int64_t kMaxTextChars = 64 * 1024;
constexpr int64_t kMaxApprovalTimeout = 30 * 86400;
constexpr int64_t kMaxSchedulingEntries = 32;
constexpr int64_t kMaxTolerationSeconds = 365 * 86400;

// --- building field schemas -----------------------------------------------------------------

// Chained setters over a FieldSchema: String("name", "...").Required().MaxLength(63).
class Builder {
 public:
  Builder(std::string name, SchemaType type, std::string description) {
    field_.name = std::move(name);
    field_.type = type;
    field_.description = std::move(description);
  }

  Builder&& Required() && {
    field_.required = true;
    return std::move(*this);
  }
  Builder&& Default(Json value) && {
    field_.default_value = std::move(value);
    return std::move(*this);
  }
  Builder&& Range(int64_t minimum, int64_t maximum) && {
    field_.minimum = minimum;
    field_.maximum = maximum;
    return std::move(*this);
  }
  Builder&& Minimum(int64_t minimum) && {
    field_.minimum = minimum;
    return std::move(*this);
  }
  Builder&& Length(int64_t min_length, int64_t max_length) && {
    field_.min_length = min_length;
    field_.max_length = max_length;
    return std::move(*this);
  }
  Builder&& MaxLength(int64_t max_length) && {
    field_.max_length = max_length;
    return std::move(*this);
  }
  Builder&& Pattern(std::string pattern) && {
    field_.pattern = std::move(pattern);
    return std::move(*this);
  }
  Builder&& Enum(std::vector<std::string> values) && {
    field_.enum_values = std::move(values);
    return std::move(*this);
  }
  Builder&& Format(std::string format) && {
    field_.format = std::move(format);
    return std::move(*this);
  }
  Builder&& ItemCount(std::optional<int64_t> min_items, int64_t max_items) && {
    field_.min_items = min_items;
    field_.max_items = max_items;
    return std::move(*this);
  }
  Builder&& MaxProperties(int64_t max_properties) && {
    field_.max_properties = max_properties;
    return std::move(*this);
  }
  Builder&& ListType(std::string list_type) && {
    field_.list_type = std::move(list_type);
    return std::move(*this);
  }
  Builder&& ListMapKeys(std::vector<std::string> keys) && {
    field_.list_map_keys = std::move(keys);
    return std::move(*this);
  }
  Builder&& Rule(std::string rule, std::string message) && {
    field_.rules.push_back({std::move(rule), std::move(message)});
    return std::move(*this);
  }
  Builder&& Fields(std::vector<FieldSchema> fields) && {
    field_.fields = std::move(fields);
    return std::move(*this);
  }
  Builder&& Items(FieldSchema item) && {
    field_.items = {std::move(item)};
    return std::move(*this);
  }

  operator FieldSchema() && { return std::move(field_); }  // NOLINT: implicit by design

 private:
  FieldSchema field_;
};

Builder String(std::string name, std::string description) {
  return Builder(std::move(name), SchemaType::kString, std::move(description));
}
Builder Integer(std::string name, std::string description) {
  return Builder(std::move(name), SchemaType::kInteger, std::move(description));
}
Builder Boolean(std::string name, std::string description) {
  return Builder(std::move(name), SchemaType::kBoolean, std::move(description));
}
Builder Usd(std::string name, std::string description) {
  return Builder(std::move(name), SchemaType::kUsd, std::move(description)).Pattern(kUsdPattern);
}
Builder Object(std::string name, std::string description, std::vector<FieldSchema> fields) {
  return Builder(std::move(name), SchemaType::kObject, std::move(description))
      .Fields(std::move(fields));
}
Builder Array(std::string name, std::string description, FieldSchema item) {
  return Builder(std::move(name), SchemaType::kArray, std::move(description))
      .Items(std::move(item));
}
Builder Map(std::string name, std::string description, FieldSchema value) {
  return Builder(std::move(name), SchemaType::kMap, std::move(description)).Items(std::move(value));
}
Builder Freeform(std::string name, std::string description) {
  return Builder(std::move(name), SchemaType::kFreeform, std::move(description));
}
// A list of distinct DNS-1123 names (roles, instruction and model names).
Builder NameSet(std::string name, std::string description, std::string item_description,
                int64_t max_items) {
  return Array(std::move(name), std::move(description),
               String("", std::move(item_description)).MaxLength(63).Pattern(kDnsLabelPattern))
      .ItemCount(std::nullopt, max_items)
      .ListType("set");
}
// A list of distinct tool names.
Builder ToolSet(std::string name, std::string description) {
  std::vector<std::string> tools(std::begin(kToolNames), std::end(kToolNames));
  return Array(std::move(name), std::move(description),
               String("", "A tool name.").Enum(std::move(tools)))
      .ItemCount(std::nullopt, 16)
      .ListType("set");
}

// --- status ---------------------------------------------------------------------------------

FieldSchema Conditions(std::string description) {
  return Array(
             "conditions", std::move(description),
             Object("", "One aspect of the object's state, as in metav1.Condition.",
                    {String("type", "The aspect: CamelCase, e.g. Ready or Succeeded.")
                         .Required()
                         .MaxLength(316),
                     String("status", "Whether the condition holds: True, False or Unknown.")
                         .Required()
                         .Enum({"True", "False", "Unknown"}),
                     String("reason", "Why, as a CamelCase word for programs (e.g. ModelNotFound).")
                         .MaxLength(1024),
                     String("message", "Why, for people.").MaxLength(32768),
                     String("lastTransitionTime", "When the status last changed (RFC 3339).")
                         .Format("date-time"),
                     Integer("observedGeneration",
                             "The metadata.generation the condition was computed from.")
                         .Minimum(0)}))
      .ListType("map")
      .ListMapKeys({"type"});
}

FieldSchema ObservedGeneration() {
  return Integer("observedGeneration",
                 "The metadata.generation of the spec this status describes; older than the "
                 "generation while agentd has not caught up.")
      .Minimum(0);
}

// The status of the catalog kinds: what agentd thinks of the object.
FieldSchema CatalogStatus(std::string what) {
  return Object("status", "Written by agentd: whether " + what + " is in use, and if not, why.",
                {Conditions("Ready (agentd uses the object) and Accepted (it is valid and its "
                            "references resolve), with a reason and message when False."),
                 ObservedGeneration()});
}

std::vector<PrinterColumn> WithAge(std::vector<PrinterColumn> columns) {
  columns.push_back({"AGE", "date", ".metadata.creationTimestamp", ""});
  return columns;
}

// --- the kinds --------------------------------------------------------------------------------

KindSchema ModelKind() {
  KindSchema k;
  k.kind = "Model";
  k.plural = "models";
  k.singular = "model";
  k.short_names = {"mdl"};
  k.description =
      "Where agents send their chat requests (an OpenAI, Anthropic or OpenAI-compatible "
      "endpoint), the credentials to use, and what tokens cost.";
  k.spec =
      Object(
          "spec", "The model endpoint, credentials, prices and limits.",
          {String(
               "provider",
               "The API the endpoint speaks: openai, anthropic, or openai-compatible (llama.cpp, "
               "vLLM, Ollama, llama-swap, ...).")
               .Required()
               .Enum({kProviderOpenAi, kProviderAnthropic, kProviderOpenAiCompatible}),
           String("baseUrl",
                  "The http:// or https:// URL of the API, e.g. http://127.0.0.1:8000/v1 (a "
                  "trailing / is removed). Defaults to https://api.openai.com/v1 for openai and "
                  "https://api.anthropic.com/v1 for anthropic; required for openai-compatible.")
               .MaxLength(2048)
               .Pattern(kOptionalHttpUrlPattern),
           String("model",
                  "The model id sent to the provider, e.g. gpt-4o-mini or qwen2.5-coder-7b. No "
                  "whitespace, not starting with '-'.")
               .Required()
               .Length(1, 256)
               .Pattern(kSafeTokenPattern),
           Object(
               "apiKey",
               "Where the API key comes from: env for local runs, secretRef for Kubernetes "
               "runs; set both when the model is used in both places. Required for openai and "
               "anthropic, optional for openai-compatible (local servers). The key's value "
               "never appears in objects or in the API.",
               {String("env",
                       "An environment variable of agentd that holds the key, e.g. "
                       "OPENAI_API_KEY; passed on to the local runs that use the model (a "
                       "Kubernetes pod cannot see it).")
                    .Length(1, 256)
                    .Pattern(kEnvVarPattern),
                Object("secretRef",
                       "A key of a Kubernetes Secret in the runs' namespace, given to the pods of "
                       "Kubernetes runs (local runs cannot read it).",
                       {String("name", "The Secret's name (a DNS-1123 subdomain).")
                            .Required()
                            .Length(1, 253)
                            .Pattern(kDnsSubdomainPattern),
                        String("key", "The key within the Secret (letters, digits, '-', '_', '.').")
                            .Required()
                            .Length(1, 253)
                            .Pattern(kSecretKeyPattern)})})
               .Rule("has(self.env) || has(self.secretRef)",
                     "apiKey must set env (an environment variable, for local runs), secretRef "
                     "(a Kubernetes Secret, for Kubernetes runs), or both"),
           Object("pricing",
                  "What a million tokens cost, in USD: decimal amounts with at most 6 decimal "
                  "places, written as strings (\"0.50\") or whole numbers.",
                  {Usd("inputPerMillionUsd", "The price of a million input tokens.").Default("0"),
                   Usd("outputPerMillionUsd", "The price of a million output tokens.").Default("0"),
                   Usd("cachedInputPerMillionUsd",
                       "The price of a million input tokens served from the provider's prompt "
                       "cache. Defaults to inputPerMillionUsd.")})
               .Default(Json::object()),
           Integer("contextWindow", "The model's context window in tokens; 0 = unknown.")
               .Range(0, 100'000'000)
               .Default(0),
           Integer("maxOutputTokens",
                   "The most tokens a model call may produce; not above contextWindow when that is "
                   "set.")
               .Range(1, 10'000'000)
               .Default(4096),
           Integer("requestTimeoutSeconds", "How long one model call may take, in seconds.")
               .Range(1, 3600)
               .Default(120),
           Integer("maxRetries", "Retries of a model call answered with 429 or 5xx.")
               .Range(0, 20)
               .Default(4),
           Object("weights",
                  "Local weights (e.g. a GGUF file) that Kubernetes runs download to the models "
                  "volume and check before they start.",
                  {String("url", "The http:// or https:// URL of the weights.")
                       .Required()
                       .MaxLength(2048)
                       .Pattern(kHttpUrlPattern),
                   String("sha256", "The SHA-256 of the file, 64 hexadecimal digits.")
                       .Required()
                       .Pattern(kSha256Pattern)})})
          .Rule("self.provider == 'openai-compatible' || has(self.apiKey)",
                "apiKey is required for providers openai and anthropic (e.g. {env: "
                "OPENAI_API_KEY})")
          .Rule(
              "self.provider != 'openai-compatible' || (has(self.baseUrl) && "
              "self.baseUrl != '')",
              "baseUrl is required for provider openai-compatible")
          .Rule(
              "!has(self.contextWindow) || !has(self.maxOutputTokens) || "
              "self.contextWindow == 0 || self.maxOutputTokens <= self.contextWindow",
              "maxOutputTokens must not exceed contextWindow");
  k.status = CatalogStatus("the model");
  k.columns = WithAge({{"PROVIDER", "string", ".spec.provider", "The API the endpoint speaks"},
                       {"MODEL", "string", ".spec.model", "The model id sent to the provider"},
                       {"READY", "string", ".status.conditions[?(@.type==\"Ready\")].status",
                        "Whether agentd uses the model"}});
  return k;
}

KindSchema InstructionKind() {
  KindSchema k;
  k.kind = "Instruction";
  k.plural = "instructions";
  k.singular = "instruction";
  k.short_names = {"ins"};
  k.description =
      "Markdown text composed into agents' system prompts: for every agent (scope global, "
      "ordered by priority) or for the agents of some roles (scope local, ordered by name).";
  k.spec =
      Object("spec", "Which agents get the text, and the text.",
             {String("scope",
                     "global: every agent gets it, ordered by priority; local: the agents whose "
                     "role is listed in roles get it, ordered by name.")
                  .Required()
                  .Enum({"global", "local"}),
              Integer("priority",
                      "Required for scope global, not allowed for local: lower comes first "
                      "(ties by name).")
                  .Range(0, 10'000),
              NameSet("roles",
                      "Required and non-empty for scope local, not allowed for global: the agent "
                      "roles (Agent spec.role) the text applies to.",
                      "An agent role (a DNS-1123 label).", 64)
                  .ItemCount(1, 64),
              String("text", "The instruction, in markdown; at most 64 KiB.")
                  .Required()
                  .MaxLength(kMaxTextChars)})
          .Rule("self.scope != 'global' || has(self.priority)",
                "priority is required for scope global (lower comes first)")
          .Rule("self.scope != 'global' || !has(self.roles)",
                "roles applies only to scope local; a global instruction applies to every agent")
          .Rule("self.scope != 'local' || has(self.roles)",
                "roles must list at least one agent role for scope local")
          .Rule("self.scope != 'local' || !has(self.priority)",
                "priority applies only to scope global; local instructions are ordered by name");
  k.status = CatalogStatus("the instruction");
  k.columns =
      WithAge({{"SCOPE", "string", ".spec.scope", "global (every agent) or local (some roles)"},
               {"PRIORITY", "integer", ".spec.priority", "Order of global instructions"}});
  return k;
}

FieldSchema AgentKubernetesSchema() {
  FieldSchema toleration =
      Object("", "A taint the pod tolerates, as in a pod's spec.tolerations.",
             {String("key",
                     "The taint key ([prefix/]name). Required for operator Equal; empty with "
                     "operator Exists tolerates every taint.")
                  .MaxLength(253 + 1 + 63)
                  .Pattern(kOptionalQualifiedNamePattern),
              String("operator",
                     "Equal: the taint's value must be value; Exists: any value (value stays "
                     "empty).")
                  .Enum({"Equal", "Exists"})
                  .Default("Equal"),
              String("value", "The taint value for operator Equal (a label value).")
                  .MaxLength(63)
                  .Pattern(kLabelValuePattern),
              String("effect",
                     "The taint effect tolerated: NoSchedule, PreferNoSchedule, NoExecute, or "
                     "empty for every effect.")
                  .Enum({"", "NoSchedule", "PreferNoSchedule", "NoExecute"}),
              Integer("tolerationSeconds",
                      "Effect NoExecute only: how long the pod stays on a node after the taint "
                      "appears; unset = for ever.")
                  .Range(0, kMaxTolerationSeconds)})
          .Rule(
              "(has(self.operator) && self.operator == 'Exists') || (has(self.key) && "
              "self.key != '')",
              "key is required for operator Equal")
          .Rule(
              "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || "
              "self.value == ''",
              "value must be empty for operator Exists")
          .Rule("!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                "tolerationSeconds applies only to effect NoExecute");
  return Object("kubernetes",
                "Where and as whom the pods of the agent's Kubernetes runs are scheduled (the "
                "local executor ignores it), e.g. a GPU node pool.",
                {Map("nodeSelector",
                     "Node labels the pod's node must have, e.g. "
                     "{cloud.google.com/gke-accelerator: nvidia-l4}: keys are label keys "
                     "([prefix/]name), values label values; at most 32.",
                     String("", "A node label value.").MaxLength(63).Pattern(kLabelValuePattern))
                     .MaxProperties(kMaxSchedulingEntries),
                 Array("tolerations",
                       "Node taints the pod tolerates; at most 32. An agent with resources.gpu > "
                       "0 also tolerates nvidia.com/gpu (Exists, NoSchedule) without listing it.",
                       std::move(toleration))
                     .ItemCount(std::nullopt, kMaxSchedulingEntries)
                     .ListType("atomic"),
                 String("serviceAccountName",
                        "The service account the pods run as, in the runs' namespace (a DNS-1123 "
                        "subdomain); empty = the executor's (EXECUTOR_SERVICE_ACCOUNT).")
                     .MaxLength(253)
                     .Pattern(kOptionalDnsSubdomainPattern),
                 Boolean("automountServiceAccountToken",
                         "Mount the service account's API token into the pod: only for agents "
                         "that call the Kubernetes API themselves.")
                     .Default(false)})
      .Default(Json::object());
}

KindSchema AgentKind() {
  KindSchema k;
  k.kind = "Agent";
  k.plural = "agents";
  k.singular = "agent";
  k.short_names = {"agt"};
  k.description =
      "A role with a model, a system prompt, the tools it may use and its limits. Each run of "
      "an agent executes in isolation (a process, or one Job per run on Kubernetes). The labels "
      "team and cost-center attribute its costs.";
  k.spec =
      Object(
          "spec", "What the agent is, what it may do and what it may spend.",
          {String("role",
                  "The agent's role (a DNS-1123 label); selects the local Instructions that apply. "
                  "Defaults to the object's name.")
               .MaxLength(63)
               .Pattern(kOptionalDnsLabelPattern),
           String("model",
                  "The name of a Model in the same namespace. Required for runtime llm, optional "
                  "for command.")
               .MaxLength(63)
               .Pattern(kOptionalDnsLabelPattern),
           NameSet("instructions",
                   "Extra Instructions by name, appended in this order after the global and "
                   "local ones that apply; each must exist.",
                   "An Instruction name.", 64),
           String("systemPrompt", "Comes first in the composed system prompt; at most 64 KiB.")
               .MaxLength(kMaxTextChars),
           String("runtime",
                  "llm: the built-in agent loop against model; command: an external agent CLI "
                  "(e.g. claude or codex) run in the workspace.")
               .Enum({"llm", "command"})
               .Default("llm"),
           Array("command",
                 "Required for runtime command, not allowed for llm: the program and its "
                 "arguments, e.g. [claude, -p]; the run's input is passed on stdin.",
                 String("", "One argument; at most 4096 bytes.").MaxLength(4096))
               .ItemCount(1, 64)
               .ListType("atomic"),
           ToolSet("tools",
                   "The tools the model may call (runtime llm): read_file, write_file, "
                   "list_files, shell. None when empty."),
           Object("workspace", "What the run's workspace starts with.",
                  {String("repo",
                          "A git URL cloned into the workspace. No whitespace, not starting with "
                          "'-'.")
                       .MaxLength(2048)
                       .Pattern(kOptionalSafeTokenPattern),
                   String("branch", "The branch to check out; needs repo.")
                       .MaxLength(255)
                       .Pattern(kGitRefPattern)})
               .Rule(
                   "!has(self.branch) || self.branch == '' || (has(self.repo) && self.repo != '')",
                   "workspace.branch needs workspace.repo"),
           Object(
               "limits", "What one run of the agent may use.",
               {Integer("maxTurns", "Model calls per run.").Range(1, 1000).Default(20),
                Integer("timeoutSeconds",
                        "The run's deadline in seconds (a run request's deadlineSeconds "
                        "overrides it).")
                    .Range(1, 7 * 86400)
                    .Default(900),
                Integer("maxTokens", "All tokens of a run; 0 = no limit.")
                    .Range(0, 1'000'000'000'000)
                    .Default(0),
                Usd("maxCostUsd",
                    "The most a run may cost, in USD; 0 = no limit of the agent's own (the "
                    "tier's cap, else 5 USD, applies).")
                    .Default("0"),
                Integer("maxConcurrent", "Runs of this agent at once; 0 = only the global limit.")
                    .Range(0, 10'000)
                    .Default(0),
                Integer("shellTimeoutSeconds", "How long one shell tool call may take.")
                    .Range(1, 86400)
                    .Default(120),
                Integer("maxToolOutputBytes",
                        "Tool output returned to the model per call, in bytes.")
                    .Range(1024, 16 << 20)
                    .Default(64 * 1024)})
               .Default(Json::object()),
           Object("resources", "Compute for Kubernetes runs (requests and limits of the pod).",
                  {String("cpu", "A Kubernetes CPU quantity: 2, 0.5, 500m.")
                       .MaxLength(32)
                       .Pattern(kCpuPattern),
                   String("memory", "A Kubernetes memory quantity: 512Mi, 2Gi, 1G, or bytes.")
                       .MaxLength(32)
                       .Pattern(kMemoryPattern),
                   Integer("gpu", "GPUs (nvidia.com/gpu).").Range(0, 64).Default(0)}),
           Integer("tier",
                   "The governance tier, 1 (observer) to 4 (autonomous); the agent is held to "
                   "the tier's TierPolicy. 0 = no tier.")
               .Range(0, 4)
               .Default(0),
           Map("env",
               "Environment variables of the run: names [A-Za-z_][A-Za-z0-9_]*, values strings "
               "(quote numbers); at most 256.",
               String("", "The value; at most 32 KiB.").MaxLength(32 * 1024))
               .MaxProperties(256),
           String("image",
                  "The container image of Kubernetes runs; pin it by digest (...@sha256:<64 hex "
                  "digits>).")
               .MaxLength(512)
               .Pattern(kOptionalSafeTokenPattern),
           Object("approval", "Whether runs wait for a person's approval before they start.",
                  {Boolean("required",
                           "Every run waits in AwaitingApproval until approved. The tier may "
                           "also require approval; either one is enough.")
                       .Default(false),
                   Integer("timeoutSeconds",
                           "How long a run may wait for approval before it is rejected; 0 = the "
                           "tier's timeout.")
                       .Range(0, kMaxApprovalTimeout)
                       .Default(0)})
               .Default(Json::object()),
           AgentKubernetesSchema()})
          .Rule(
              "(has(self.runtime) && self.runtime == 'command') || (has(self.model) && "
              "self.model != '')",
              "model is required for runtime llm (the name of a Model)")
          .Rule("!has(self.runtime) || self.runtime != 'command' || has(self.command)",
                "command is required for runtime command (e.g. [claude, -p])")
          .Rule("(has(self.runtime) && self.runtime == 'command') || !has(self.command)",
                "command applies only to runtime command");
  k.status = CatalogStatus("the agent");
  k.columns = WithAge({{"MODEL", "string", ".spec.model", "The Model the agent uses"},
                       {"TIER", "integer", ".spec.tier", "The governance tier"},
                       {"RUNTIME", "string", ".spec.runtime", "llm or command"},
                       {"READY", "string", ".status.conditions[?(@.type==\"Ready\")].status",
                        "Whether agentd runs the agent"}});
  return k;
}

KindSchema BudgetKind() {
  KindSchema k;
  k.kind = "Budget";
  k.plural = "budgets";
  k.singular = "budget";
  k.short_names = {"bdg"};
  k.description =
      "A spending limit over a period for the runs in its scope. At admission a run reserves "
      "its per-run cost cap against every budget whose scope matches it, all or nothing, so "
      "budgets nest (organisation, team, agent).";
  k.spec = Object(
      "spec", "Which runs the budget covers, how much they may spend, and what happens then.",
      {Object("scope",
              "Which runs the budget applies to: every field that is set must match the run; "
              "an empty scope applies to every run (the organisation budget).",
              {String("agent", "Runs of this Agent (by name).")
                   .MaxLength(63)
                   .Pattern(kOptionalDnsLabelPattern),
               String("team", "Runs of agents with this team label.")
                   .MaxLength(63)
                   .Pattern(kLabelValuePattern),
               Integer("tier", "Runs of agents of this tier.").Range(1, 4),
               String("namespace", "Runs of agents in this namespace.")
                   .MaxLength(63)
                   .Pattern(kOptionalDnsLabelPattern),
               String("apiKey",
                      "Runs submitted by this caller identity, as the API key authenticator "
                      "names it (ci, key-1a2b3c4d).")
                   .MaxLength(63)
                   .Pattern(kOptionalCallerIdentityPattern)})
           .Default(Json::object()),
       String("period",
              "day, week (Monday to Monday, ISO 8601) or month; the budget resets at the start "
              "of each.")
           .Enum(std::vector<std::string>(std::begin(kBudgetPeriods), std::end(kBudgetPeriods)))
           .Default("month"),
       String("timeZone", "The IANA time zone whose midnight starts a period, e.g. Europe/Berlin.")
           .MaxLength(64)
           .Pattern(kTimeZonePattern)
           .Default("UTC"),
       Usd("limitUsd",
           "The budget in USD (a string such as \"150\" or \"0.50\", or a whole number); "
           "greater than 0.")
           .Required(),
       Integer("softThresholdPercent",
               "Percent of limitUsd whose crossing gives an event, a metric and an audit entry; "
               "0 = no soft threshold.")
           .Range(0, 100)
           .Default(80),
       String("action",
              "Once the budget cannot take a run: reject (402 budget_exceeded), requireApproval "
              "(the run waits in AwaitingApproval) or allow (admitted, flagged as a violation).")
           .Enum({std::string(BudgetActionName(BudgetAction::kReject)),
                  std::string(BudgetActionName(BudgetAction::kRequireApproval)),
                  std::string(BudgetActionName(BudgetAction::kAllow))})
           .Default("reject")});
  k.status = CatalogStatus("the budget");
  k.columns = WithAge({{"PERIOD", "string", ".spec.period", "day, week or month"},
                       {"LIMIT", "string", ".spec.limitUsd", "The budget in USD"},
                       {"ACTION", "string", ".spec.action", "What happens once it is spent"}});
  return k;
}

KindSchema TierPolicyKind() {
  KindSchema k;
  k.kind = "TierPolicy";
  k.plural = "tierpolicies";
  k.singular = "tierpolicy";
  k.short_names = {"tp"};
  k.description =
      "The limits of one governance tier (1-4), replacing the built-in defaults of that tier "
      "whole: a field left out means no limit. An Agent of the tier may tighten them, never "
      "loosen them.";
  k.spec = Object(
      "spec", "The tier and its limits.",
      {Integer("tier", "The tier, 1-4; at most one TierPolicy per tier.").Required().Range(1, 4),
       NameSet("allowedModels",
               "The Models the tier's agents may use. Absent: any model; empty: none.",
               "A Model name.", 256),
       ToolSet("allowedTools",
               "The tools the tier's agents may use. Absent: any tool; empty: none."),
       Usd("maxCostPerRunUsd",
           "The highest per-run cost cap an agent of the tier may have, in USD; 0 = no cap.")
           .Default("0"),
       Integer("maxTurns", "The most model calls per run; 0 = no cap.").Range(0, 1000).Default(0),
       Boolean("requireApproval", "Every run of the tier's agents waits for approval.")
           .Default(false),
       Integer("approvalTimeoutSeconds",
               "How long a run may wait for approval when its agent sets no "
               "approval.timeoutSeconds.")
           .Range(1, kMaxApprovalTimeout)
           .Default(86400)});
  k.status = CatalogStatus("the policy");
  k.columns = WithAge({{"TIER", "integer", ".spec.tier", "The tier the policy governs"}});
  return k;
}

KindSchema RunKind() {
  KindSchema k;
  k.kind = "Run";
  k.plural = "runs";
  k.singular = "run";
  k.short_names = {"ar"};
  k.decoded_by_codec = false;
  k.description =
      "One run of an agent, submitted with kubectl in the namespace runs execute in "
      "(EXECUTOR_NAMESPACE), where it owns its Job. agentd admits it (budgets, policy, "
      "approval), executes it and keeps its status current; deleting the Run cancels it and "
      "its Job. The spec is the REST API's run request.";
  k.spec = Object(
      "spec", "What to run.",
      {String("agent", "The name of the Agent to run (Agents live in agentd's namespace).")
           .Required()
           .Length(1, 63)
           .Pattern(kDnsLabelPattern),
       String("input", "The task for the agent: at most 256 KiB of UTF-8.").MaxLength(256 * 1024),
       Freeform("parameters",
                "Any JSON object, nested at most 8 levels, passed to the agent with the input."),
       Integer("priority", "Higher runs first.").Range(-1000, 1000).Default(0),
       Integer("deadlineSeconds", "Overrides the agent's limits.timeoutSeconds; 0 = the agent's.")
           .Range(0, 7 * 86400)
           .Default(0),
       Map("labels", "Labels of the run (Kubernetes label syntax); at most 32.",
           String("", "A label value.").MaxLength(63).Pattern(kLabelValuePattern))
           .MaxProperties(32),
       String("idempotencyKey",
              "A key that makes the submission idempotent across Runs: a second request with "
              "the same key and the same spec gets the first run. 1-128 printable ASCII "
              "characters.")
           .Pattern(kIdempotencyKeyPattern)});
  k.status = Object(
      "status", "Written by agentd: where the run is and what it has used.",
      {String("phase",
              "Pending, AwaitingApproval, Queued, Starting, Running, then one of the terminal "
              "phases Succeeded, Failed, TimedOut, Cancelled, Rejected (which never change).")
           .Enum({"Pending", "AwaitingApproval", "Queued", "Starting", "Running", "Succeeded",
                  "Failed", "TimedOut", "Cancelled", "Rejected"}),
       Conditions("The run's conditions: the type of each is a phase (Succeeded, Failed, "
                  "...), so kubectl wait --for=condition=Succeeded works; reason and message "
                  "say why the run got there."),
       ObservedGeneration(),
       String("runId", "The id of the run in agentd (agentctl runs get <id>)."),
       Integer("attempts", "How many times an executor started the run.").Minimum(0),
       String("startedAt", "When the run started executing (RFC 3339).").Format("date-time"),
       String("finishedAt", "When the run reached a terminal phase (RFC 3339).")
           .Format("date-time"),
       Object(
           "usage", "Tokens and cost, summed over every model call of the run.",
           {Integer("inputTokens", "Input tokens.").Minimum(0),
            Integer("cachedInputTokens", "Input tokens served from the prompt cache.").Minimum(0),
            Integer("outputTokens", "Output tokens.").Minimum(0),
            Integer("modelCalls", "Model calls.").Minimum(0),
            String("costUsd", "The cost in USD, e.g. \"0.003805\".")}),
       String("result", "The agent's final answer."),
       String("error", "Why the run failed, for people."),
       String("jobName", "The Kubernetes Job executing the run.")});
  k.columns = WithAge({{"AGENT", "string", ".spec.agent", "The agent that runs"},
                       {"PHASE", "string", ".status.phase", "Where the run is"},
                       {"COST", "string", ".status.usage.costUsd", "Cost so far, in USD"},
                       {"JOB", "string", ".status.jobName", "The Job executing the run"}});
  return k;
}

// --- rendering --------------------------------------------------------------------------------

OrderedJson ToOrdered(const Json& value) { return OrderedJson::parse(value.dump()); }

OrderedJson StringList(const std::vector<std::string>& values) {
  OrderedJson out = OrderedJson::array();
  for (const std::string& value : values) out.push_back(value);
  return out;
}

constexpr char kHeader[] =
    "# Generated by `agentd crds` from src/resources/schema.cc; do not edit.\n"
    "# Regenerate with scripts/gen-crds.sh.\n";

// YAML 1.1 and 1.2 words a plain scalar would turn into a boolean or null.
bool IsReservedWord(std::string_view text) {
  static constexpr std::string_view kWords[] = {"true", "false", "yes", "no",  "on",
                                                "off",  "y",     "n",   "null"};
  for (std::string_view word : kWords) {
    if (text.size() != word.size()) continue;
    bool same = true;
    for (size_t i = 0; i < text.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(text[i])) == word[i];
    }
    if (same) return true;
  }
  return false;
}

// Plain only when it starts with a letter (never a number, indicator or timestamp), has no
// character that could start a comment, a mapping or a flow collection, and is not a boolean or
// null word; everything else is double-quoted, which also covers non-ASCII text.
bool CanBePlain(std::string_view text) {
  if (text.empty() || !std::isalpha(static_cast<unsigned char>(text.front()))) return false;
  if (text.back() == ' ' || IsReservedWord(text)) return false;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
    if (c == ':' || c == '#' || c == '[' || c == ']' || c == '{' || c == '}' || c == '"' ||
        c == '\\') {
      return false;
    }
  }
  return true;
}

std::string ScalarText(const OrderedJson& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (CanBePlain(text)) return text;
    return value.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
  }
  if (value.is_object()) return "{}";
  if (value.is_array()) return "[]";
  return value.dump();
}

bool IsBlock(const OrderedJson& value) {
  return (value.is_object() || value.is_array()) && !value.empty();
}

void EmitArray(const OrderedJson& array, size_t indent, std::string& out);

// `first_inline`: the first key goes on the current line (after "- ").
void EmitObject(const OrderedJson& object, size_t indent, bool first_inline, std::string& out) {
  bool first = true;
  for (const auto& [key, value] : object.items()) {
    if (!(first && first_inline)) out.append(indent, ' ');
    first = false;
    out += ScalarText(OrderedJson(key));
    out += ':';
    if (!IsBlock(value)) {
      out += ' ';
      out += ScalarText(value);
      out += '\n';
    } else if (value.is_object()) {
      out += '\n';
      EmitObject(value, indent + 2, false, out);
    } else {
      out += '\n';
      EmitArray(value, indent, out);
    }
  }
}

void EmitArray(const OrderedJson& array, size_t indent, std::string& out) {
  for (const OrderedJson& item : array) {
    out.append(indent, ' ');
    out += '-';
    if (!IsBlock(item)) {
      out += ' ';
      out += ScalarText(item);
      out += '\n';
    } else if (item.is_object()) {
      out += ' ';
      EmitObject(item, indent + 2, true, out);
    } else {
      out += '\n';
      EmitArray(item, indent + 2, out);
    }
  }
}

}  // namespace

const FieldSchema* FieldSchema::Find(std::string_view field_name) const {
  for (const FieldSchema& field : fields) {
    if (field.name == field_name) return &field;
  }
  return nullptr;
}

const std::vector<KindSchema>& KindSchemas() {
  static const std::vector<KindSchema> kinds = {ModelKind(),  InstructionKind(), AgentKind(),
                                                BudgetKind(), TierPolicyKind(),  RunKind()};
  return kinds;
}

const KindSchema* FindKindSchema(std::string_view kind) {
  for (const KindSchema& schema : KindSchemas()) {
    if (schema.kind == kind) return &schema;
  }
  return nullptr;
}

OrderedJson OpenApiSchema(const FieldSchema& field) {
  OrderedJson out = OrderedJson::object();
  switch (field.type) {
    case SchemaType::kString:
      out["type"] = "string";
      break;
    case SchemaType::kInteger:
      out["type"] = "integer";
      break;
    case SchemaType::kBoolean:
      out["type"] = "boolean";
      break;
    case SchemaType::kObject:
    case SchemaType::kMap:
    case SchemaType::kFreeform:
      out["type"] = "object";
      break;
    case SchemaType::kArray:
      out["type"] = "array";
      break;
    case SchemaType::kUsd:
      // The form Kubernetes documents for int-or-string (and controller-gen emits).
      out["anyOf"] = OrderedJson::array({{{"type", "integer"}}, {{"type", "string"}}});
      out["x-kubernetes-int-or-string"] = true;
      break;
  }
  out["description"] = field.description;
  if (!field.format.empty()) out["format"] = field.format;
  if (!field.enum_values.empty()) out["enum"] = StringList(field.enum_values);
  if (field.default_value) out["default"] = ToOrdered(*field.default_value);
  if (field.minimum) out["minimum"] = *field.minimum;
  if (field.maximum) out["maximum"] = *field.maximum;
  if (field.min_length) out["minLength"] = *field.min_length;
  if (field.max_length) out["maxLength"] = *field.max_length;
  if (!field.pattern.empty()) out["pattern"] = field.pattern;
  if (field.min_items) out["minItems"] = *field.min_items;
  if (field.max_items) out["maxItems"] = *field.max_items;
  if (field.max_properties) out["maxProperties"] = *field.max_properties;
  if (field.type == SchemaType::kArray && !field.items.empty()) {
    out["items"] = OpenApiSchema(field.items.front());
  }
  if (field.type == SchemaType::kMap && !field.items.empty()) {
    out["additionalProperties"] = OpenApiSchema(field.items.front());
  }
  if (field.type == SchemaType::kObject) {
    OrderedJson properties = OrderedJson::object();
    OrderedJson required = OrderedJson::array();
    for (const FieldSchema& property : field.fields) {
      properties[property.name] = OpenApiSchema(property);
      if (property.required) required.push_back(property.name);
    }
    out["properties"] = std::move(properties);
    if (!required.empty()) out["required"] = std::move(required);
  }
  if (!field.list_type.empty()) out["x-kubernetes-list-type"] = field.list_type;
  if (!field.list_map_keys.empty()) {
    out["x-kubernetes-list-map-keys"] = StringList(field.list_map_keys);
  }
  if (field.type == SchemaType::kFreeform) out["x-kubernetes-preserve-unknown-fields"] = true;
  if (!field.rules.empty()) {
    OrderedJson rules = OrderedJson::array();
    for (const ValidationRule& rule : field.rules) {
      rules.push_back({{"rule", rule.rule}, {"message", rule.message}});
    }
    out["x-kubernetes-validations"] = std::move(rules);
  }
  return out;
}

OrderedJson CrdJson(const KindSchema& kind) {
  OrderedJson root = {
      {"type", "object"},
      {"description", kind.description},
      {"required", {"spec"}},
      {"properties",
       {{"apiVersion",
         {{"type", "string"},
          {"description", std::string("The version of the object's schema: ") + kCrdGroup + "/" +
                              kCrdVersion + "."}}},
        {"kind", {{"type", "string"}, {"description", "The kind of object: " + kind.kind + "."}}},
        {"metadata", {{"type", "object"}}},
        {"spec", OpenApiSchema(kind.spec)},
        {"status", OpenApiSchema(kind.status)}}},
      // Kubernetes takes any DNS-1123 subdomain as a name; agentd's names are labels, because
      // they end up in label values and Job names.
      {"x-kubernetes-validations",
       {{{"rule", "self.metadata.name.size() <= 63 && !self.metadata.name.contains('.')"},
         {"message",
          "metadata.name must be a DNS-1123 label: at most 63 lowercase letters, digits and "
          "'-', without '.'"}}}},
  };

  OrderedJson columns = OrderedJson::array();
  for (const PrinterColumn& column : kind.columns) {
    OrderedJson entry = {
        {"name", column.name}, {"type", column.type}, {"jsonPath", column.json_path}};
    if (!column.description.empty()) entry["description"] = column.description;
    columns.push_back(std::move(entry));
  }

  OrderedJson version = {
      {"name", kCrdVersion},
      {"served", true},
      {"storage", true},
      {"subresources", {{"status", OrderedJson::object()}}},
      {"additionalPrinterColumns", std::move(columns)},
      {"schema", {{"openAPIV3Schema", std::move(root)}}},
  };

  OrderedJson names = {{"kind", kind.kind},
                       {"listKind", kind.kind + "List"},
                       {"plural", kind.plural},
                       {"singular", kind.singular}};
  if (!kind.short_names.empty()) names["shortNames"] = StringList(kind.short_names);
  names["categories"] = {"agentd"};

  return {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata",
       {{"name", kind.CrdName()},
        {"labels",
         {{"app.kubernetes.io/name", "agentd"}, {"app.kubernetes.io/part-of", "agentd"}}}}},
      {"spec",
       {{"group", kCrdGroup},
        {"names", std::move(names)},
        {"scope", "Namespaced"},
        {"versions", OrderedJson::array({std::move(version)})}}},
  };
}

std::string CrdYaml(const KindSchema& kind) { return kHeader + YamlText(CrdJson(kind)); }

std::string CrdsYaml() {
  std::string out;
  for (const KindSchema& kind : KindSchemas()) {
    if (!out.empty()) out += "---\n";
    out += CrdYaml(kind);
  }
  return out;
}

std::string CrdFileName(const KindSchema& kind) {
  return std::string(kCrdGroup) + "_" + kind.plural + ".yaml";
}

core::Status WriteCrdFiles(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::Unavailable("cannot create " + dir + ": " + ec.message());
  for (const KindSchema& kind : KindSchemas()) {
    std::string path = (std::filesystem::path(dir) / CrdFileName(kind)).string();
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file << CrdYaml(kind);
    file.close();
    if (!file) return core::Unavailable("cannot write " + path);
  }
  return core::Ok();
}

namespace {

std::string TypeWord(const Json& value) {
  if (value.is_string()) return "a string";
  if (value.is_number_integer() || value.is_number_unsigned()) return "an integer";
  if (value.is_number_float()) return "a number";
  if (value.is_boolean()) return "a boolean";
  if (value.is_object()) return "an object";
  if (value.is_array()) return "a list";
  return "null";
}

// Unicode characters of UTF-8 text, as the API server counts maxLength.
int64_t CharacterCount(std::string_view text) {
  int64_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

void CheckValue(const Json& value, const FieldSchema& schema, const std::string& path,
                std::vector<std::string>& out) {
  auto fail = [&](const std::string& what) { out.push_back(path + " " + what); };
  auto want = [&](const std::string& type) {
    fail("must be " + type + ", got " + TypeWord(value));
  };
  switch (schema.type) {
    case SchemaType::kString:
      if (!value.is_string()) return want("a string");
      break;
    case SchemaType::kInteger:
      if (!value.is_number_integer()) return want("an integer");
      break;
    case SchemaType::kBoolean:
      if (!value.is_boolean()) return want("a boolean");
      break;
    case SchemaType::kUsd:
      if (!value.is_string() && !value.is_number_integer()) return want("a string or an integer");
      break;
    case SchemaType::kObject:
    case SchemaType::kMap:
    case SchemaType::kFreeform:
      if (!value.is_object()) return want("an object");
      break;
    case SchemaType::kArray:
      if (!value.is_array()) return want("a list");
      break;
  }

  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    int64_t length = CharacterCount(text);
    if (schema.max_length && length > *schema.max_length) {
      fail("must be at most " + std::to_string(*schema.max_length) + " characters, got " +
           std::to_string(length));
    }
    if (schema.min_length && length < *schema.min_length) {
      fail("must be at least " + std::to_string(*schema.min_length) + " characters, got " +
           std::to_string(length));
    }
    if (!schema.pattern.empty() && !std::regex_search(text, std::regex(schema.pattern))) {
      fail("must match " + schema.pattern + ", got " + value.dump());
    }
    if (!schema.enum_values.empty() &&
        std::find(schema.enum_values.begin(), schema.enum_values.end(), text) ==
            schema.enum_values.end()) {
      std::string list;
      for (const std::string& item : schema.enum_values) list += (list.empty() ? "" : ", ") + item;
      fail("must be one of " + list + ", got " + value.dump());
    }
  }
  if (value.is_number_integer() && schema.type == SchemaType::kInteger) {
    auto number = value.get<int64_t>();
    if (schema.minimum && number < *schema.minimum) {
      fail("must be at least " + std::to_string(*schema.minimum) + ", got " + value.dump());
    }
    if (schema.maximum && number > *schema.maximum) {
      fail("must be at most " + std::to_string(*schema.maximum) + ", got " + value.dump());
    }
  }

  switch (schema.type) {
    case SchemaType::kObject:
      for (const auto& [key, item] : value.items()) {
        const FieldSchema* field = schema.Find(key);
        if (field == nullptr) {
          out.push_back(path + "." + key + " is not a known field");
        } else if (!item.is_null()) {
          CheckValue(item, *field, path + "." + key, out);
        }
      }
      for (const FieldSchema& field : schema.fields) {
        if (field.required && (!value.contains(field.name) || value.at(field.name).is_null())) {
          out.push_back(path + "." + field.name + " is required");
        }
      }
      break;
    case SchemaType::kMap:
      if (schema.max_properties && static_cast<int64_t>(value.size()) > *schema.max_properties) {
        fail("must have at most " + std::to_string(*schema.max_properties) + " entries, got " +
             std::to_string(value.size()));
      }
      for (const auto& [key, item] : value.items()) {
        CheckValue(item, schema.items.at(0), path + "." + key, out);
      }
      break;
    case SchemaType::kArray: {
      auto size = static_cast<int64_t>(value.size());
      if (schema.max_items && size > *schema.max_items) {
        fail("must have at most " + std::to_string(*schema.max_items) + " items, got " +
             std::to_string(size));
      }
      if (schema.min_items && size < *schema.min_items) {
        fail("must have at least " + std::to_string(*schema.min_items) + " items, got " +
             std::to_string(size));
      }
      std::set<std::string> distinct;
      for (size_t i = 0; i < value.size(); ++i) {
        const Json& item = value[i];
        CheckValue(item, schema.items.at(0), path + "[" + std::to_string(i) + "]", out);
        if (schema.list_type == "set" && !distinct.insert(item.dump()).second) {
          fail("lists " + item.dump() + " twice");
        }
        if (schema.list_type == "map" && item.is_object()) {
          Json key = Json::object();
          for (const std::string& name : schema.list_map_keys) key[name] = item.value(name, Json());
          if (!distinct.insert(key.dump()).second) fail("has two items with " + key.dump());
        }
      }
      break;
    }
    default:
      break;
  }
}

}  // namespace

std::vector<std::string> SchemaViolations(const Json& value, const FieldSchema& schema,
                                          const std::string& path) {
  std::vector<std::string> out;
  CheckValue(value, schema, path, out);
  return out;
}

std::string YamlText(const OrderedJson& value) {
  std::string out;
  if (!IsBlock(value)) return ScalarText(value) + "\n";
  if (value.is_object()) {
    EmitObject(value, 0, false, out);
  } else {
    EmitArray(value, 0, out);
  }
  return out;
}

}  // namespace agentd::resources
