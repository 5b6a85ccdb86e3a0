#include "operator/kube_catalog_source.h"

#include <memory>

#include <gtest/gtest.h>

#include "kube/kube_test_util.h"

namespace agentd::operator_ {
namespace {

using core::Json;
using kube::test::Eventually;
using namespace std::chrono_literals;

Json Object(const std::string& kind, const std::string& name, Json spec,
            const std::string& ns = "agentd") {
  return {{"apiVersion", "agentd.dev/v1alpha1"},
          {"kind", kind},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", std::move(spec)}};
}

Json ModelSpec(Json api_key = {{"env", "OPENAI_API_KEY"}}) {
  return {{"provider", "openai-compatible"},
          {"baseUrl", "http://127.0.0.1:8000/v1"},
          {"model", "qwen"},
          {"apiKey", std::move(api_key)},
          {"pricing", {{"inputPerMillionUsd", "0.05"}, {"outputPerMillionUsd", "0.10"}}}};
}

Json AgentSpec(const std::string& model) {
  return {{"role", "developer"}, {"model", model}, {"systemPrompt", "You are careful."}};
}

Json SecretRef(const std::string& name, const std::string& key) {
  return {{"secretRef", {{"name", name}, {"key", key}}}};
}

const ObjectVerdict* Find(const ClusterCatalog& c, const std::string& kind,
                          const std::string& name) {
  for (const auto& v : c.verdicts) {
    if (v.kind == kind && kube::NameOf(v.object) == name) return &v;
  }
  return nullptr;
}

SecretKeysLookup Secrets(std::map<std::string, std::set<std::string>> secrets) {
  return [secrets](const std::string& ns,
                   const std::string& name) -> core::Result<std::set<std::string>> {
    auto it = secrets.find(ns + "/" + name);
    if (it == secrets.end()) return core::NotFound("secrets \"" + name + "\" not found");
    return it->second;
  };
}

// --- BuildClusterCatalog -------------------------------------------------------------------

TEST(BuildClusterCatalogTest, KeepsTheUsableObjectsAndSaysWhatIsWrongWithTheOthers) {
  ClusterObjects objects;
  objects.models = {Object("Model", "local", ModelSpec()),
                    Object("Model", "hosted", ModelSpec(SecretRef("openai", "api-key"))),
                    Object("Model", "broken", {{"provider", "nobody"}})};
  objects.agents = {Object("Agent", "developer", AgentSpec("local")),
                    Object("Agent", "typo", AgentSpec("gpt")),
                    Object("Agent", "cloud", AgentSpec("hosted")),
                    Object("Agent", "fragile", AgentSpec("broken"))};
  objects.budgets = {Object("Budget", "ops", {{"scope", {{"agent", "op"}}}, {"limitUsd", "10"}})};

  ClusterCatalog built = BuildClusterCatalog(objects, Secrets({{"agentd/openai", {"other-key"}}}),
                                             "kubernetes:agentd");

  EXPECT_EQ(built.snapshot.origin, "kubernetes:agentd");
  EXPECT_EQ(built.snapshot.models.size(), 1u);
  EXPECT_NE(built.snapshot.FindModel("local"), nullptr);
  EXPECT_NE(built.snapshot.FindAgent("developer"), nullptr);
  EXPECT_EQ(built.snapshot.agents.size(), 1u);
  EXPECT_TRUE(built.snapshot.budgets.empty());
  EXPECT_EQ(built.snapshot.LocationOf("Agent", "developer"), "agentd/developer");

  const ObjectVerdict* typo = Find(built, "Agent", "typo");
  ASSERT_NE(typo, nullptr);
  EXPECT_FALSE(typo->accepted);
  EXPECT_EQ(typo->reason, "UnknownModel");
  EXPECT_EQ(typo->message, "spec.model refers to Model \"gpt\" which does not exist");

  const ObjectVerdict* hosted = Find(built, "Model", "hosted");
  ASSERT_NE(hosted, nullptr);
  EXPECT_TRUE(hosted->accepted);
  EXPECT_EQ(hosted->ready, ConditionStatus::kFalse);
  EXPECT_EQ(hosted->reason, "SecretKeyMissing");
  EXPECT_NE(hosted->message.find("has no key \"api-key\""), std::string::npos) << hosted->message;

  const ObjectVerdict* cloud = Find(built, "Agent", "cloud");
  ASSERT_NE(cloud, nullptr);
  EXPECT_TRUE(cloud->accepted);
  EXPECT_EQ(cloud->reason, "ModelNotReady");

  const ObjectVerdict* broken = Find(built, "Model", "broken");
  ASSERT_NE(broken, nullptr);
  EXPECT_EQ(broken->reason, "InvalidSpec");
  EXPECT_FALSE(broken->message.empty());
  EXPECT_EQ(Find(built, "Agent", "fragile")->reason, "ModelNotReady");

  const ObjectVerdict* ops = Find(built, "Budget", "ops");
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->reason, "UnknownAgent");
  EXPECT_TRUE(Find(built, "Agent", "developer")->ok());
}

TEST(BuildClusterCatalogTest, AMissingSecretIsNamedWithItsNamespace) {
  ClusterObjects objects;
  objects.models = {Object("Model", "hosted", ModelSpec(SecretRef("openai", "api-key")))};
  ClusterCatalog built = BuildClusterCatalog(objects, Secrets({}), "k", "agentd-runs");
  const ObjectVerdict* hosted = Find(built, "Model", "hosted");
  EXPECT_EQ(hosted->reason, "SecretKeyMissing");
  EXPECT_EQ(hosted->message,
            "spec.apiKey.secretRef: Secret \"openai\" does not exist in namespace \"agentd-runs\"");
}

TEST(BuildClusterCatalogTest, ASecretThatCannotBeReadKeepsTheModelWithReadyUnknown) {
  ClusterObjects objects;
  objects.models = {Object("Model", "hosted", ModelSpec(SecretRef("openai", "api-key")))};
  SecretKeysLookup forbidden = [](const std::string&,
                                  const std::string&) -> core::Result<std::set<std::string>> {
    return core::PermissionDenied("forbidden");
  };
  ClusterCatalog built = BuildClusterCatalog(objects, forbidden, "k");
  EXPECT_NE(built.snapshot.FindModel("hosted"), nullptr);
  EXPECT_EQ(Find(built, "Model", "hosted")->ready, ConditionStatus::kUnknown);
  EXPECT_EQ(Find(built, "Model", "hosted")->reason, "SecretCheckFailed");
}

TEST(BuildClusterCatalogTest, NamesMustBeUniqueAcrossNamespacesAndTiersAcrossPolicies) {
  ClusterObjects objects;
  objects.models = {Object("Model", "local", ModelSpec(), "team-a"),
                    Object("Model", "local", ModelSpec(), "team-b")};
  objects.tier_policies = {Object("TierPolicy", "tier-3", {{"tier", 3}}),
                           Object("TierPolicy", "tier-3b", {{"tier", 3}})};
  ClusterCatalog built = BuildClusterCatalog(objects, Secrets({}), "kubernetes:*");
  EXPECT_EQ(built.snapshot.models.size(), 1u);
  EXPECT_EQ(built.verdicts[1].reason, "NameConflict");
  EXPECT_EQ(kube::NamespaceOf(built.verdicts[1].object), "team-b");
  EXPECT_EQ(built.snapshot.tier_policies.size(), 1u);
  EXPECT_EQ(Find(built, "TierPolicy", "tier-3b")->reason, "DuplicateTier");
}

TEST(BuildClusterCatalogTest, StatusWritesDoNotChangeTheSnapshot) {
  ClusterObjects before;
  before.models = {Object("Model", "local", ModelSpec())};
  before.models[0]["metadata"]["resourceVersion"] = "10";
  ClusterObjects after = before;
  after.models[0]["metadata"]["resourceVersion"] = "11";
  after.models[0]["status"] = {{"observedGeneration", 1}};
  EXPECT_TRUE(BuildClusterCatalog(before, Secrets({}), "k")
                  .snapshot.SameObjectsAs(BuildClusterCatalog(after, Secrets({}), "k").snapshot));
}

TEST(CatalogStatusForTest, WritesAcceptedAndReadyWithTheGeneration) {
  ObjectVerdict v{.kind = "Agent", .object = Object("Agent", "typo", AgentSpec("gpt"))};
  v.object["metadata"]["generation"] = 4;
  v.accepted = false;
  v.ready = ConditionStatus::kFalse;
  v.reason = "UnknownModel";
  v.message = "spec.model refers to Model \"gpt\" which does not exist";
  const core::TimePoint now = core::TimePoint(std::chrono::seconds(1'800'000'000));
  Json status = CatalogStatusFor(Json::object(), v, now);
  EXPECT_EQ(status["observedGeneration"], 4);
  const Json* ready = FindCondition(status["conditions"], "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ((*ready)["status"], "False");
  EXPECT_EQ((*ready)["reason"], "UnknownModel");
  EXPECT_EQ((*ready)["message"], v.message);
  EXPECT_EQ((*ready)["observedGeneration"], 4);
  EXPECT_EQ((*FindCondition(status["conditions"], "Accepted"))["status"], "False");
  // Unchanged later: same JSON, so no write.
  EXPECT_EQ(CatalogStatusFor(status, v, now + 1h), status);
}

// --- KubernetesCatalogSource against the fake API server -----------------------------------

class KubernetesCatalogSourceTest : public kube::test::FakeClusterTest {
 protected:
  void TearDown() override {
    if (source_) source_->Stop();
  }

  void Seed(const std::string& plural, const Json& object) {
    server_->Seed("agentd.dev", "v1alpha1", plural, object);
  }
  Json StatusOf(const std::string& plural, const std::string& name) {
    auto object = server_->Get("agentd.dev", plural, "agentd", name);
    return object && object->contains("status") ? (*object)["status"] : Json::object();
  }
  std::string Ready(const std::string& plural, const std::string& name) {
    const Json status = StatusOf(plural, name);
    if (!status.contains("conditions")) return "";
    const Json* c = FindCondition(status["conditions"], "Ready");
    return c == nullptr
               ? ""
               : (*c)["status"].get<std::string>() + "/" + (*c)["reason"].get<std::string>();
  }

  KubernetesCatalogOptions TestOptions() {
    KubernetesCatalogOptions options;
    options.ns = "agentd";
    options.debounce = 50ms;
    options.sync_timeout = 10s;
    options.reflector_backoff = {.initial = 10ms, .max = 100ms};
    options.on_change = [this](const catalog::Snapshot&) { ++changes_; };
    return options;
  }
  core::Status StartSource(KubernetesCatalogOptions options) {
    source_ = std::make_unique<KubernetesCatalogSource>(*client_, catalog_, options);
    return source_->Start();
  }

  catalog::Catalog catalog_;
  std::unique_ptr<KubernetesCatalogSource> source_;
  std::atomic<int> changes_{0};
};

TEST_F(KubernetesCatalogSourceTest, LoadsTheClusterAndWritesConditionsOnlyWhenTheyChange) {
  Seed("models", Object("Model", "local", ModelSpec()));
  Seed("models", Object("Model", "hosted", ModelSpec(SecretRef("openai", "api-key"))));
  Seed("agents", Object("Agent", "developer", AgentSpec("local")));
  Seed("agents", Object("Agent", "typo", AgentSpec("gpt")));
  auto options = TestOptions();
  options.secret_recheck = 100ms;
  ASSERT_TRUE(StartSource(options).ok());

  auto snapshot = catalog_.Current();
  EXPECT_EQ(snapshot->generation, 1u);
  EXPECT_EQ(snapshot->origin, "kubernetes:agentd");
  EXPECT_NE(snapshot->FindAgent("developer"), nullptr);
  EXPECT_EQ(snapshot->FindAgent("typo"), nullptr);
  EXPECT_EQ(snapshot->FindModel("hosted"), nullptr);
  EXPECT_EQ(Ready("agents", "developer"), "True/InCatalog");
  EXPECT_EQ(Ready("agents", "typo"), "False/UnknownModel");
  const Json typo_status = StatusOf("agents", "typo");
  const Json* typo = FindCondition(typo_status["conditions"], "Ready");
  EXPECT_EQ((*typo)["message"], "spec.model refers to Model \"gpt\" which does not exist");
  EXPECT_EQ(Ready("models", "hosted"), "False/SecretKeyMissing");
  EXPECT_EQ(source_->Problems().size(), 2u);

  // The Secret appears (not watched): the next recheck finds it.
  server_->Seed("", "v1", "secrets",
                {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "openai"}, {"namespace", "agentd"}}},
                 {"data", {{"api-key", "c2VjcmV0"}}}});
  ASSERT_TRUE(Eventually([&] { return Ready("models", "hosted") == "True/InCatalog"; }));
  ASSERT_TRUE(Eventually([&] { return catalog_.Current()->FindModel("hosted") != nullptr; }));
  EXPECT_EQ(catalog_.Current()->generation, 2u);

  // A change elsewhere rewrites nothing that is already right.
  const int64_t agent_writes = server_->Writes("agents");
  Seed("models", Object("Model", "local", ModelSpec({{"env", "OTHER_KEY"}})));
  ASSERT_TRUE(Eventually([&] { return catalog_.Current()->generation == 3; }));
  EXPECT_EQ(server_->Writes("agents"), agent_writes);
}

TEST_F(KubernetesCatalogSourceTest, ABurstOfChangesGivesOneSwapAndStatusOnlyChangesNone) {
  Seed("models", Object("Model", "local", ModelSpec()));
  auto options = TestOptions();
  options.debounce = 300ms;  // the three changes below land well within it
  ASSERT_TRUE(StartSource(options).ok());
  ASSERT_EQ(changes_, 1);
  ASSERT_TRUE(Eventually([&] { return Ready("models", "local") == "True/InCatalog"; }));

  Seed("agents", Object("Agent", "a1", AgentSpec("local")));
  Seed("agents", Object("Agent", "a2", AgentSpec("local")));
  Seed("agents", Object("Agent", "a3", AgentSpec("local")));
  ASSERT_TRUE(Eventually([&] { return catalog_.Current()->agents.size() == 3; }));
  EXPECT_EQ(catalog_.Current()->generation, 2u);
  // Our own status writes on a1..a3 come back as watch events: no new snapshot.
  ASSERT_TRUE(Eventually([&] { return Ready("agents", "a3") == "True/InCatalog"; }));
  EXPECT_EQ(changes_, 2);
  const int64_t rebuilds = source_->stats().rebuilds;
  Seed("agents", Object("Agent", "a4", AgentSpec("local")));
  ASSERT_TRUE(Eventually([&] { return catalog_.Current()->agents.size() == 4; }));
  EXPECT_EQ(catalog_.Current()->generation, 3u);
  EXPECT_EQ(source_->stats().rebuilds, rebuilds + 1);
}

TEST_F(KubernetesCatalogSourceTest, ADeletedAgentLeavesTheCatalog) {
  Seed("models", Object("Model", "local", ModelSpec()));
  Seed("agents", Object("Agent", "developer", AgentSpec("local")));
  ASSERT_TRUE(StartSource(TestOptions()).ok());
  ASSERT_NE(catalog_.Current()->FindAgent("developer"), nullptr);
  server_->Remove("agentd.dev", "agents", "agentd", "developer");
  ASSERT_TRUE(Eventually([&] { return catalog_.Current()->FindAgent("developer") == nullptr; }));
}

TEST_F(KubernetesCatalogSourceTest, WithoutStatusWritingNothingIsWrittenUntilItIsTurnedOn) {
  Seed("models", Object("Model", "local", ModelSpec()));
  auto options = TestOptions();
  options.write_status = false;
  ASSERT_TRUE(StartSource(options).ok());
  EXPECT_EQ(server_->TotalWrites(), 0);
  source_->SetWriteStatus(true);
  ASSERT_TRUE(Eventually([&] { return Ready("models", "local") == "True/InCatalog"; }));
}

TEST_F(KubernetesCatalogSourceTest, StartFailsWhenAKindCannotBeListed) {
  server_->InjectFault({.count = 1000, .status = 404, .verb = "list", .resource = "budgets"});
  auto options = TestOptions();
  options.sync_timeout = 300ms;
  source_ = std::make_unique<KubernetesCatalogSource>(*client_, catalog_, options);
  auto status = source_->Start();
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::ErrorCode::kUnavailable);
  EXPECT_NE(status.error().message.find("budgets.agentd.dev/v1alpha1"), std::string::npos)
      << status.error().message;
  EXPECT_EQ(catalog_.Current()->generation, 0u);
}

}  // namespace
}  // namespace agentd::operator_
