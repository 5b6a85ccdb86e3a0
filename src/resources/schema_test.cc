#include "resources/schema.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "api/v1/submit.h"
#include "core/money.h"
#include "resources/codec.h"
#include "resources/validation.h"
#include "resources/yaml_json.h"
#include "runs/run.h"

namespace agentd::resources {
namespace {

using core::Json;

const KindSchema& Kind(std::string_view name) {
  const KindSchema* kind = FindKindSchema(name);
  EXPECT_NE(kind, nullptr) << name;
  return *kind;
}

// The field at a dotted path below a kind's spec ("apiKey.secretRef.name").
const FieldSchema& SpecField(std::string_view kind, std::string_view path) {
  const FieldSchema* field = &Kind(kind).spec;
  std::stringstream parts{std::string(path)};
  for (std::string part; std::getline(parts, part, '.');) {
    field = field->Find(part);
    EXPECT_NE(field, nullptr) << kind << " spec." << path;
    if (field == nullptr) return Kind(kind).spec;
  }
  return *field;
}

// --- a JSON value against a field schema --------------------------------------------------------

// Every schema path `value` sets: "spec.limits.maxTurns", "spec.tools[]", "spec.env{}".
void SeenPaths(const Json& value, const FieldSchema& schema, const std::string& path,
               std::set<std::string>* seen) {
  seen->insert(path);
  if (schema.type == SchemaType::kObject && value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      if (const FieldSchema* field = schema.Find(key))
        SeenPaths(item, *field, path + "." + key, seen);
    }
  } else if (schema.type == SchemaType::kArray && value.is_array()) {
    for (const Json& item : value) SeenPaths(item, schema.items.at(0), path + "[]", seen);
  } else if (schema.type == SchemaType::kMap && value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      SeenPaths(item, schema.items.at(0), path + "{}", seen);
    }
  }
}

// What the API server checks (not the CEL rules), each problem a failure; the paths visited are
// added to `seen` when it is not null.
void ExpectConforms(const Json& value, const FieldSchema& schema, const std::string& path,
                    std::set<std::string>* seen) {
  for (const std::string& problem : SchemaViolations(value, schema, path)) {
    ADD_FAILURE() << problem;
  }
  if (seen != nullptr) SeenPaths(value, schema, path, seen);
}

// Every path the schema declares, spelled as ExpectConforms spells them.
void DeclaredPaths(const FieldSchema& schema, const std::string& path, std::set<std::string>* out) {
  out->insert(path);
  if (schema.type == SchemaType::kObject) {
    for (const FieldSchema& field : schema.fields)
      DeclaredPaths(field, path + "." + field.name, out);
  } else if (schema.type == SchemaType::kArray) {
    DeclaredPaths(schema.items.at(0), path + "[]", out);
  } else if (schema.type == SchemaType::kMap) {
    DeclaredPaths(schema.items.at(0), path + "{}", out);
  }
}

// --- fully populated objects --------------------------------------------------------------------

// Between them, the objects of a kind set every field the codec knows, on both sides of each
// union (apiKey env / secretRef, scope global / local, runtime llm / command).
constexpr char kPopulated[] = R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: local, namespace: team-a, labels: {team: platform}}
spec:
  provider: openai-compatible
  baseUrl: http://127.0.0.1:8000/v1
  model: qwen2.5-coder-7b
  apiKey: {env: OPENAI_API_KEY}
  pricing: {inputPerMillionUsd: "0.50", outputPerMillionUsd: 2, cachedInputPerMillionUsd: "0.25"}
  contextWindow: 32768
  maxOutputTokens: 4096
  requestTimeoutSeconds: 60
  maxRetries: 2
  weights: {url: "https://example.com/q.gguf", sha256: "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}
---
apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: openai}
spec:
  provider: openai
  model: gpt-4o-mini
  apiKey: {env: OPENAI_API_KEY, secretRef: {name: openai.credentials, key: api-key}}
---
apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: in-cluster}
spec:
  provider: openai
  model: gpt-4o-mini
  apiKey: {secretRef: {name: openai, key: api-key}}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: global-security}
spec: {scope: global, priority: 30, text: "Never print secrets."}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: local-developer-workflow}
spec: {scope: local, roles: [developer, reviewer], text: "Run the tests."}
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: developer, labels: {team: platform, cost-center: eng}}
spec:
  role: developer
  model: local
  instructions: [global-security, local-developer-workflow]
  systemPrompt: You are a careful software engineer.
  runtime: llm
  tools: [read_file, write_file, list_files, shell]
  workspace: {repo: "https://github.com/x/y.git", branch: main}
  limits: {maxTurns: 30, timeoutSeconds: 600, maxTokens: 100000, maxCostUsd: "5", maxConcurrent: 2, shellTimeoutSeconds: 60, maxToolOutputBytes: 32768}
  resources: {cpu: 500m, memory: 1Gi, gpu: 1}
  tier: 3
  env: {KEY: value, PORT: "8080"}
  image: ghcr.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  approval: {required: true, timeoutSeconds: 3600}
  kubernetes:
    nodeSelector: {cloud.google.com/gke-accelerator: nvidia-l4}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      - {key: dedicated, operator: Equal, value: agents, effect: NoExecute, tolerationSeconds: 300}
    serviceAccountName: developer
    automountServiceAccountToken: true
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: claude}
spec:
  runtime: command
  command: [claude, -p]
  tier: 2
