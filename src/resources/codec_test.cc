#include "resources/codec.h"

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace agentd::resources {
namespace {

using core::Json;

// Parses one object and returns the error message ("" when it parsed).
std::string ErrorOf(std::string_view yaml, std::string_view file = "objects.yaml") {
  auto objects = ParseObjects(yaml, file);
  return objects.ok() ? "" : objects.error().message;
}

constexpr char kFullExample[] = R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: local}
spec:
  provider: openai-compatible
  baseUrl: http://127.0.0.1:8000/v1/
  model: qwen2.5-coder-7b
  apiKey: {env: OPENAI_API_KEY}
  pricing: {inputPerMillionUsd: "0.50", outputPerMillionUsd: "1.50", cachedInputPerMillionUsd: "0.25"}
  contextWindow: 32768
  maxOutputTokens: 4096
  requestTimeoutSeconds: 60
  maxRetries: 2
  weights: {url: "https://example.com/q.gguf", sha256: "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789"}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: global-security}
spec: {scope: global, priority: 30, text: "Never print secrets."}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: local-developer-workflow}
spec: {scope: local, roles: [developer, codex-developer], text: "Run the tests."}
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: developer, labels: {team: platform, cost-center: eng}}
spec:
  role: developer
  model: local
  instructions: [global-security]
  systemPrompt: You are a careful software engineer.
  runtime: llm
  tools: [read_file, write_file, list_files, shell]
  workspace: {repo: "https://github.com/x/y.git", branch: main}
  limits: {maxTurns: 30, timeoutSeconds: 600, maxTokens: 100000, maxCostUsd: "5", maxConcurrent: 2, shellTimeoutSeconds: 60, maxToolOutputBytes: 32768}
  resources: {cpu: 500m, memory: 1Gi, gpu: 0}
  tier: 3
  env: {KEY: value, PORT: 8080}
  image: ghcr.io/x/y:1.2.3
)";

TEST(CodecTest, ParsesEveryFieldOfEveryKind) {
  auto objects = ParseObjects(kFullExample, "examples/all.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ASSERT_EQ(objects->size(), 4u);

  const auto& model = std::get<Model>((*objects)[0]);
  EXPECT_EQ(model.metadata.name, "local");
  EXPECT_EQ(model.spec.provider, "openai-compatible");
  EXPECT_EQ(model.spec.base_url, "http://127.0.0.1:8000/v1");  // trailing slash removed
  EXPECT_EQ(model.spec.model, "qwen2.5-coder-7b");
  EXPECT_EQ(model.spec.api_key.env, "OPENAI_API_KEY");
  EXPECT_EQ(model.spec.pricing.input_per_million, 500'000);
  EXPECT_EQ(model.spec.pricing.output_per_million, 1'500'000);
  EXPECT_EQ(model.spec.pricing.cached_input_per_million, 250'000);
  EXPECT_EQ(model.spec.context_window, 32768);
  EXPECT_EQ(model.spec.max_output_tokens, 4096);
  EXPECT_EQ(model.spec.request_timeout, std::chrono::seconds(60));
  EXPECT_EQ(model.spec.max_retries, 2);
  ASSERT_TRUE(model.spec.weights.has_value());
  EXPECT_EQ(model.spec.weights->sha256,
            "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");

  const auto& global = std::get<Instruction>((*objects)[1]);
  EXPECT_EQ(global.spec.scope, InstructionScope::kGlobal);
  EXPECT_EQ(global.spec.priority, 30);
  EXPECT_EQ(global.spec.text, "Never print secrets.");
  const auto& local = std::get<Instruction>((*objects)[2]);
  EXPECT_EQ(local.spec.scope, InstructionScope::kLocal);
  EXPECT_EQ(local.spec.roles, (std::vector<std::string>{"developer", "codex-developer"}));

  const auto& agent = std::get<Agent>((*objects)[3]);
  EXPECT_EQ(agent.metadata.labels.at("cost-center"), "eng");
  EXPECT_EQ(agent.spec.role, "developer");
  EXPECT_EQ(agent.spec.model, "local");
  EXPECT_EQ(agent.spec.instructions, std::vector<std::string>{"global-security"});
  EXPECT_EQ(agent.spec.system_prompt, "You are a careful software engineer.");
  EXPECT_EQ(agent.spec.runtime, AgentRuntime::kLlm);
  EXPECT_EQ(agent.spec.tools.size(), 4u);
  EXPECT_EQ(agent.spec.workspace.branch, "main");
  EXPECT_EQ(agent.spec.limits.max_turns, 30);
  EXPECT_EQ(agent.spec.limits.timeout, std::chrono::seconds(600));
  EXPECT_EQ(agent.spec.limits.max_tokens, 100000);
  EXPECT_EQ(agent.spec.limits.max_cost_micros, 5'000'000);
  EXPECT_EQ(agent.spec.limits.max_concurrent, 2);
  EXPECT_EQ(agent.spec.limits.shell_timeout, std::chrono::seconds(60));
  EXPECT_EQ(agent.spec.limits.max_tool_output_bytes, 32768);
  EXPECT_EQ(agent.spec.resources.cpu, "500m");
  EXPECT_EQ(agent.spec.resources.memory, "1Gi");
  EXPECT_EQ(agent.spec.tier, 3);
  EXPECT_EQ(agent.spec.env.at("PORT"), "8080");
  EXPECT_EQ(agent.spec.image, "ghcr.io/x/y:1.2.3");
}

TEST(CodecTest, AppliesDefaults) {
  auto objects = ParseObjects(R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: gpt}
spec:
  provider: openai
  model: gpt-4o-mini
  apiKey: {secretRef: {name: openai, key: api-key}}
  pricing: {inputPerMillionUsd: 0.15, outputPerMillionUsd: "0.60"}
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: helper}
spec: {model: gpt}
)",
                              "d.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  const auto& model = std::get<Model>((*objects)[0]);
  EXPECT_EQ(model.spec.base_url, "https://api.openai.com/v1");
  EXPECT_EQ(model.spec.api_key.secret_ref->name, "openai");
  EXPECT_EQ(model.spec.pricing.input_per_million, 150'000);
  EXPECT_EQ(model.spec.pricing.cached_input_per_million, 150'000);  // defaults to input
  EXPECT_EQ(model.spec.max_output_tokens, 4096);
  EXPECT_EQ(model.spec.request_timeout, std::chrono::seconds(120));
  EXPECT_EQ(model.spec.max_retries, 4);

  const auto& agent = std::get<Agent>((*objects)[1]);
  EXPECT_EQ(agent.spec.role, "helper");  // defaults to the name
  EXPECT_EQ(agent.spec.runtime, AgentRuntime::kLlm);
  EXPECT_TRUE(agent.spec.tools.empty());
  EXPECT_EQ(agent.spec.limits, AgentLimits{});
  EXPECT_EQ(agent.spec.tier, 0);

  auto anthropic = ParseObjects(R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: claude}
spec: {provider: anthropic, model: claude-sonnet-4, apiKey: {env: ANTHROPIC_API_KEY}}
)",
                                "a.yaml");
  ASSERT_TRUE(anthropic.ok()) << anthropic.error().message;
  EXPECT_EQ(std::get<Model>((*anthropic)[0]).spec.base_url, "https://api.anthropic.com/v1");
}

TEST(CodecTest, ErrorsNameFileLineObjectAndField) {
  std::string yaml = R"(apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata:
  name: developer
spec:
  model: local
  limits:
    timeoutSeconds: 60
    maxTurns: 0
)";
  EXPECT_EQ(ErrorOf(yaml, "examples/agents.yaml"),
            "examples/agents.yaml:9: Agent \"developer\": spec.limits.maxTurns must be between 1 "
            "and 1000, got 0");
}

