#include "operator/operator.h"

#include <cstdlib>
#include <memory>

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
  EXPECT_EQ(started, 1);
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