---
apiVersion: agentd.dev/v1alpha1
kind: Budget
metadata: {name: platform}
spec:
  scope: {agent: developer, team: platform, tier: 3, namespace: team-a, apiKey: ci}
  period: week
  timeZone: Europe/Berlin
  limitUsd: "150.25"
  softThresholdPercent: 70
  action: requireApproval
---
apiVersion: agentd.dev/v1alpha1
kind: TierPolicy
metadata: {name: tier-3}
spec:
  tier: 3
  allowedModels: [local, openai]
  allowedTools: [read_file, list_files]
  maxCostPerRunUsd: "5"
  maxTurns: 50
  requireApproval: true
  approvalTimeoutSeconds: 7200
)";

// A Run as kubectl would send it.
Json PopulatedRun() {
  return Json::parse(R"({
    "apiVersion": "agentd.dev/v1alpha1", "kind": "Run", "metadata": {"name": "fix-readme"},
    "spec": {"agent": "developer", "input": "add a README", "parameters": {"repo": {"name": "web"}},
             "priority": 10, "deadlineSeconds": 900, "labels": {"team": "infra"},
             "idempotencyKey": "deploy 2024-06-01"},
    "status": {"phase": "Succeeded",
               "conditions": [{"type": "Succeeded", "status": "True", "reason": "Completed",
                               "message": "done", "lastTransitionTime": "2024-06-01T10:01:12Z",
                               "observedGeneration": 1}],
               "observedGeneration": 1, "runId": "run-01j0c4x7m2a9k3q8w5e6r7t8y9",
               "attempts": 1, "startedAt": "2024-06-01T10:00:00Z",
               "finishedAt": "2024-06-01T10:01:12Z",
               "usage": {"inputTokens": 5120, "cachedInputTokens": 0, "outputTokens": 830,
                         "modelCalls": 4, "costUsd": "0.003805"},
               "result": "Added README.md", "error": "", "jobName": "run-01j0c4x7m2a9k3q8w5e6r7t8y9"}
  })");
}

std::vector<Json> PopulatedJson(std::string_view kind) {
  auto objects = ParseObjects(kPopulated, "populated.yaml");
  EXPECT_TRUE(objects.ok()) << objects.error().message;
  std::vector<Json> out;
  if (!objects.ok()) return out;
  for (const AnyObject& object : *objects) {
    if (KindOf(object) == kind) out.push_back(ToJson(object));
  }
  return out;
}

std::vector<std::string> CodecKinds() {
  std::vector<std::string> kinds;
  for (const KindSchema& kind : KindSchemas()) {
    if (kind.decoded_by_codec) kinds.push_back(kind.kind);
  }
  return kinds;
}

TEST(SchemaTest, DescribesEveryKindTheCodecDecodesAndRun) {
  EXPECT_EQ(CodecKinds(),
            (std::vector<std::string>{"Model", "Instruction", "Agent", "Budget", "TierPolicy"}));
  ASSERT_NE(FindKindSchema("Run"), nullptr);
  EXPECT_FALSE(FindKindSchema("Run")->decoded_by_codec);
  EXPECT_EQ(FindKindSchema("Nope"), nullptr);
}

TEST(SchemaTest, EveryFieldToJsonWritesIsDeclaredWithItsTypeAndBounds) {
  for (const std::string& kind : CodecKinds()) {
    SCOPED_TRACE(kind);
    std::vector<Json> objects = PopulatedJson(kind);
    ASSERT_FALSE(objects.empty());
    for (const Json& object : objects) {
      for (const auto& [key, value] : object.items()) {
        EXPECT_TRUE(key == "apiVersion" || key == "kind" || key == "metadata" || key == "spec")
            << key;
      }
      ExpectConforms(object.at("spec"), Kind(kind).spec, "spec", nullptr);
    }
  }
}

TEST(SchemaTest, EveryDeclaredFieldIsWrittenByToJsonOfAPopulatedObject) {
  for (const std::string& kind : CodecKinds()) {
    SCOPED_TRACE(kind);
    std::set<std::string> seen;
    for (const Json& object : PopulatedJson(kind)) {
      ExpectConforms(object.at("spec"), Kind(kind).spec, "spec", &seen);
    }
    std::set<std::string> declared;
    DeclaredPaths(Kind(kind).spec, "spec", &declared);
    for (const std::string& path : declared) {
      EXPECT_TRUE(seen.count(path)) << path << " is declared but ToJson never writes it";
    }
  }
}