TEST(CodecTest, ErrorsInLaterDocumentsPointAtTheirOwnLines) {
  std::string yaml = R"(apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: a}
spec: {scope: global, priority: 1, text: x}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: b}
spec:
  scope: global
  text: x
)";
  EXPECT_EQ(ErrorOf(yaml, "i.yaml"),
            "i.yaml:9: Instruction \"b\": spec.priority is required for scope global (lower "
            "comes first)");
}

TEST(CodecTest, RejectsUnknownFieldsAndSuggestsTheIntendedOne) {
  std::string typo = R"(apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: dev}
spec:
  model: local
  limits: {maxTurn: 3}
)";
  EXPECT_EQ(ErrorOf(typo),
            "objects.yaml:6: Agent \"dev\": spec.limits.maxTurn is not a known field (did you "
            "mean \"maxTurns\"?)");
  std::string unknown = R"(apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: dev}
spec: {model: local, colour: blue}
)";
  EXPECT_EQ(ErrorOf(unknown).find("objects.yaml:4: Agent \"dev\": spec.colour is not a known "
                                  "field; known fields: role model"),
            0u)
      << ErrorOf(unknown);
  EXPECT_NE(ErrorOf("apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"
                    "spec: {model: m}\nextra: 1\n")
                .find("extra is not a known field"),
            std::string::npos);
}

TEST(CodecTest, RejectsWrongApiVersionKindAndShape) {
  EXPECT_EQ(ErrorOf("apiVersion: v1\nkind: Agent\n"),
            "objects.yaml:1: apiVersion must be \"agentd.dev/v1alpha1\", got \"v1\"");
  EXPECT_EQ(ErrorOf("apiVersion: agentd.dev/v1alpha1\nkind: Pod\n"),
            "objects.yaml:2: kind must be one of Model, Instruction, Agent, Budget, TierPolicy, "
            "got \"Pod\"");
  EXPECT_EQ(ErrorOf("- a\n- b\n"),
            "objects.yaml:1: a document must be an object with apiVersion, kind, metadata and "
            "spec, got a list");
  EXPECT_EQ(ErrorOf("apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\n"),
            "objects.yaml:1: Agent \"a\": spec is required");
}

TEST(CodecTest, NamesMustBeDnsLabels) {
  auto with_name = [](const std::string& name) {
    return ErrorOf("apiVersion: agentd.dev/v1alpha1\nkind: Instruction\nmetadata: {name: \"" +
                   name + "\"}\nspec: {scope: global, priority: 1, text: x}\n");
  };
  EXPECT_EQ(with_name("ok-name"), "");
  EXPECT_EQ(with_name(std::string(63, 'a')), "");
  EXPECT_NE(with_name(std::string(64, 'a')).find("metadata.name must be a DNS-1123 label"),
            std::string::npos);
  EXPECT_NE(with_name("Developer").find("got \"Developer\""), std::string::npos);
  EXPECT_NE(with_name("").find("metadata.name is required"), std::string::npos);
}

TEST(CodecTest, ValidatesModelProviderUrlsAndKeys) {
  auto model = [](const std::string& spec) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: Model\nmetadata: {name: m}\nspec: " + spec + "\n");
  };
  EXPECT_EQ(model("{provider: ollama, model: x}"),
            "objects.yaml:4: Model \"m\": spec.provider must be one of openai, anthropic, "
            "openai-compatible, got \"ollama\"");
  EXPECT_EQ(model("{provider: openai-compatible, model: x}"),
            "objects.yaml:4: Model \"m\": spec.baseUrl is required for provider "
            "openai-compatible");
  EXPECT_NE(model("{provider: openai-compatible, baseUrl: 'ftp://h/v1', model: x}")
                .find("spec.baseUrl must be an http:// or https:// URL"),
            std::string::npos);
  EXPECT_NE(model("{provider: openai, model: gpt-4o}").find("spec.apiKey is required"),
            std::string::npos);
  EXPECT_EQ(model("{provider: openai, model: gpt-4o, apiKey: {env: K, secretRef: {name: s, key: "
                  "k}}}"),
            "");
  EXPECT_EQ(model("{provider: openai, model: gpt-4o, apiKey: {}}"),
            "objects.yaml:4: Model \"m\": spec.apiKey must set env (an environment variable, for "
            "local runs), secretRef (a Kubernetes Secret, for Kubernetes runs), or both");
  EXPECT_NE(model("{provider: openai, model: gpt-4o, apiKey: {env: K, secretRef: {name: s}}}")
                .find("spec.apiKey.secretRef.key is required"),
            std::string::npos);
  EXPECT_NE(model("{provider: openai, model: gpt-4o, apiKey: {env: 'bad-name', secretRef: {name: "
                  "s, key: k}}}")
                .find("spec.apiKey.env must be an environment variable name"),
            std::string::npos);
  EXPECT_NE(model("{provider: openai, model: gpt-4o, apiKey: {env: 'bad-name'}}")
                .find("spec.apiKey.env must be an environment variable name"),
            std::string::npos);
  EXPECT_NE(model("{provider: openai-compatible, baseUrl: 'http://h', model: x, weights: {url: "
                  "'http://h/w', sha256: abc}}")
                .find("spec.weights.sha256 must be 64 hexadecimal digits"),
            std::string::npos);
  EXPECT_NE(model("{provider: openai-compatible, baseUrl: 'http://h', model: x, contextWindow: "
                  "1000, maxOutputTokens: 2000}")
                .find("spec.maxOutputTokens (2000) must not exceed contextWindow (1000)"),
            std::string::npos);
}

