#include "kube/reflector.h"

#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kube/kube_test_util.h"

namespace agentd::kube {
namespace {

using core::Json;
using test::Eventually;
using namespace std::chrono_literals;

Json ConfigMap(const std::string& name, const std::string& value = "v",
               const std::string& app = "agentd") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"labels", {{"app", app}}}}},
          {"data", {{"k", value}}}};
}

ObjectRef Cm(const std::string& name) { return {resources::kConfigMaps, "ns", name}; }

// Records what the handler was told, as "add a", "update a v2", "delete b".
class Recorder {
 public:
  ReflectorHandler Handler() {
    return {
        .on_add = [this](const Json& o) { Add("add " + NameOf(o)); },
        .on_update =
            [this](const Json&, const Json& o) {
              Add("update " + NameOf(o) + " " + o["data"].value("k", ""));
            },
        .on_delete = [this](const Json& o) { Add("delete " + NameOf(o)); },
        .on_synced = [this] { Add("synced"); },
    };
  }
  std::vector<std::string> log() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return log_.size();
  }

 private:
  void Add(std::string line) {
    std::lock_guard lock(mu_);
    log_.push_back(std::move(line));
  }
  mutable std::mutex mu_;
  std::vector<std::string> log_;
};

class ReflectorTest : public test::FakeClusterTest {
 protected:
  void TearDown() override {
    if (reflector_) reflector_->Stop();
  }

  void StartReflector(ReflectorOptions options = {}) {
    options.gvr = resources::kConfigMaps;
    if (options.ns.empty()) options.ns = "ns";
    if (options.sleeper == nullptr) options.sleeper = &reflector_sleeper_;
    reflector_ = std::make_unique<Reflector>(*client_, options, recorder_.Handler());
    reflector_->Start();
    ASSERT_TRUE(reflector_->WaitForSync(10s));
  }

  void Seed(const Json& object) { server_->Seed("", "v1", "configmaps", object); }

  // Makes the reflector lose its watch and parks its next watch request.
  void DisconnectReflector() {
    ASSERT_TRUE(Eventually([&] { return server_->open_watches() == 1; }));
    server_->HoldWatches(true);
    server_->CloseWatches();
    ASSERT_TRUE(Eventually([&] { return server_->held_watches() == 1; }));
  }

  void Write(const std::string& name, const std::string& value) {
    auto got = client_->Get(Cm(name));
    ASSERT_TRUE(got.ok());
    Json changed = *got;
    changed["data"]["k"] = value;
    ASSERT_TRUE(client_->Update(Cm(name), changed).ok());
  }

  test::RecordingSleeper reflector_sleeper_;
  Recorder recorder_;
  std::unique_ptr<Reflector> reflector_;
};

TEST_F(ReflectorTest, ListsThenWatchesAndReportsEveryChangeOnce) {
  Seed(ConfigMap("a"));
  Seed(ConfigMap("b"));
  StartReflector();
  EXPECT_EQ(reflector_->cache().size(), 2u);
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("c")).ok());
  Write("a", "v2");
  ASSERT_TRUE(client_->Delete(Cm("b")).ok());
  ASSERT_TRUE(Eventually([&] { return recorder_.size() == 6; }));
  EXPECT_EQ(recorder_.log(), (std::vector<std::string>{"add a", "add b", "synced", "add c",
                                                       "update a v2", "delete b"}));
  EXPECT_EQ(reflector_->cache().size(), 2u);
  EXPECT_EQ((*reflector_->cache().Get("ns/a"))["data"]["k"], "v2");
  EXPECT_FALSE(reflector_->cache().Get("ns/b").has_value());
  EXPECT_EQ(reflector_->cache().resource_version(), std::to_string(server_->resource_version()));
  EXPECT_EQ(reflector_->stats().lists, 1);
}

TEST_F(ReflectorTest, ListedObjectsGetTheirKindAndApiVersion) {
  Seed(ConfigMap("a"));
  StartReflector();
  auto a = reflector_->cache().Get("ns/a");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ((*a)["kind"], "ConfigMap");
  EXPECT_EQ((*a)["apiVersion"], "v1");
}