// The checks above must be able to fail, or they prove nothing.
TEST(SchemaTest, SchemaViolationsNameEveryProblemWithItsPath) {
  Json spec = PopulatedJson("Agent").at(0).at("spec");
  spec["limits"]["maxWidgets"] = 3;
  spec["limits"]["maxTurns"] = 1001;
  spec["tier"] = "3";
  spec["tools"] = {"shell", "shell", "fly"};
  spec["role"] = "Bad_Role";
  spec["env"]["PORT"] = 8080;
  EXPECT_THAT(
      SchemaViolations(spec, Kind("Agent").spec, "spec"),
      testing::UnorderedElementsAre(
          "spec.limits.maxWidgets is not a known field",
          "spec.limits.maxTurns must be at most 1000, got 1001",
          "spec.tier must be an integer, got a string", "spec.tools lists \"shell\" twice",
          "spec.tools[2] must be one of read_file, write_file, list_files, shell, got \"fly\"",
          "spec.role must match ^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$, got \"Bad_Role\"",
          "spec.env.PORT must be a string, got an integer"));

  Json run = PopulatedRun();
  run["spec"].erase("agent");
  run["spec"]["input"] = "";
  for (int i = 0; i < 256 * 1024; ++i) run["spec"]["input"].get_ref<std::string&>() += "\u00e9";
  run["status"]["conditions"].push_back(run["status"]["conditions"][0]);
  EXPECT_THAT(SchemaViolations(run["spec"], Kind("Run").spec, "spec"),
              testing::ElementsAre("spec.agent is required"))
      << "maxLength counts characters, as the API server does, not bytes";
  EXPECT_THAT(
      SchemaViolations(run["status"], Kind("Run").status, "status"),
      testing::ElementsAre("status.conditions has two items with {\"type\":\"Succeeded\"}"));
  EXPECT_THAT(SchemaViolations(Json(1), Kind("Run").spec, "spec"),
              testing::ElementsAre("spec must be an object, got an integer"));
}

// The value at a dotted path of a JSON object, or nullptr.
const Json* At(const Json& root, const std::string& path) {
  const Json* value = &root;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '.');) {
    if (!value->is_object() || !value->contains(part)) return nullptr;
    value = &value->at(part);
  }
  return value;
}

void CollectDefaults(const FieldSchema& schema, const std::string& path,
                     std::vector<std::pair<std::string, Json>>* out) {
  if (schema.default_value && !schema.default_value->is_object()) {
    out->push_back({path, *schema.default_value});
  }
  if (schema.type != SchemaType::kObject) return;
  for (const FieldSchema& field : schema.fields) {
    CollectDefaults(field, path.empty() ? field.name : path + "." + field.name, out);
  }
}

TEST(SchemaTest, DefaultsAreTheOnesTheCodecAppliesToAMinimalObject) {
  constexpr char kMinimal[] = R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: m}
spec: {provider: openai-compatible, baseUrl: "http://h:1/v1", model: m}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: i}
spec: {scope: global, priority: 1, text: t}
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: a}
spec: {model: m}
---
apiVersion: agentd.dev/v1alpha1
kind: Budget
metadata: {name: b}
spec: {limitUsd: 1}
---
apiVersion: agentd.dev/v1alpha1
kind: TierPolicy
metadata: {name: t}
spec: {tier: 1}
)";
  auto objects = ParseObjects(kMinimal, "minimal.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  size_t checked = 0;
  for (const AnyObject& object : *objects) {
    std::string kind(KindOf(object));
    SCOPED_TRACE(kind);
    Json spec = ToJson(object).at("spec");
    std::vector<std::pair<std::string, Json>> defaults;
    CollectDefaults(Kind(kind).spec, "", &defaults);
    for (const auto& [path, value] : defaults) {
      const Json* actual = At(spec, path);
      ASSERT_NE(actual, nullptr) << "spec." << path << " has a default but ToJson omits it";
      EXPECT_EQ(*actual, value) << "spec." << path;
      ++checked;
    }
  }
  EXPECT_GE(checked, 20u);
}

// The required fields of every object in `value` that the schema describes, as JSON pointers.
void RequiredPointers(const Json& value, const FieldSchema& schema, const std::string& pointer,
                      std::vector<std::string>* out) {
  if (schema.type != SchemaType::kObject || !value.is_object()) return;
  for (const FieldSchema& field : schema.fields) {
    if (!value.contains(field.name)) continue;
    std::string child = pointer + "/" + field.name;
    if (field.required) out->push_back(child);
    RequiredPointers(value.at(field.name), field, child, out);
  }
}