TEST(CodecTest, ValidatesUsdAmounts) {
  auto pricing = [](const std::string& value) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: Model\nmetadata: {name: m}\nspec: {provider: "
        "openai-compatible, baseUrl: 'http://h', model: x, pricing: {inputPerMillionUsd: " +
        value + "}}\n");
  };
  EXPECT_EQ(pricing("\"0.000125\""), "");
  EXPECT_EQ(pricing("2"), "");
  EXPECT_EQ(pricing("0.5"), "");
  EXPECT_NE(pricing("\"abc\"").find("spec.pricing.inputPerMillionUsd must be a USD amount"),
            std::string::npos);
  EXPECT_NE(pricing("\"0.1234567\"").find("more than 6 decimal places"), std::string::npos);
  EXPECT_NE(pricing("\"-1\"").find("must be a USD amount"), std::string::npos);
  EXPECT_NE(pricing("[1]").find("must be a USD amount such as \"0.50\", got a list"),
            std::string::npos);
}

TEST(CodecTest, ValidatesInstructionScopes) {
  auto instruction = [](const std::string& spec) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: Instruction\nmetadata: {name: i}\n"
        "spec: " +
        spec + "\n");
  };
  EXPECT_EQ(instruction("{scope: global, priority: 10, text: t}"), "");
  EXPECT_EQ(instruction("{scope: local, roles: [developer], text: t}"), "");
  EXPECT_NE(instruction("{scope: global, text: t}").find("spec.priority is required"),
            std::string::npos);
  EXPECT_NE(instruction("{scope: local, text: t}")
                .find("spec.roles must list at least one agent role for scope local"),
            std::string::npos);
  EXPECT_NE(instruction("{scope: local, roles: [], text: t}").find("at least one agent role"),
            std::string::npos);
  EXPECT_NE(instruction("{scope: local, priority: 3, roles: [a], text: t}")
                .find("spec.priority applies only to scope global"),
            std::string::npos);
  EXPECT_NE(instruction("{scope: global, priority: 3, roles: [a], text: t}")
                .find("spec.roles applies only to scope local"),
            std::string::npos);
  EXPECT_NE(instruction("{scope: team, text: t}").find("spec.scope must be global or local"),
            std::string::npos);
  EXPECT_NE(instruction("{scope: local, roles: [Dev], text: t}")
                .find("spec.roles[0] must be a DNS-1123 label"),
            std::string::npos);
  EXPECT_NE(instruction("{scope: global, priority: 1}").find("spec.text is required"),
            std::string::npos);
  std::string huge(kMaxTextBytes + 1, 'x');
  EXPECT_NE(instruction("{scope: global, priority: 1, text: " + huge + "}")
                .find("spec.text is 65537 bytes long, over the limit of 65536"),
            std::string::npos);
}

TEST(CodecTest, ValidatesAgentFields) {
  auto agent = [](const std::string& spec) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\nspec: " + spec + "\n");
  };
  EXPECT_EQ(agent("{model: m, tools: [read_file, shell]}"), "");
  EXPECT_EQ(agent("{model: m, tools: [read_file, bash]}"),
            "objects.yaml:4: Agent \"a\": spec.tools[1] must be one of read_file, write_file, "
            "list_files, shell, got \"bash\"");
  EXPECT_NE(agent("{model: m, tools: [shell, shell]}").find("lists \"shell\" twice"),
            std::string::npos);
  EXPECT_NE(agent("{tools: []}").find("spec.model is required for runtime llm"), std::string::npos);
  EXPECT_EQ(agent("{runtime: command, command: [claude, -p]}"), "");
  EXPECT_NE(agent("{runtime: command}").find("spec.command is required for runtime command"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, command: [x]}").find("spec.command applies only to runtime command"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, runtime: docker}").find("spec.runtime must be llm or command"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, tier: 5}").find("spec.tier must be between 0 and 4, got 5"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, limits: {maxTurns: \"20\"}}")
                .find("spec.limits.maxTurns must be an integer, got a string"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, limits: {maxToolOutputBytes: 10}}")
                .find("spec.limits.maxToolOutputBytes must be between 1024"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, resources: {cpu: 1Gi}}").find("spec.resources.cpu must be a CPU"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, resources: {memory: 1GB}}").find("spec.resources.memory must be"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, workspace: {repo: '--upload-pack=x'}}")
                .find("spec.workspace.repo must be a git URL"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, workspace: {repo: r, branch: 'a..b'}}")
                .find("spec.workspace.branch must be a git branch name"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, env: {1BAD: x}}").find("spec.env has an invalid variable name"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, env: {A: [x]}}").find("spec.env.A must be a string, got a list"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, instructions: [x, x]}").find("spec.instructions lists \"x\" twice"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, image: 'a b'}").find("spec.image must be a container image"),
            std::string::npos);
  EXPECT_NE(agent("{model: m, role: Dev}").find("spec.role must be a DNS-1123 label"),
            std::string::npos);
}

TEST(CodecTest, ValidatesLabels) {
  auto labels = [](const std::string& value) {
    return ErrorOf("apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: a, labels: " +
                   value + "}\nspec: {model: m}\n");
  };
  EXPECT_EQ(labels("{team: platform, app.kubernetes.io/name: agentd}"), "");
  EXPECT_NE(labels("{'bad key': x}").find("metadata.labels has an invalid key \"bad key\""),
            std::string::npos);
  EXPECT_NE(labels("{team: '-x'}").find("metadata.labels.team must be at most 63"),
            std::string::npos);
}

