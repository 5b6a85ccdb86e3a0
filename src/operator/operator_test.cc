#include "operator/operator.h"

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "bus/memory_bus.h"
#include "kube/kube_test_util.h"
#include "operator/operator_test_util.h"
#include "store/sqlite/sqlite_run_store.h"

namespace agentd::operator_ {
namespace {

using core::Json;
using kube::test::Eventually;
using namespace std::chrono_literals;

// Sets environment variables for one test and restores them after.
class ScopedEnv {
 public:
  ~ScopedEnv() {
    for (const auto& name : names_) unsetenv(name.c_str());
  }
  void Set(const std::string& name, const std::string& value) {
    setenv(name.c_str(), value.c_str(), 1);
    names_.push_back(name);
  }

 private:
  std::vector<std::string> names_;
};

TEST(OperatorConfigFromEnvTest, ReadsTheNamespaceIdentityAndTimings) {
  ScopedEnv env;
  env.Set("K8S_NAMESPACE", "agentd");
  env.Set("POD_NAME", "agentd-7d9f-x2");
  env.Set("OPERATOR_WORKERS", "4");
  env.Set("OPERATOR_STATUS_COALESCE", "250ms");
  env.Set("OPERATOR_LEASE_DURATION", "30s");
  auto config = OperatorConfigFromEnv();
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->ns, "agentd");
  EXPECT_EQ(config->identity, "agentd-7d9f-x2");
  EXPECT_TRUE(config->leader_election);
  EXPECT_EQ(config->reconciler.workers, 4);
  EXPECT_EQ(config->reconciler.status_coalesce, 250ms);
  EXPECT_EQ(config->leader.lease_duration, 30s);
  EXPECT_EQ(config->leader.renew_deadline, 10s);
}

TEST(OperatorConfigFromEnvTest, NamesTheVariableThatIsWrong) {
  ScopedEnv env;
  unsetenv("K8S_NAMESPACE");
  auto missing = OperatorConfigFromEnv();
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("K8S_NAMESPACE"), std::string::npos);
  env.Set("K8S_NAMESPACE", "agentd");
  env.Set("OPERATOR_LEADER_ELECTION", "maybe");
  auto bad = OperatorConfigFromEnv();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("OPERATOR_LEADER_ELECTION"), std::string::npos);
}

auto Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) return std::nullopt;
    return it->second;
  };
}

TEST(OperatorConfigFromEnvTest, ChecksModelSecretsInTheNamespaceRunsExecuteIn) {
  auto apart = OperatorConfigFromEnv(
      Env({{"K8S_NAMESPACE", "agentd-system"}, {"EXECUTOR_NAMESPACE", "agentd-runs"}}));
  ASSERT_TRUE(apart.ok()) << apart.error().message;
  EXPECT_EQ(apart->ns, "agentd-system");     // catalog objects, the Lease
  EXPECT_EQ(apart->runs_ns, "agentd-runs");  // Runs live with their Jobs
  EXPECT_EQ(apart->secret_namespace, "agentd-runs");

  auto shared = OperatorConfigFromEnv(Env({{"K8S_NAMESPACE", "agentd"}}));
  ASSERT_TRUE(shared.ok()) << shared.error().message;
  EXPECT_EQ(shared->runs_ns, "agentd");
  EXPECT_EQ(shared->secret_namespace, "");  // each Model's own namespace

  auto no_control_plane = OperatorConfigFromEnv(Env({{"EXECUTOR_NAMESPACE", "agentd-runs"}}));
  ASSERT_FALSE(no_control_plane.ok());
  EXPECT_NE(no_control_plane.error().message.find("K8S_NAMESPACE"), std::string::npos);
}