TEST(SchemaTest, RequiredFieldsAreRequiredByTheCodec) {
  size_t checked = 0;
  for (const std::string& kind : CodecKinds()) {
    for (const Json& object : PopulatedJson(kind)) {
      std::vector<std::string> pointers;
      RequiredPointers(object.at("spec"), Kind(kind).spec, "/spec", &pointers);
      for (const std::string& pointer : pointers) {
        Json without = object;
        Json::json_pointer at(pointer);
        without[at.parent_pointer()].erase(at.back());
        EXPECT_FALSE(FromJson(without).ok())
            << kind << " " << pointer << " is required by the schema, not by the codec";
        ++checked;
      }
    }
  }
  EXPECT_GE(checked, 9u);
}

TEST(SchemaTest, PopulatedObjectsDecodeAgainAfterToJson) {
  // ToJson output is what the catalog would write back; the schema has to accept it too.
  for (const std::string& kind : CodecKinds()) {
    for (const Json& object : PopulatedJson(kind)) {
      auto again = FromJson(object);
      ASSERT_TRUE(again.ok()) << again.error().message;
      EXPECT_EQ(ToJson(*again), object);
    }
  }
}

// --- patterns and CEL rules ---------------------------------------------------------------------

// What the API server checks of a string: its pattern and its length.
bool Matches(const FieldSchema& field, const std::string& text) {
  auto length = static_cast<int64_t>(text.size());
  if (field.max_length && length > *field.max_length) return false;
  if (field.min_length && length < *field.min_length) return false;
  return std::regex_search(text, std::regex(field.pattern));
}

// The pattern and length bounds of `field` accept exactly what `predicate` accepts, over
// `samples`.
template <typename Predicate>
void ExpectPatternAgrees(const FieldSchema& field, Predicate predicate,
                         const std::vector<std::string>& samples) {
  ASSERT_FALSE(field.pattern.empty()) << field.name;
  for (const std::string& sample : samples) {
    EXPECT_EQ(Matches(field, sample), predicate(sample))
        << field.name << ": pattern " << field.pattern << " on \"" << sample << "\"";
  }
}

// Optional patterns also take "", which the codec reads as "not set".
template <typename Predicate>
auto OrEmpty(Predicate predicate) {
  return [predicate](std::string_view text) { return text.empty() || predicate(text); };
}