TEST(CodecTest, BoundsTheFileSizeAndReportsYamlSyntaxErrors) {
  std::string big(kMaxFileBytes + 1, '#');
  EXPECT_NE(ErrorOf(big, "big.yaml").find("big.yaml: file is 1048577 bytes"), std::string::npos);
  EXPECT_EQ(ErrorOf("a: [1\nb: 2\n", "bad.yaml").rfind("bad.yaml:", 0), 0u);
}

// Regression: a stray "," made yaml-cpp's LoadAll loop until memory ran out (objects_fuzz).
TEST(CodecTest, AStrayCommaIsASyntaxErrorEvenAfterValidObjects) {
  EXPECT_EQ(ErrorOf(",\x02\x02", "c.yaml"), "c.yaml:1: invalid YAML: unexpected \",\" at column 1");
  std::string file = std::string(kFullExample) + "---\n,\n";
  EXPECT_NE(ErrorOf(file, "c.yaml").find(": invalid YAML: unexpected \",\""), std::string::npos);
  ParseReport report = ParseLocatedObjectsReportingAll(file, "c.yaml");
  EXPECT_TRUE(report.objects.empty());
  ASSERT_EQ(report.errors.size(), 1u);
  EXPECT_NE(report.errors[0].message.find("invalid YAML"), std::string::npos);
}

TEST(CodecTest, EmptyFilesHoldNoObjects) {
  auto objects = ParseObjects("# nothing here\n---\n", "empty.yaml");
  ASSERT_TRUE(objects.ok());
  EXPECT_TRUE(objects->empty());
}

TEST(CodecTest, RecordsWhereEachObjectStarts) {
  auto located = ParseLocatedObjects(kFullExample, "all.yaml");
  ASSERT_TRUE(located.ok()) << located.error().message;
  ASSERT_EQ(located->size(), 4u);
  EXPECT_EQ((*located)[0].location, "all.yaml:1");
  EXPECT_EQ((*located)[1].location, "all.yaml:16");
  EXPECT_EQ(KindOf((*located)[3].object), "Agent");
  EXPECT_EQ(MetaOf((*located)[3].object).name, "developer");
}

TEST(CodecTest, RoundTripsEveryKindThroughJson) {
  auto objects = ParseObjects(kFullExample, "all.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  for (const AnyObject& object : *objects) {
    Json json = ToJson(object);
    EXPECT_EQ(json["apiVersion"], "agentd.dev/v1alpha1");
    EXPECT_EQ(json["kind"], KindOf(object));
    auto back = FromJson(json, "round trip");
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << json.dump(2);
    EXPECT_TRUE(*back == object) << json.dump(2);
  }
}

TEST(CodecTest, JsonFormUsesCamelCaseAndUsdStrings) {
  auto objects = ParseObjects(kFullExample, "all.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  Json model = ToJson((*objects)[0]);
  EXPECT_EQ(model["spec"]["baseUrl"], "http://127.0.0.1:8000/v1");
  EXPECT_EQ(model["spec"]["pricing"]["inputPerMillionUsd"], "0.5");
  EXPECT_EQ(model["spec"]["apiKey"], Json({{"env", "OPENAI_API_KEY"}}));
  Json agent = ToJson((*objects)[3]);
  EXPECT_EQ(agent["metadata"]["labels"]["team"], "platform");
  EXPECT_EQ(agent["spec"]["limits"]["maxCostUsd"], "5");
  EXPECT_EQ(agent["spec"]["limits"]["timeoutSeconds"], 600);
  EXPECT_EQ(agent["spec"]["systemPrompt"], "You are a careful software engineer.");
  EXPECT_FALSE(agent["spec"].contains("command"));
}

TEST(CodecTest, FromJsonAcceptsServerMetadataAndStatusButNotOtherKinds) {
  Json doc = Json::parse(R"({
    "apiVersion": "agentd.dev/v1alpha1", "kind": "Instruction",
    "metadata": {"name": "i", "namespace": "agents", "uid": "1234", "generation": 3,
                 "resourceVersion": "99", "creationTimestamp": "2026-01-01T00:00:00Z",
                 "managedFields": [{}]},
    "spec": {"scope": "global", "priority": 5, "text": "t"},
    "status": {"anything": true}})");
  auto instruction = InstructionFromJson(doc);
  ASSERT_TRUE(instruction.ok()) << instruction.error().message;
  EXPECT_EQ(instruction->metadata.namespace_, "agents");
  EXPECT_EQ(instruction->metadata.generation, 3);
  EXPECT_EQ(instruction->metadata.resource_version, "99");

  auto agent = AgentFromJson(doc, "request body");
  ASSERT_FALSE(agent.ok());
  EXPECT_EQ(agent.error().message, "request body: kind must be Agent, got \"Instruction\"");

  doc["spec"]["priority"] = -1;
  EXPECT_EQ(FromJson(doc, "request body").error().message,
            "request body: Instruction \"i\": spec.priority must be between 0 and 10000, got -1");
  EXPECT_EQ(FromJson(doc).error().message,
            "Instruction \"i\": spec.priority must be between 0 and 10000, got -1");
}

constexpr char kGovernanceExample[] = R"(apiVersion: agentd.dev/v1alpha1
kind: Budget
metadata: {name: platform-team}
spec:
  scope: {agent: developer, team: platform, tier: 3, namespace: agents, apiKey: key-1a2b3c4d}
  period: week
  timeZone: Europe/Berlin
  limitUsd: "150"
  softThresholdPercent: 90
  action: requireApproval
---
apiVersion: agentd.dev/v1alpha1
kind: TierPolicy
metadata: {name: tier-3}
spec:
  tier: 3
  allowedModels: [local, openai]
  allowedTools: [read_file, list_files, write_file, shell]
  maxCostPerRunUsd: "4.5"
  maxTurns: 50
  requireApproval: true
  approvalTimeoutSeconds: 3600
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: architect}
spec:
  model: openai
  approval: {required: true, timeoutSeconds: 7200}
)";