TEST_F(ReflectorTest, ResumesADroppedWatchWithoutMissingOrRepeatingEvents) {
  Seed(ConfigMap("a"));
  Seed(ConfigMap("b"));
  StartReflector();
  std::string seen_version = reflector_->cache().resource_version();
  DisconnectReflector();
  // While it is disconnected the world changes.
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("c")).ok());
  Write("a", "v2");
  ASSERT_TRUE(client_->Delete(Cm("b")).ok());
  server_->HoldWatches(false);

  ASSERT_TRUE(Eventually([&] { return recorder_.size() == 6; }));
  EXPECT_EQ(recorder_.log(), (std::vector<std::string>{"add a", "add b", "synced", "add c",
                                                       "update a v2", "delete b"}));
  EXPECT_EQ(reflector_->stats().lists, 1);  // resumed, not relisted
  bool resumed_from_seen = false;
  for (const auto& request : server_->requests()) {
    if (request.verb == "watch" &&
        request.target.find("resourceVersion=" + seen_version + "&") != std::string::npos) {
      resumed_from_seen = true;
    }
  }
  EXPECT_TRUE(resumed_from_seen);
  // And it keeps watching.
  Write("c", "v3");
  ASSERT_TRUE(Eventually([&] { return recorder_.size() == 7; }));
  EXPECT_EQ(recorder_.log().back(), "update c v3");
}

TEST_F(ReflectorTest, RelistsWhenTheWatchVersionIsTooOld) {
  Seed(ConfigMap("a"));
  Seed(ConfigMap("b"));
  StartReflector();
  DisconnectReflector();
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("d")).ok());
  Write("a", "v2");
  ASSERT_TRUE(client_->Delete(Cm("b")).ok());
  server_->Compact();  // the events above are gone from the window: the watch gets 410
  server_->HoldWatches(false);

  ASSERT_TRUE(Eventually([&] { return reflector_->stats().lists == 2; }));
  ASSERT_TRUE(Eventually([&] { return recorder_.size() == 7; }));
  auto log = recorder_.log();
  // After the relist the differences are reported, each once.
  std::vector<std::string> after(log.begin() + 3, log.end());
  std::sort(after.begin(), after.end());
  EXPECT_EQ(after, (std::vector<std::string>{"add d", "delete b", "synced", "update a v2"}));
  EXPECT_EQ(reflector_->stats().relists_on_gone, 1);
  EXPECT_EQ(reflector_->cache().size(), 2u);
}

TEST_F(ReflectorTest, RelistsWhenTheWatchIsAnsweredWithHttp410) {
  StartServer({.expired_watch = testing::FakeKubeApiServerOptions::ExpiredWatch::kHttpStatus});
  Seed(ConfigMap("a"));
  StartReflector();
  DisconnectReflector();
  Write("a", "v2");
  server_->Compact();
  server_->HoldWatches(false);
  ASSERT_TRUE(Eventually([&] { return reflector_->stats().lists == 2; }));
  ASSERT_TRUE(Eventually([&] { return recorder_.size() == 4; }));
  EXPECT_EQ(recorder_.log()[2], "update a v2");
  EXPECT_EQ(reflector_->stats().relists_on_gone, 1);
}

TEST_F(ReflectorTest, ErrorEventsEndTheWatchAndCauseARelist) {
  Seed(ConfigMap("a"));
  StartReflector();
  ASSERT_TRUE(Eventually([&] { return server_->open_watches() == 1; }));
  server_->SendWatchError(410);
  ASSERT_TRUE(Eventually([&] { return reflector_->stats().lists == 2; }));
  EXPECT_EQ(reflector_->stats().relists_on_gone, 1);
  ASSERT_TRUE(Eventually([&] { return server_->open_watches() == 1; }));
  server_->SendWatchError(500);
  ASSERT_TRUE(Eventually([&] { return reflector_->stats().lists == 3; }));
  EXPECT_EQ(reflector_->stats().relists_on_gone, 1);
  EXPECT_EQ(reflector_sleeper_.Waits().size(), 1u);  // backoff before the second relist
  // Relisting an unchanged world reports nothing new.
  EXPECT_EQ(recorder_.log(), (std::vector<std::string>{"add a", "synced", "synced", "synced"}));
}