TEST(SchemaTest, PatternsAcceptWhatTheCodecAccepts) {
  std::vector<std::string> names = {
      "a", "dev-1", "0abc", "-a", "a-", "A", "a.b", "a_b", "", std::string(63, 'x'), "a b"};
  ExpectPatternAgrees(SpecField("Run", "agent"), IsDnsLabel, names);
  ExpectPatternAgrees(SpecField("Agent", "role"), OrEmpty(IsDnsLabel), names);
  ExpectPatternAgrees(SpecField("Agent", "instructions").items.at(0), IsDnsLabel, names);
  ExpectPatternAgrees(SpecField("Budget", "scope.namespace"), OrEmpty(IsDnsLabel), names);

  ExpectPatternAgrees(SpecField("Model", "apiKey.secretRef.name"), IsDnsSubdomain,
                      {"a", "a.b", "a-b.c-d", "a..b", ".a", "a.", "A.b", "a_b", ""});
  ExpectPatternAgrees(SpecField("Model", "apiKey.secretRef.key"), IsSecretKey,
                      {"api-key", ".env", "a_b.C", "a/b", "a b", ""});
  ExpectPatternAgrees(SpecField("Model", "apiKey.env"), IsEnvVarName,
                      {"OPENAI_API_KEY", "_x", "x1", "1x", "a-b", "", "a b"});
  ExpectPatternAgrees(SpecField("Budget", "scope.team"), IsLabelValue,
                      {"", "platform", "a.b_c-d", "A9", "-a", "a-", "a/b", std::string(64, 'a')});
  ExpectPatternAgrees(SpecField("Model", "weights.url"), IsHttpUrl,
                      {"http://h", "https://h:8080/v1", "ftp://h", "http://", "http:///x",
                       "http://:80", "https://a b", "http:/h"});
  ExpectPatternAgrees(SpecField("Model", "baseUrl"), OrEmpty(IsHttpUrl),
                      {"", "http://127.0.0.1:8000/v1", "localhost:8000"});
  ExpectPatternAgrees(SpecField("Model", "weights.sha256"), IsSha256Hex,
                      {std::string(64, 'a'), std::string(64, 'F'), std::string(63, 'a'),
                       std::string(64, 'g'), std::string(65, 'a')});
  ExpectPatternAgrees(SpecField("Model", "model"), IsSafeToken,
                      {"gpt-4o", "qwen2.5:7b", "-x", "a b", "", "x-"});
  ExpectPatternAgrees(SpecField("Agent", "image"), OrEmpty(IsSafeToken),
                      {"", "ghcr.io/x/y@sha256:00", "-x", "a b"});
  ExpectPatternAgrees(SpecField("Agent", "resources.cpu"), OrEmpty(IsCpuQuantity),
                      {"", "2", "0.5", ".5", "500m", "1.", "m", "1Mi", "2 ", "-1", "1.5m"});
  ExpectPatternAgrees(SpecField("Agent", "resources.memory"), OrEmpty(IsMemoryQuantity),
                      {"", "512Mi", "2Gi", "1G", "1073741824", "1.5Gi", "1k", "1K", "1Ki", "1ki",
                       "1m", "Gi", "1.Gi", "1Gb"});
  ExpectPatternAgrees(SpecField("Budget", "timeZone"), IsTimeZoneName,
                      {"UTC", "Europe/Berlin", "Etc/GMT+5", "America/Port-au-Prince", "/UTC",
                       "UTC/", "a//b", "../etc", "a b", "", std::string(65, 'a')});
  ExpectPatternAgrees(SpecField("Budget", "scope.apiKey"), OrEmpty(IsCallerIdentity),
                      {"", "ci", "key-1a2b3c4d", "a.b_c", "a b", "a/b", std::string(64, 'a')});
  const std::string label(63, 'a');
  const std::string longest_subdomain = label + "." + label + "." + label + "." + label.substr(2);
  ExpectPatternAgrees(
      SpecField("Agent", "kubernetes.serviceAccountName"), OrEmpty(IsDnsSubdomain),
      {"", "runner", "a.b", "a..b", ".a", "A", "a_b", longest_subdomain, longest_subdomain + "a"});
  ExpectPatternAgrees(SpecField("Agent", "kubernetes.nodeSelector").items.at(0), IsLabelValue,
                      {"", "nvidia-l4", "A9", "-a", "a-", "a/b", std::string(64, 'a')});
  const FieldSchema& toleration = SpecField("Agent", "kubernetes.tolerations").items.at(0);
  ExpectPatternAgrees(
      *toleration.Find("key"), OrEmpty(IsQualifiedName),
      {"", "nvidia.com/gpu", "dedicated", "a.b/C_d", "Bad.Prefix/x", "/x", "a/", "a/b/c", "-x",
       "x-", "a b", std::string(63, 'x'), std::string(64, 'x'),
       "example.com/" + std::string(63, 'x'), "example.com/" + std::string(64, 'x')});
  ExpectPatternAgrees(*toleration.Find("value"), IsLabelValue,
                      {"", "agents", "a.b_c-d", "-a", "a b", std::string(64, 'a')});
  ExpectPatternAgrees(SpecField("Agent", "limits.maxCostUsd"),
                      [](std::string_view text) { return core::ParseUsd(text).ok(); },
                      {"0", "0.50", "12", ".5", "0.000125", "1.0000001", "1.", "", "-1", "1e3",
                       "1000000000000", "999999999999.999999", "$5"});
}