TEST(CodecTest, ParsesEveryFieldOfBudgetTierPolicyAndAgentApproval) {
  auto objects = ParseObjects(kGovernanceExample, "governance.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  ASSERT_EQ(objects->size(), 3u);

  const auto& budget = std::get<Budget>((*objects)[0]);
  EXPECT_EQ(KindOf((*objects)[0]), "Budget");
  EXPECT_EQ(budget.metadata.name, "platform-team");
  EXPECT_EQ(budget.spec.scope.agent, "developer");
  EXPECT_EQ(budget.spec.scope.team, "platform");
  EXPECT_EQ(budget.spec.scope.tier, 3);
  EXPECT_EQ(budget.spec.scope.namespace_, "agents");
  EXPECT_EQ(budget.spec.scope.api_key, "key-1a2b3c4d");
  EXPECT_FALSE(budget.spec.scope.empty());
  EXPECT_EQ(budget.spec.period, "week");
  EXPECT_EQ(budget.spec.time_zone, "Europe/Berlin");
  EXPECT_EQ(budget.spec.limit_micros, 150'000'000);
  EXPECT_EQ(budget.spec.soft_threshold_percent, 90);
  EXPECT_EQ(budget.spec.action, BudgetAction::kRequireApproval);

  const auto& policy = std::get<TierPolicy>((*objects)[1]);
  EXPECT_EQ(KindOf((*objects)[1]), "TierPolicy");
  EXPECT_EQ(policy.spec.tier, 3);
  EXPECT_EQ(policy.spec.allowed_models, (std::vector<std::string>{"local", "openai"}));
  EXPECT_EQ(policy.spec.allowed_tools,
            (std::vector<std::string>{"read_file", "list_files", "write_file", "shell"}));
  EXPECT_EQ(policy.spec.max_cost_per_run_micros, 4'500'000);
  EXPECT_EQ(policy.spec.max_turns, 50);
  EXPECT_TRUE(policy.spec.require_approval);
  EXPECT_EQ(policy.spec.approval_timeout, std::chrono::seconds(3600));

  const auto& agent = std::get<Agent>((*objects)[2]);
  EXPECT_TRUE(agent.spec.approval.required);
  EXPECT_EQ(agent.spec.approval.timeout, std::chrono::seconds(7200));
}

TEST(CodecTest, AppliesBudgetTierPolicyAndApprovalDefaults) {
  auto objects = ParseObjects(R"(apiVersion: agentd.dev/v1alpha1
kind: Budget
metadata: {name: organisation}
spec: {limitUsd: 1600}
---
apiVersion: agentd.dev/v1alpha1
kind: TierPolicy
metadata: {name: tier-1}
spec: {tier: 1}
---
apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: helper}
spec: {model: m}
)",
                              "d.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  const auto& budget = std::get<Budget>((*objects)[0]);
  EXPECT_TRUE(budget.spec.scope.empty());
  EXPECT_EQ(budget.spec.period, "month");
  EXPECT_EQ(budget.spec.time_zone, "UTC");
  EXPECT_EQ(budget.spec.limit_micros, 1'600'000'000);
  EXPECT_EQ(budget.spec.soft_threshold_percent, 80);
  EXPECT_EQ(budget.spec.action, BudgetAction::kReject);

  const auto& policy = std::get<TierPolicy>((*objects)[1]);
  EXPECT_EQ(policy.spec.tier, 1);
  EXPECT_FALSE(policy.spec.allowed_models.has_value());  // any model
  EXPECT_FALSE(policy.spec.allowed_tools.has_value());   // any tool
  EXPECT_EQ(policy.spec.max_cost_per_run_micros, 0);
  EXPECT_EQ(policy.spec.max_turns, 0);
  EXPECT_FALSE(policy.spec.require_approval);
  EXPECT_EQ(policy.spec.approval_timeout, std::chrono::seconds(86400));

  const auto& agent = std::get<Agent>((*objects)[2]);
  EXPECT_EQ(agent.spec.approval, AgentApproval{});
  EXPECT_FALSE(agent.spec.approval.required);
  EXPECT_EQ(agent.spec.approval.timeout, std::chrono::seconds(0));
}

TEST(CodecTest, AnEmptyAllowedListIsKeptApartFromAnAbsentOne) {
  auto objects = ParseObjects(R"(apiVersion: agentd.dev/v1alpha1
kind: TierPolicy
metadata: {name: tier-1}
spec: {tier: 1, allowedTools: []}
)",
                              "t.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  const auto& policy = std::get<TierPolicy>((*objects)[0]);
  ASSERT_TRUE(policy.spec.allowed_tools.has_value());
  EXPECT_TRUE(policy.spec.allowed_tools->empty());  // no tool allowed
  EXPECT_FALSE(policy.spec.allowed_models.has_value());
}

TEST(CodecTest, ValidatesBudgetFields) {
  auto budget = [](const std::string& spec) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: Budget\nmetadata: {name: b}\nspec: " + spec + "\n");
  };
  EXPECT_EQ(budget("{limitUsd: \"10\"}"), "");
  EXPECT_EQ(budget("{scope: {}, limitUsd: 0.01}"), "");
  EXPECT_EQ(budget("{period: day}"),
            "objects.yaml:4: Budget \"b\": spec.limitUsd is required (the budget in USD, e.g. "
            "\"150\")");
  EXPECT_EQ(budget("{limitUsd: \"0\"}"),
            "objects.yaml:4: Budget \"b\": spec.limitUsd must be greater than 0");
  EXPECT_NE(budget("{limitUsd: \"-5\"}").find("spec.limitUsd must be a USD amount"),
            std::string::npos);
  EXPECT_EQ(budget("{limitUsd: 1, period: year}"),
            "objects.yaml:4: Budget \"b\": spec.period must be day, week or month, got \"year\"");
  EXPECT_NE(budget("{limitUsd: 1, timeZone: ../../etc/passwd}")
                .find("spec.timeZone must be an IANA time zone name"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, timeZone: /etc/localtime}").find("spec.timeZone must be"),
            std::string::npos);
  EXPECT_NE(
      budget("{limitUsd: 1, timeZone: " + std::string(65, 'A') + "}").find("spec.timeZone must be"),
      std::string::npos);
  EXPECT_EQ(budget("{limitUsd: 1, softThresholdPercent: 101}"),
            "objects.yaml:4: Budget \"b\": spec.softThresholdPercent must be between 0 and 100, "
            "got 101");
  EXPECT_EQ(budget("{limitUsd: 1, softThresholdPercent: 0}"), "");
  EXPECT_EQ(budget("{limitUsd: 1, action: deny}"),
            "objects.yaml:4: Budget \"b\": spec.action must be reject, requireApproval or allow, "
            "got \"deny\"");
  EXPECT_EQ(budget("{limitUsd: 1, scope: {user: bob}}")
                .find("objects.yaml:4: Budget \"b\": spec.scope.user is not a known field"),
            0u);
  EXPECT_NE(budget("{limitUsd: 1, scope: {tier: 5}}")
                .find("spec.scope.tier must be between 1 and 4, got 5"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, scope: {tier: 0}}")
                .find("spec.scope.tier must be between 1 and 4, got 0"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, scope: {agent: Dev}}")
                .find("spec.scope.agent must be the name of an Agent"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, scope: {team: '-x'}}").find("spec.scope.team must be a team"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, scope: {namespace: A}}")
                .find("spec.scope.namespace must be a DNS-1123 label"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, scope: {apiKey: 'a:b'}}")
                .find("spec.scope.apiKey must be a caller identity"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, scope: [team]}").find("spec.scope must be an object, got a list"),
            std::string::npos);
  EXPECT_NE(budget("{limitUsd: 1, limit: 3}").find("spec.limit is not a known field"),
            std::string::npos);
}