TEST(OperatorConfigFromEnvTest, TheLookupFunctionReadsEveryVariable) {
  auto config = OperatorConfigFromEnv(Env({{"K8S_NAMESPACE", "agentd-system"},
                                           {"POD_NAME", "agentd-0"},
                                           {"OPERATOR_LEADER_ELECTION", "false"},
                                           {"OPERATOR_WORKERS", "3"},
                                           {"OPERATOR_STATUS_COALESCE", "0"},
                                           {"OPERATOR_LEASE_DURATION", "20s"},
                                           {"OPERATOR_RENEW_DEADLINE", "12s"},
                                           {"OPERATOR_RETRY_PERIOD", "3s"},
                                           {"OPERATOR_RUN_FINALIZER", "true"}}));
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->identity, "agentd-0");
  EXPECT_FALSE(config->leader_election);
  EXPECT_TRUE(config->reconciler.finalizer);
  EXPECT_EQ(config->reconciler.workers, 3);
  EXPECT_EQ(config->reconciler.status_coalesce, 0ms);
  EXPECT_EQ(config->leader.lease_duration, 20s);
  EXPECT_EQ(config->leader.renew_deadline, 12s);
  EXPECT_EQ(config->leader.retry_period, 3s);
  auto bad = OperatorConfigFromEnv(
      Env({{"K8S_NAMESPACE", "agentd-system"}, {"OPERATOR_RETRY_PERIOD", "often"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("OPERATOR_RETRY_PERIOD"), std::string::npos);
  auto bad_finalizer = OperatorConfigFromEnv(
      Env({{"K8S_NAMESPACE", "agentd-system"}, {"OPERATOR_RUN_FINALIZER", "yes"}}));
  ASSERT_FALSE(bad_finalizer.ok());
  EXPECT_NE(bad_finalizer.error().message.find("OPERATOR_RUN_FINALIZER must be true or false"),
            std::string::npos);
  auto defaults = OperatorConfigFromEnv(Env({{"K8S_NAMESPACE", "agentd-system"}}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_FALSE(defaults->reconciler.finalizer);
}

class OperatorTest : public kube::test::FakeClusterTest {
 protected:
  void SetUp() override {
    FakeClusterTest::SetUp();
    auto store = store::SqliteRunStore::Open(":memory:");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    service_ = std::make_unique<test::FakeRunService>(*store_, bus_, clock_);
    server_->Seed("agentd.dev", "v1alpha1", "models",
                  {{"apiVersion", "agentd.dev/v1alpha1"},
                   {"kind", "Model"},
                   {"metadata", {{"name", "local"}, {"namespace", "agentd"}}},
                   {"spec",
                    {{"provider", "openai-compatible"},
                     {"baseUrl", "http://127.0.0.1:8000/v1"},
                     {"model", "qwen"}}}});
  }

  OperatorConfig Config(bool leader_election) {
    OperatorConfig config;
    config.ns = "agentd";
    config.identity = "replica-1";
    config.leader_election = leader_election;
    config.reconciler.status_coalesce = 0ms;
    return config;
  }
  std::string RunIdOf(const std::string& name) {
    auto object = server_->Get("agentd.dev", "runs", "agentd", name);
    if (!object || !object->contains("status")) return "";
    return (*object)["status"].value("runId", "");
  }
  std::string ModelReady() {
    auto object = server_->Get("agentd.dev", "models", "agentd", "local");
    return object ? (IsConditionTrue(*object, "Ready") ? "True" : "no") : "";
  }
  Json RunCr(const std::string& name) {
    return {{"apiVersion", "agentd.dev/v1alpha1"},
            {"kind", "Run"},
            {"metadata", {{"name", name}, {"namespace", "agentd"}}},
            {"spec", {{"agent", "triage"}}}};
  }

  core::SystemClock clock_;
  bus::MemoryBus bus_;
  std::unique_ptr<store::SqliteRunStore> store_;
  std::unique_ptr<test::FakeRunService> service_;
  catalog::Catalog catalog_;
};

TEST_F(OperatorTest, TheElectedReplicaReconcilesRunsAndWritesCatalogStatus) {
  auto config = Config(/*leader_election=*/true);
  config.leader.retry_period = 200ms;
  config.leader.renew_deadline = 1s;
  config.leader.lease_duration = 2s;
  auto source = MakeKubernetesCatalogSource(*client_, catalog_, config);
  ASSERT_TRUE(source->Start().ok());
  EXPECT_EQ(server_->Writes("models"), 0);  // not leading yet: no status writes
  std::atomic<int> started{0};
  auto op = Operator::Create({*client_, *service_, *store_, bus_, clock_}, config,
                             {.on_started_leading = [&] { ++started; }}, source.get());
  ASSERT_TRUE(op.ok()) << op.error().message;
  (*op)->Start();
  ASSERT_TRUE(Eventually([&] { return (*op)->IsLeader(); }));
  // The hook runs on the elector's thread just after the Lease is won.
  EXPECT_TRUE(Eventually([&] { return started.load() == 1; }));
  ASSERT_TRUE(Eventually([&] { return ModelReady() == "True"; }));
  server_->Seed("agentd.dev", "v1alpha1", "runs", RunCr("fix-1"));
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-1").empty(); }));
  auto lease = server_->Get("coordination.k8s.io", "leases", "agentd", "agentd-operator");
  ASSERT_TRUE(lease.has_value());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "replica-1");

  (*op)->Stop();
  EXPECT_FALSE((*op)->IsLeader());
  EXPECT_FALSE((*op)->reconciler().running());
  source->Stop();
}

TEST_F(OperatorTest, TheCatalogLooksForModelSecretsWhereRunsExecute) {
  auto secret = [](const std::string& ns) {
    return Json{{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "openai"}, {"namespace", ns}}},
                {"data", {{"api-key", "c2VjcmV0"}}}};
  };
  server_->Seed("agentd.dev", "v1alpha1", "models",
                {{"apiVersion", "agentd.dev/v1alpha1"},
                 {"kind", "Model"},
                 {"metadata", {{"name", "hosted"}, {"namespace", "agentd"}}},
                 {"spec",
                  {{"provider", "openai"},
                   {"model", "gpt-4o"},
                   {"apiKey", {{"secretRef", {{"name", "openai"}, {"key", "api-key"}}}}}}}});
  // In the control plane's namespace only, where no pod could mount it: not good enough.
  server_->Seed("", "v1", "secrets", secret("agentd"));
  auto config = Config(/*leader_election=*/false);
  config.secret_namespace = "agentd-runs";
  auto ready = [&] {
    auto object = server_->Get("agentd.dev", "models", "agentd", "hosted");
    if (!object || !object->contains("status")) return std::string();
    const Json* c = FindCondition((*object)["status"]["conditions"], "Ready");
    return c == nullptr
               ? std::string()
               : (*c)["status"].get<std::string>() + "/" + (*c)["reason"].get<std::string>();
  };
  auto source = MakeKubernetesCatalogSource(*client_, catalog_, config);
  ASSERT_TRUE(source->Start().ok());
  ASSERT_TRUE(Eventually([&] { return ready() == "False/SecretKeyMissing"; })) << ready();
  EXPECT_EQ(catalog_.Current()->FindModel("hosted"), nullptr);
  source->Stop();

  server_->Seed("", "v1", "secrets", secret("agentd-runs"));
  catalog::Catalog catalog;
  auto again = MakeKubernetesCatalogSource(*client_, catalog, config);
  ASSERT_TRUE(again->Start().ok());
  ASSERT_TRUE(Eventually([&] { return ready() == "True/InCatalog"; })) << ready();
  EXPECT_NE(catalog.Current()->FindModel("hosted"), nullptr);
  again->Stop();
}

TEST_F(OperatorTest, WithoutLeaderElectionItLeadsAtOnce) {
  auto op = Operator::Create({*client_, *service_, *store_, bus_, clock_}, Config(false));
  ASSERT_TRUE(op.ok());
  (*op)->Start();
  EXPECT_TRUE((*op)->IsLeader());
  server_->Seed("agentd.dev", "v1alpha1", "runs", RunCr("fix-2"));
  ASSERT_TRUE(Eventually([&] { return !RunIdOf("fix-2").empty(); }));
  (*op)->Stop();
  EXPECT_FALSE((*op)->reconciler().running());
  EXPECT_FALSE(server_->Get("coordination.k8s.io", "leases", "agentd", "agentd-operator"));
}

}  // namespace
}  // namespace agentd::operator_