TEST(SchemaTest, GitBranchPatternIsLooserThanTheCodecNeverStricter) {
  const FieldSchema& branch = SpecField("Agent", "workspace.branch");
  for (std::string valid : {"main", "release/1.2", "feature_x", "v1.0.0", "a-b"}) {
    ASSERT_TRUE(IsGitRefName(valid)) << valid;
    EXPECT_TRUE(Matches(branch, valid)) << valid;
  }
  for (std::string invalid : {"-main", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b"}) {
    EXPECT_FALSE(Matches(branch, invalid)) << invalid;
  }
}

// The fields a CEL rule reads with `self.<name>` or `has(self.<name>)`.
std::set<std::string> RuleFields(const std::string& rule) {
  std::set<std::string> out;
  std::regex field(R"(self\.([A-Za-z]+))");
  for (std::sregex_iterator it(rule.begin(), rule.end(), field), end; it != end; ++it) {
    out.insert((*it)[1]);
  }
  return out;
}

void ExpectRulesNameDeclaredFields(const FieldSchema& schema, const std::string& path,
                                   size_t* rules) {
  for (const ValidationRule& rule : schema.rules) {
    ++*rules;
    EXPECT_FALSE(rule.message.empty()) << path;
    EXPECT_EQ(rule.message.find('\n'), std::string::npos) << path;
    for (const std::string& name : RuleFields(rule.rule)) {
      EXPECT_NE(schema.Find(name), nullptr)
          << path << ": rule " << rule.rule << " reads " << name << ", which is not a field";
    }
  }
  for (const FieldSchema& field : schema.fields) {
    ExpectRulesNameDeclaredFields(field, path + "." + field.name, rules);
  }
}

TEST(SchemaTest, CelRulesReadOnlyDeclaredFields) {
  size_t rules = 0;
  for (const KindSchema& kind : KindSchemas()) {
    ExpectRulesNameDeclaredFields(kind.spec, kind.kind + ".spec", &rules);
  }
  EXPECT_GE(rules, 10u);
}

TEST(SchemaTest, UnionsHaveRules) {
  auto has_rule_with = [](const FieldSchema& field, std::string_view text) {
    for (const ValidationRule& rule : field.rules) {
      if (rule.rule.find(text) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has_rule_with(SpecField("Model", "apiKey"), "has(self.env) || has(self.secretRef)"));
  const FieldSchema& toleration = SpecField("Agent", "kubernetes.tolerations").items.at(0);
  EXPECT_TRUE(has_rule_with(toleration, "self.key != ''"));
  EXPECT_TRUE(has_rule_with(toleration, "self.value == ''"));
  EXPECT_TRUE(has_rule_with(toleration, "has(self.tolerationSeconds)"));
  for (const ValidationRule& rule : toleration.rules) {
    for (const std::string& name : RuleFields(rule.rule)) {
      EXPECT_NE(toleration.Find(name), nullptr) << rule.rule << " reads " << name;
    }
  }
  EXPECT_TRUE(has_rule_with(Kind("Instruction").spec, "has(self.priority)"));
  EXPECT_TRUE(has_rule_with(Kind("Instruction").spec, "has(self.roles)"));
  EXPECT_TRUE(has_rule_with(Kind("Agent").spec, "has(self.command)"));
  EXPECT_TRUE(has_rule_with(Kind("Agent").spec, "has(self.model)"));
}

// --- the CRDs
// -------------------------------------------------------------------------------------

void ExpectStructural(const Json& schema, const std::string& path) {
  ASSERT_TRUE(schema.is_object()) << path;
  bool typed = schema.contains("type") || schema.value("x-kubernetes-int-or-string", false);
  EXPECT_TRUE(typed) << path << " has no type";
  if (path != "metadata") {
    EXPECT_FALSE(schema.value("description", "").empty()) << path << " has no description";
  }
  if (schema.contains("properties")) {
    for (const auto& [name, property] : schema.at("properties").items()) {
      ExpectStructural(property, path.empty() ? name : path + "." + name);
    }
    for (const Json& name : schema.value("required", Json::array())) {
      EXPECT_TRUE(schema.at("properties").contains(name)) << path << " requires " << name;
    }
  }
  if (schema.contains("items")) ExpectStructural(schema.at("items"), path + "[]");
  if (schema.contains("additionalProperties")) {
    ExpectStructural(schema.at("additionalProperties"), path + "{}");
  }
}

TEST(SchemaTest, CrdsAreStructuralAndDescribeEveryField) {
  for (const KindSchema& kind : KindSchemas()) {
    SCOPED_TRACE(kind.kind);
    Json crd = Json::parse(CrdJson(kind).dump());
    EXPECT_EQ(crd["apiVersion"], "apiextensions.k8s.io/v1");
    EXPECT_EQ(crd["kind"], "CustomResourceDefinition");
    EXPECT_EQ(crd["metadata"]["name"], kind.plural + ".agentd.dev");
    EXPECT_EQ(crd["spec"]["group"], "agentd.dev");
    EXPECT_EQ(crd["spec"]["scope"], "Namespaced");
    EXPECT_EQ(crd["spec"]["names"]["categories"], Json::array({"agentd"}));
    ASSERT_EQ(crd["spec"]["versions"].size(), 1u);
    const Json& version = crd["spec"]["versions"][0];
    EXPECT_EQ(version["name"], "v1alpha1");
    EXPECT_TRUE(version["served"].get<bool>());
    EXPECT_TRUE(version["storage"].get<bool>());
    EXPECT_EQ(version["subresources"], Json({{"status", Json::object()}}));
    const Json& root = version["schema"]["openAPIV3Schema"];
    EXPECT_EQ(root["required"], Json::array({"spec"}));
    ExpectStructural(root, "");
    for (const Json& column : version["additionalPrinterColumns"]) {
      std::string path = column["jsonPath"];
      std::string head = path.substr(0, path.find('['));
      if (head.starts_with(".metadata")) continue;
      // Each column reads a declared field.
      const Json* node = &root;
      std::stringstream parts(head.substr(1));
      for (std::string part; std::getline(parts, part, '.');) {
        ASSERT_TRUE(node->contains("properties") && (*node)["properties"].contains(part))
            << column["name"] << " reads " << path;
        node = &(*node)["properties"][part];
      }
    }
  }
}

std::vector<std::string> ColumnNames(const KindSchema& kind) {
  std::vector<std::string> names;
  for (const PrinterColumn& column : kind.columns) names.push_back(column.name);
  return names;
}

TEST(SchemaTest, PrinterColumnsShortNamesAndPlurals) {
  using Names = std::vector<std::string>;
  EXPECT_EQ(ColumnNames(Kind("Model")), (Names{"PROVIDER", "MODEL", "READY", "AGE"}));
  EXPECT_EQ(ColumnNames(Kind("Agent")), (Names{"MODEL", "TIER", "RUNTIME", "READY", "AGE"}));
  EXPECT_EQ(ColumnNames(Kind("Run")), (Names{"AGENT", "PHASE", "COST", "JOB", "AGE"}));
  EXPECT_EQ(ColumnNames(Kind("Budget")), (Names{"PERIOD", "LIMIT", "ACTION", "AGE"}));
  EXPECT_EQ(ColumnNames(Kind("Instruction")), (Names{"SCOPE", "PRIORITY", "AGE"}));
  EXPECT_EQ(ColumnNames(Kind("TierPolicy")), (Names{"TIER", "AGE"}));
  EXPECT_EQ(Kind("Run").plural, "runs");
  EXPECT_EQ(Kind("TierPolicy").plural, "tierpolicies");

  // Short names of the built-in resources of a cluster (kubectl api-resources): a clash would
  // make `kubectl get <short>` ambiguous.
  const std::set<std::string> builtin = {
      "cs",  "cm",    "ep",  "ev",  "limits", "ns",   "no", "pvc",    "pv", "po",
      "rc",  "quota", "sa",  "svc", "crd",    "crds", "ds", "deploy", "rs", "sts",
      "hpa", "cj",    "csr", "ing", "netpol", "pdb",  "pc", "psp",    "sc", "vac"};
  std::set<std::string> seen;
  for (const KindSchema& kind : KindSchemas()) {
    ASSERT_FALSE(kind.short_names.empty()) << kind.kind;
    for (const std::string& name : kind.short_names) {
      EXPECT_TRUE(seen.insert(name).second) << name;
      EXPECT_FALSE(builtin.count(name)) << name;
    }
  }
}

TEST(SchemaTest, RunSpecIsTheRunRequest) {
  const FieldSchema& spec = Kind("Run").spec;
  // Every field of a run request has its place in the Run's spec, with the same bounds.
  Json canonical = Json::parse(api::v1::CanonicalRequestJson({.agent = "a"}));
  for (const auto& [key, value] : canonical.items()) {
    EXPECT_NE(spec.Find(key), nullptr) << key;
  }
  EXPECT_EQ(spec.Find("priority")->minimum, api::v1::kMinPriority);
  EXPECT_EQ(spec.Find("priority")->maximum, api::v1::kMaxPriority);
  EXPECT_EQ(spec.Find("deadlineSeconds")->maximum, api::v1::kMaxDeadline.count());
  EXPECT_EQ(spec.Find("input")->max_length, static_cast<int64_t>(api::v1::kMaxInputBytes));
  EXPECT_EQ(spec.Find("labels")->max_properties, static_cast<int64_t>(api::v1::kMaxLabels));

  // A populated Run's spec conforms, and the operator can submit it as a run request.
  Json run = PopulatedRun();
  std::set<std::string> seen;
  ExpectConforms(run["spec"], spec, "spec", &seen);
  ExpectConforms(run["status"], Kind("Run").status, "status", &seen);
  std::set<std::string> declared;
  DeclaredPaths(spec, "spec", &declared);
  DeclaredPaths(Kind("Run").status, "status", &declared);
  for (const std::string& path : declared) EXPECT_TRUE(seen.count(path)) << path;
  Json request = run["spec"];
  request.erase("idempotencyKey");
  auto parsed = api::v1::ParseSubmitRequest(request.dump());
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
}

TEST(SchemaTest, RunStatusSpeaksTheRunsLanguage) {
  const FieldSchema& status = Kind("Run").status;
  std::vector<std::string> phases;
  for (runs::Phase phase : {runs::Phase::kPending, runs::Phase::kAwaitingApproval,
                            runs::Phase::kQueued, runs::Phase::kStarting, runs::Phase::kRunning,
                            runs::Phase::kSucceeded, runs::Phase::kFailed, runs::Phase::kTimedOut,
                            runs::Phase::kCancelled, runs::Phase::kRejected}) {
    phases.push_back(std::string(runs::PhaseName(phase)));
  }
  EXPECT_EQ(status.Find("phase")->enum_values, phases);
  // The usage block has the names of the REST API's run object.
  Json api_usage = runs::RunToJson(runs::Run{}).at("usage");
  for (const auto& [key, value] : api_usage.items()) {
    const FieldSchema* field = status.Find("usage")->Find(key);
    ASSERT_NE(field, nullptr) << key;
    ExpectConforms(value, *field, "status.usage." + key, nullptr);
  }
}

// --- YAML -------------------------------------------------------------------------------------

Json ReadBack(const std::string& yaml) {
  auto documents = ParseYamlDocuments(yaml, "generated.yaml");
  EXPECT_TRUE(documents.ok()) << documents.error().message;
  if (!documents.ok() || documents->size() != 1) return nullptr;
  return documents->front().value;
}

TEST(SchemaTest, YamlTextReadsBackAsTheSameJson) {
  for (const KindSchema& kind : KindSchemas()) {
    SCOPED_TRACE(kind.kind);
    std::string yaml = CrdYaml(kind);
    EXPECT_TRUE(yaml.starts_with("# Generated by `agentd crds`"));
    EXPECT_EQ(ReadBack(yaml), Json::parse(CrdJson(kind).dump()));
  }
  auto all = ParseYamlDocuments(CrdsYaml(), "crds.yaml");
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(all->size(), KindSchemas().size());
}

TEST(SchemaTest, YamlTextQuotesStringsThatWouldChangeMeaning) {
  OrderedJson tricky = OrderedJson::array();
  for (std::string text : {"yes",
                           "No",
                           "ON",
                           "off",
                           "y",
                           "n",
                           "null",
                           "Null",
                           "~",
                           "true",
                           "False",
                           "123",
                           "1.5",
                           "0x1F",
                           "1e3",
                           ".inf",
                           "2024-06-01",
                           "",
                           " lead",
                           "trail ",
                           "a: b",
                           "a:b",
                           "#x",
                           "a #b",
                           "- a",
                           "-a",
                           "[x]",
                           "{x}",
                           "@x",
                           "`x`",
                           "*x",
                           "&x",
                           "!x",
                           "|x",
                           ">x",
                           "%x",
                           "'x'",
                           "\"x\"",
                           "a\\b",
                           "multi\nline",
                           "tab\there",
                           "ünï",
                           "plain words, fine (really)",
                           "<<",
                           "=",
                           "?x"}) {
    tricky.push_back(text);
  }
  tricky.push_back(OrderedJson::object());
  tricky.push_back(OrderedJson::array());
  tricky.push_back(OrderedJson::array({OrderedJson::array({1, 2}), OrderedJson::array()}));
  tricky.push_back({{"yes", "no"}, {"nested", {{"list", {1, "two", true, nullptr}}}}});
  tricky.push_back(-1000);
  tricky.push_back(false);
  tricky.push_back(nullptr);
  OrderedJson document = {{"items", tricky}, {"key: with colon", "v"}, {"empty", ""}};
  std::string yaml = YamlText(document);
  EXPECT_EQ(ReadBack(yaml), Json::parse(document.dump())) << yaml;
  EXPECT_NE(yaml.find("- plain words, fine (really)\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("- \"yes\"\n"), std::string::npos) << yaml;
}

TEST(SchemaTest, CrdsYamlIsStable) {
  EXPECT_EQ(CrdsYaml(), CrdsYaml());
  for (const KindSchema& kind : KindSchemas()) {
    EXPECT_EQ(CrdFileName(kind), "agentd.dev_" + kind.plural + ".yaml");
    EXPECT_NE(CrdsYaml().find(CrdYaml(kind)), std::string::npos);
  }
}

TEST(SchemaTest, WriteCrdFilesWritesOneFilePerKind) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("agentd-crds-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(WriteCrdFiles((dir / "crds").string()).ok());
  for (const KindSchema& kind : KindSchemas()) {
    std::ifstream file(dir / "crds" / CrdFileName(kind), std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    EXPECT_EQ(text.str(), CrdYaml(kind));
  }
  // A path under a regular file cannot be a directory.
  std::ofstream(dir / "file") << "x";
  auto status = WriteCrdFiles((dir / "file" / "crds").string());
  EXPECT_FALSE(status.ok());
  std::filesystem::remove_all(dir);
}

// --- the shipped examples -----------------------------------------------------------------------

TEST(SchemaTest, ShippedExamplesPassTheApiServersSchema) {
  // `kubectl apply -f examples/` sends the YAML as written (not ToJson of it): it must pass the
  // CRD schema as well as the codec.
  const char* source = std::getenv("AGENTD_SOURCE_DIR");
  if (source == nullptr) GTEST_SKIP() << "AGENTD_SOURCE_DIR is not set (run through ctest)";
  size_t checked = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::filesystem::path(source) / "examples")) {
    if (entry.path().extension() != ".yaml") continue;
    std::ifstream file(entry.path(), std::ios::binary);
    std::stringstream text;
    text << file.rdbuf();
    auto documents = ParseYamlDocuments(text.str(), entry.path().string());
    ASSERT_TRUE(documents.ok()) << documents.error().message;
    for (const YamlDocument& document : *documents) {
      const KindSchema* kind = FindKindSchema(document.value.value("kind", ""));
      if (kind == nullptr) continue;
      SCOPED_TRACE(entry.path().string() + ":" + std::to_string(document.line));
      ExpectConforms(document.value.at("spec"), kind->spec, "spec", nullptr);
      ++checked;
    }
  }
  EXPECT_GT(checked, 0u);
}

}  // namespace
}  // namespace agentd::resources