TEST(CodecTest, ValidatesTierPolicyFields) {
  auto policy = [](const std::string& spec) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: TierPolicy\nmetadata: {name: t}\n"
        "spec: " +
        spec + "\n");
  };
  EXPECT_EQ(policy("{tier: 4, maxCostPerRunUsd: \"10\", maxTurns: 100}"), "");
  EXPECT_EQ(policy("{maxTurns: 3}"),
            "objects.yaml:4: TierPolicy \"t\": spec.tier is required (1-4)");
  EXPECT_NE(policy("{tier: 0}").find("spec.tier must be between 1 and 4, got 0"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 5}").find("spec.tier must be between 1 and 4, got 5"),
            std::string::npos);
  EXPECT_EQ(policy("{tier: 1, allowedTools: [read_file, bash]}"),
            "objects.yaml:4: TierPolicy \"t\": spec.allowedTools[1] must be one of read_file, "
            "write_file, list_files, shell, got \"bash\"");
  EXPECT_NE(policy("{tier: 1, allowedTools: [shell, shell]}").find("lists \"shell\" twice"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, allowedModels: [local, local]}")
                .find("spec.allowedModels lists \"local\" twice"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, allowedModels: [Local]}")
                .find("spec.allowedModels[0] must be a DNS-1123 label"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, allowedModels: local}")
                .find("spec.allowedModels must be a list, got a string"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, maxTurns: 1001}").find("spec.maxTurns must be between 0 and 1000"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, maxCostPerRunUsd: abc}").find("spec.maxCostPerRunUsd must be a USD"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, requireApproval: yes}")
                .find("spec.requireApproval must be true or false, got a string"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, approvalTimeoutSeconds: 0}")
                .find("spec.approvalTimeoutSeconds must be between 1 and 2592000, got 0"),
            std::string::npos);
  EXPECT_NE(policy("{tier: 1, allowedTool: [shell]}")
                .find("spec.allowedTool is not a known field (did you mean \"allowedTools\"?)"),
            std::string::npos);
}

TEST(CodecTest, ValidatesAgentApproval) {
  auto agent = [](const std::string& approval) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\nspec: {model: m, "
        "approval: " +
        approval + "}\n");
  };
  EXPECT_EQ(agent("{required: false}"), "");
  EXPECT_EQ(agent("{timeoutSeconds: 2592000}"), "");
  EXPECT_EQ(agent("{timeoutSeconds: 2592001}"),
            "objects.yaml:4: Agent \"a\": spec.approval.timeoutSeconds must be between 0 and "
            "2592000, got 2592001");
  EXPECT_NE(agent("{timeoutSeconds: -1}").find("must be between 0 and 2592000, got -1"),
            std::string::npos);
  EXPECT_NE(agent("{required: \"true\"}")
                .find("spec.approval.required must be true or false, got a string"),
            std::string::npos);
  EXPECT_NE(agent("{require: true}").find("spec.approval.require is not a known field"),
            std::string::npos);
  EXPECT_NE(agent("true").find("spec.approval must be an object, got a boolean"),
            std::string::npos);
}