TEST_F(ReflectorTest, BacksOffExponentiallyWhileTheServerSaysTooManyRequests) {
  Seed(ConfigMap("a"));
  // Each failed LIST costs the client 1 + 3 retries; two failed LISTs, then success.
  server_->InjectFault({.count = 8, .status = 429, .retry_after_seconds = 1, .verb = "list"});
  StartReflector({.backoff = {.initial = 100ms, .max = 10s, .factor = 2, .jitter = 0.5}});
  EXPECT_EQ(server_->Requests("list"), 9);
  auto waits = reflector_sleeper_.Waits();
  ASSERT_EQ(waits.size(), 2u);
  EXPECT_GE(waits[0], 100ms);
  EXPECT_LT(waits[0], 151ms);
  EXPECT_GE(waits[1], 200ms);
  EXPECT_LT(waits[1], 301ms);
  EXPECT_EQ(sleeper_.Waits(), std::vector<std::chrono::milliseconds>(6, 1s));  // Retry-After
  EXPECT_EQ(reflector_->stats().errors, 2);
}

TEST_F(ReflectorTest, WatchFailuresBackOffAndResumeFromTheLastVersion) {
  Seed(ConfigMap("a"));
  StartReflector();
  DisconnectReflector();
  server_->InjectFault({.count = 1, .status = 500, .verb = "watch"});
  Write("a", "v2");
  server_->HoldWatches(false);
  ASSERT_TRUE(Eventually([&] { return recorder_.size() == 3; }));
  EXPECT_EQ(recorder_.log()[2], "update a v2");
  EXPECT_EQ(reflector_->stats().lists, 1);
  EXPECT_EQ(reflector_->stats().errors, 1);
  // One backoff after the stream ended without an event, one after the 500.
  EXPECT_EQ(reflector_sleeper_.Waits().size(), 2u);
}

TEST_F(ReflectorTest, BookmarksAdvanceTheResourceVersion) {
  Seed(ConfigMap("a"));
  StartReflector();
  ASSERT_TRUE(Eventually([&] { return server_->open_watches() == 1; }));
  // A write elsewhere moves the global version; the bookmark carries it to this watch.
  server_->Seed("", "v1", "secrets",
                {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", "s"}}}});
  server_->SendBookmarks();
  std::string now = std::to_string(server_->resource_version());
  ASSERT_TRUE(Eventually([&] { return reflector_->cache().resource_version() == now; }));
  EXPECT_EQ(recorder_.size(), 2u);
}

TEST_F(ReflectorTest, ListsInPages) {
  for (int i = 0; i < 7; ++i) Seed(ConfigMap("cm" + std::to_string(i)));
  StartReflector({.page_size = 3});
  EXPECT_EQ(reflector_->cache().size(), 7u);
  EXPECT_EQ(server_->Requests("list"), 3);
}

TEST_F(ReflectorTest, ObjectsLeavingTheLabelSelectorAreDeleted) {
  Seed(ConfigMap("a"));
  Seed(ConfigMap("x", "v", "other"));
  StartReflector({.label_selector = "app=agentd"});
  EXPECT_EQ(reflector_->cache().size(), 1u);
  ASSERT_TRUE(
      client_->Patch(Cm("a"), PatchType::kMerge, {{"metadata", {{"labels", {{"app", "other"}}}}}})
          .ok());
  ASSERT_TRUE(
      client_->Patch(Cm("x"), PatchType::kMerge, {{"metadata", {{"labels", {{"app", "agentd"}}}}}})
          .ok());
  ASSERT_TRUE(Eventually([&] { return recorder_.size() == 4; }));
  EXPECT_EQ(recorder_.log(), (std::vector<std::string>{"add a", "synced", "delete a", "add x"}));
}

TEST_F(ReflectorTest, StopReturnsPromptlyDuringALongWatch) {
  StartReflector({.watch_timeout = std::chrono::seconds(3600)});
  ASSERT_TRUE(Eventually([&] { return server_->open_watches() == 1; }));
  auto started = std::chrono::steady_clock::now();
  reflector_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

TEST_F(ReflectorTest, StopInterruptsABackoffWait) {
  server_->InjectFault({.count = 1000, .status = 500, .verb = "list"});
  ReflectorOptions options;
  options.gvr = resources::kConfigMaps;
  options.ns = "ns";
  options.backoff = {.initial = std::chrono::hours(1), .max = std::chrono::hours(1)};
  Reflector reflector(*client_, options, {});  // the real sleeper
  reflector.Start();
  ASSERT_TRUE(Eventually([&] { return reflector.stats().errors == 1; }));
  auto started = std::chrono::steady_clock::now();
  reflector.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  EXPECT_FALSE(reflector.HasSynced());
}

}  // namespace
}  // namespace agentd::kube