TEST(CodecTest, RoundTripsBudgetTierPolicyAndApprovalThroughJson) {
  auto objects = ParseObjects(kGovernanceExample, "governance.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  Budget org;
  org.metadata.name = "organisation";
  org.spec.limit_micros = 1;
  objects->push_back(org);
  TierPolicy none;
  none.metadata.name = "tier-1";
  none.spec.tier = 1;
  none.spec.allowed_tools = std::vector<std::string>{};
  objects->push_back(none);
  for (const AnyObject& object : *objects) {
    Json json = ToJson(object);
    EXPECT_EQ(json["kind"], KindOf(object));
    auto back = FromJson(json, "round trip");
    ASSERT_TRUE(back.ok()) << back.error().message << "\n" << json.dump(2);
    EXPECT_TRUE(*back == object) << json.dump(2);
  }
  Json budget = ToJson((*objects)[0]);
  EXPECT_EQ(budget["spec"]["limitUsd"], "150");
  EXPECT_EQ(budget["spec"]["action"], "requireApproval");
  EXPECT_EQ(budget["spec"]["scope"]["apiKey"], "key-1a2b3c4d");
  EXPECT_EQ(ToJson((*objects)[3])["spec"]["scope"], Json::object());
  Json policy = ToJson((*objects)[1]);
  EXPECT_EQ(policy["spec"]["maxCostPerRunUsd"], "4.5");
  EXPECT_FALSE(ToJson((*objects)[4])["spec"].contains("allowedModels"));
  EXPECT_EQ(ToJson((*objects)[4])["spec"]["allowedTools"], Json::array());
  EXPECT_EQ(ToJson((*objects)[2])["spec"]["approval"],
            Json({{"required", true}, {"timeoutSeconds", 7200}}));
}

TEST(CodecTest, TypedFromJsonRefusesTheOtherGovernanceKinds) {
  auto objects = ParseObjects(kGovernanceExample, "governance.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  Json budget = ToJson((*objects)[0]);
  Json policy = ToJson((*objects)[1]);
  EXPECT_TRUE(BudgetFromJson(budget).ok());
  EXPECT_TRUE(TierPolicyFromJson(policy).ok());
  EXPECT_EQ(BudgetFromJson(policy, "request body").error().message,
            "request body: kind must be Budget, got \"TierPolicy\"");
  EXPECT_EQ(TierPolicyFromJson(budget, "request body").error().message,
            "request body: kind must be TierPolicy, got \"Budget\"");
  budget["spec"]["period"] = "fortnight";
  EXPECT_EQ(BudgetFromJson(budget, "request body").error().message,
            "request body: Budget \"platform-team\": spec.period must be day, week or month, got "
            "\"fortnight\"");
}

TEST(CodecTest, BudgetActionNamesAreTheWireForms) {
  EXPECT_EQ(BudgetActionName(BudgetAction::kReject), "reject");
  EXPECT_EQ(BudgetActionName(BudgetAction::kRequireApproval), "requireApproval");
  EXPECT_EQ(BudgetActionName(BudgetAction::kAllow), "allow");
}

TEST(CodecTest, ReportingAllKeepsValidDocumentsAndReportsEachInvalidOne) {
  std::string yaml = R"(apiVersion: agentd.dev/v1alpha1
kind: Budget
metadata: {name: a}
spec: {limitUsd: 0}
---
apiVersion: agentd.dev/v1alpha1
kind: Instruction
metadata: {name: ok}
spec: {scope: global, priority: 1, text: x}
---
apiVersion: agentd.dev/v1alpha1
kind: TierPolicy
metadata: {name: t}
spec:
  tier: 9
)";
  ParseReport report = ParseLocatedObjectsReportingAll(yaml, "mixed.yaml");
  EXPECT_EQ(report.documents, 3u);
  ASSERT_EQ(report.objects.size(), 1u);
  EXPECT_EQ(MetaOf(report.objects[0].object).name, "ok");
  EXPECT_EQ(report.objects[0].location, "mixed.yaml:6");
  ASSERT_EQ(report.errors.size(), 2u);
  EXPECT_EQ(report.errors[0].message,
            "mixed.yaml:4: Budget \"a\": spec.limitUsd must be greater than 0");
  EXPECT_EQ(report.errors[1].message,
            "mixed.yaml:15: TierPolicy \"t\": spec.tier must be between 1 and 4, got 9");

  ParseReport broken = ParseLocatedObjectsReportingAll("a: [1\nb: 2\n", "bad.yaml");
  EXPECT_TRUE(broken.objects.empty());
  EXPECT_EQ(broken.documents, 0u);
  ASSERT_EQ(broken.errors.size(), 1u);
  EXPECT_EQ(broken.errors[0].message.rfind("bad.yaml:", 0), 0u);
}

// --- Model apiKey: env for local runs, secretRef for Kubernetes runs ---------------------------

TEST(CodecTest, ModelApiKeyMayNameBothAnEnvVariableAndASecret) {
  auto objects = ParseObjects(R"(apiVersion: agentd.dev/v1alpha1
kind: Model
metadata: {name: openai}
spec:
  provider: openai
  model: gpt-4o-mini
  apiKey: {env: OPENAI_API_KEY, secretRef: {name: openai, key: api-key}}
)",
                              "m.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  const auto& model = std::get<Model>(objects->at(0));
  EXPECT_EQ(model.spec.api_key.env, "OPENAI_API_KEY");
  ASSERT_TRUE(model.spec.api_key.secret_ref.has_value());
  EXPECT_EQ(*model.spec.api_key.secret_ref, (SecretKeyRef{.name = "openai", .key = "api-key"}));

  Json json = ToJson(model);
  EXPECT_EQ(
      json["spec"]["apiKey"],
      Json({{"env", "OPENAI_API_KEY"}, {"secretRef", {{"name", "openai"}, {"key", "api-key"}}}}));
  auto back = ModelFromJson(json);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, model);

  Model secret_only = model;
  secret_only.spec.api_key.env.clear();
  EXPECT_EQ(ToJson(secret_only)["spec"]["apiKey"],
            Json({{"secretRef", {{"name", "openai"}, {"key", "api-key"}}}}));
  EXPECT_EQ(ModelFromJson(ToJson(secret_only)).value(), secret_only);
}

// --- Agent spec.kubernetes --------------------------------------------------------------------

constexpr char kSchedulingAgent[] = R"(apiVersion: agentd.dev/v1alpha1
kind: Agent
metadata: {name: trainer}
spec:
  model: m
  resources: {gpu: 1}
  kubernetes:
    nodeSelector: {cloud.google.com/gke-accelerator: nvidia-l4, pool: gpu}
    tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      - {key: dedicated, value: agents, effect: NoExecute, tolerationSeconds: 300}
      - {operator: Exists}
    serviceAccountName: trainer.agents
    automountServiceAccountToken: true
)";

TEST(CodecTest, ParsesAgentKubernetesScheduling) {
  auto objects = ParseObjects(kSchedulingAgent, "trainer.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  const AgentKubernetes& k = std::get<Agent>(objects->at(0)).spec.kubernetes;
  EXPECT_EQ(k.node_selector,
            (std::map<std::string, std::string>{{"cloud.google.com/gke-accelerator", "nvidia-l4"},
                                                {"pool", "gpu"}}));
  ASSERT_EQ(k.tolerations.size(), 3u);
  EXPECT_EQ(k.tolerations[0], (Toleration{.key = "nvidia.com/gpu",
                                          .operator_ = "Exists",
                                          .value = "",
                                          .effect = "NoSchedule",
                                          .toleration_seconds = std::nullopt}));
  EXPECT_EQ(k.tolerations[1], (Toleration{.key = "dedicated",
                                          .operator_ = "Equal",  // the default
                                          .value = "agents",
                                          .effect = "NoExecute",
                                          .toleration_seconds = 300}));
  EXPECT_EQ(k.tolerations[2].operator_, "Exists");
  EXPECT_TRUE(k.tolerations[2].key.empty());
  EXPECT_TRUE(k.tolerations[2].effect.empty());
  EXPECT_EQ(k.service_account_name, "trainer.agents");
  EXPECT_TRUE(k.automount_service_account_token);
}

TEST(CodecTest, RoundTripsAgentKubernetesThroughJson) {
  auto objects = ParseObjects(kSchedulingAgent, "trainer.yaml");
  ASSERT_TRUE(objects.ok()) << objects.error().message;
  const auto& agent = std::get<Agent>(objects->at(0));
  Json json = ToJson(agent);
  const Json& k = json["spec"]["kubernetes"];
  EXPECT_EQ(k["nodeSelector"]["pool"], "gpu");
  EXPECT_EQ(k["tolerations"][1], Json({{"key", "dedicated"},
                                       {"operator", "Equal"},
                                       {"value", "agents"},
                                       {"effect", "NoExecute"},
                                       {"tolerationSeconds", 300}}));
  EXPECT_FALSE(k["tolerations"][0].contains("tolerationSeconds"));
  EXPECT_EQ(k["serviceAccountName"], "trainer.agents");
  EXPECT_EQ(k["automountServiceAccountToken"], true);
  auto back = AgentFromJson(json);
  ASSERT_TRUE(back.ok()) << back.error().message << "\n" << json.dump(2);
  EXPECT_EQ(*back, agent);
}

TEST(CodecTest, AgentKubernetesDefaultsToNothingAndNoServiceAccountToken) {
  auto agent = AgentFromJson(Json::parse(R"({"apiVersion": "agentd.dev/v1alpha1", "kind": "Agent",
      "metadata": {"name": "a"}, "spec": {"model": "m"}})"));
  ASSERT_TRUE(agent.ok()) << agent.error().message;
  EXPECT_EQ(agent->spec.kubernetes, AgentKubernetes{});
  EXPECT_TRUE(agent->spec.kubernetes.empty());
  EXPECT_FALSE(agent->spec.kubernetes.automount_service_account_token);
  EXPECT_EQ(ToJson(*agent)["spec"]["kubernetes"], Json({{"nodeSelector", Json::object()},
                                                        {"tolerations", Json::array()},
                                                        {"serviceAccountName", ""},
                                                        {"automountServiceAccountToken", false}}));
}

TEST(CodecTest, ValidatesAgentKubernetesFields) {
  auto kubernetes = [](const std::string& value) {
    return ErrorOf(
        "apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: a}\nspec: {model: m, "
        "kubernetes: " +
        value + "}\n");
  };
  auto tolerations = [&](const std::string& list) {
    return kubernetes("{tolerations: " + list + "}");
  };
  EXPECT_EQ(kubernetes("{}"), "");
  EXPECT_EQ(tolerations("[{operator: Exists}, {key: k, operator: Exists, effect: NoExecute}]"), "");
  EXPECT_EQ(tolerations("[{key: k, value: ''}, {key: a.b/c, value: v, effect: PreferNoSchedule}]"),
            "");

  EXPECT_EQ(kubernetes("{nodeSelectors: {}}"),
            "objects.yaml:4: Agent \"a\": spec.kubernetes.nodeSelectors is not a known field "
            "(did you mean \"nodeSelector\"?)");
  EXPECT_NE(kubernetes("[]").find("spec.kubernetes must be an object, got a list"),
            std::string::npos);
  EXPECT_NE(kubernetes("{nodeSelector: {'bad key': x}}")
                .find("spec.kubernetes.nodeSelector has an invalid key \"bad key\""),
            std::string::npos);
  EXPECT_NE(kubernetes("{nodeSelector: {pool: '-gpu'}}")
                .find("spec.kubernetes.nodeSelector.pool must be at most 63 letters"),
            std::string::npos);
  std::string many = "{";
  for (int i = 0; i < 33; ++i) many += "k" + std::to_string(i) + ": v, ";
  many += "}";
  EXPECT_NE(kubernetes("{nodeSelector: " + many + "}")
                .find("spec.kubernetes.nodeSelector has 33 entries, over the limit of 32"),
            std::string::npos);

  EXPECT_NE(tolerations("{key: k}")
                .find("spec.kubernetes.tolerations must be a list, got an "
                      "object"),
            std::string::npos);
  EXPECT_NE(tolerations("[k]").find("spec.kubernetes.tolerations[0] must be an object"),
            std::string::npos);
  EXPECT_NE(tolerations("[{operator: Exists}, {key: k, operator: Maybe}]")
                .find("spec.kubernetes.tolerations[1].operator must be Equal or Exists, got "
                      "\"Maybe\""),
            std::string::npos);
  EXPECT_NE(tolerations("[{key: k, operator: Exists, value: v}]")
                .find("spec.kubernetes.tolerations[0].value must be empty for operator Exists"),
            std::string::npos);
  EXPECT_NE(tolerations("[{value: v}]")
                .find("spec.kubernetes.tolerations[0].key is required for operator Equal"),
            std::string::npos);
  EXPECT_NE(tolerations("[{key: 'bad key', operator: Exists}]")
                .find("spec.kubernetes.tolerations[0].key must be a taint key"),
            std::string::npos);
  EXPECT_NE(tolerations("[{key: k, value: 'a b'}]")
                .find("spec.kubernetes.tolerations[0].value must be at most 63 letters"),
            std::string::npos);
  EXPECT_NE(tolerations("[{key: k, effect: Sometimes}]")
                .find("spec.kubernetes.tolerations[0].effect must be NoSchedule, "
                      "PreferNoSchedule, NoExecute or empty"),
            std::string::npos);
  EXPECT_NE(tolerations("[{key: k, effect: NoSchedule, tolerationSeconds: 60}]")
                .find("spec.kubernetes.tolerations[0].tolerationSeconds applies only to effect "
                      "NoExecute"),
            std::string::npos);
  EXPECT_NE(tolerations("[{key: k, effect: NoExecute, tolerationSeconds: -1}]")
                .find("spec.kubernetes.tolerations[0].tolerationSeconds must be between 0 and"),
            std::string::npos);
  EXPECT_NE(tolerations("[{key: k, tolerationSecond: 1}]")
                .find("spec.kubernetes.tolerations[0].tolerationSecond is not a known field"),
            std::string::npos);
  std::string list = "[";
  for (int i = 0; i < 33; ++i) list += "{operator: Exists}, ";
  list += "]";
  EXPECT_NE(tolerations(list).find("spec.kubernetes.tolerations has 33 items, over the limit of "
                                   "32"),
            std::string::npos);

  EXPECT_NE(kubernetes("{serviceAccountName: Runner_SA}")
                .find("spec.kubernetes.serviceAccountName must be a service account name "
                      "(DNS-1123 subdomain), got \"Runner_SA\""),
            std::string::npos);
  EXPECT_NE(kubernetes("{automountServiceAccountToken: yes}")
                .find("spec.kubernetes.automountServiceAccountToken must be"),
            std::string::npos);
}

}  // namespace
}  // namespace agentd::resources
