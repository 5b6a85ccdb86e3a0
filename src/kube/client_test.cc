#include "kube/client.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <unistd.h>

#include "kube/http_kube_client.h"
#include "kube/kube_test_util.h"
#include "testing/fake_clock.h"

namespace agentd::kube {
namespace {

using core::ErrorCode;
using core::Json;
using test::Eventually;
using namespace std::chrono_literals;

Json ConfigMap(const std::string& name, const std::string& value = "v",
               const std::string& app = "agentd") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"labels", {{"app", app}}}}},
          {"data", {{"k", value}}}};
}

ObjectRef Cm(const std::string& name) { return {resources::kConfigMaps, "ns", name}; }

class ClientTest : public test::FakeClusterTest {};

TEST_F(ClientTest, CreateThenGetReturnsTheStoredObject) {
  auto created = client_->Create(resources::kConfigMaps, "ns", ConfigMap("a"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_FALSE(UidOf(*created).empty());
  auto got = client_->Get(Cm("a"));
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ((*got)["data"]["k"], "v");
  EXPECT_EQ(ResourceVersionOf(*got), ResourceVersionOf(*created));
}

TEST_F(ClientTest, RequestsCarryTheBearerTokenAndJsonHeaders) {
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("a")).ok());
  auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].authorization, "Bearer test-token");
  EXPECT_EQ(requests[0].content_type, "application/json");
  EXPECT_EQ(requests[0].target, "/api/v1/namespaces/ns/configmaps");
}

TEST_F(ClientTest, ErrorsAreMappedFromTheStatusObject) {
  auto missing = client_->Get(Cm("nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("get configmaps/v1 ns/nope"), std::string::npos)
      << missing.error().message;
  EXPECT_NE(missing.error().message.find("(NotFound)"), std::string::npos);

  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("a")).ok());
  auto again = client_->Create(resources::kConfigMaps, "ns", ConfigMap("a"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);

  Json no_name = ConfigMap("");
  no_name["metadata"].erase("name");
  EXPECT_EQ(client_->Create(resources::kConfigMaps, "ns", no_name).error().code,
            ErrorCode::kInvalidArgument);
}

TEST_F(ClientTest, UpdateWithAStaleResourceVersionIsAborted) {
  auto created = client_->Create(resources::kConfigMaps, "ns", ConfigMap("a"));
  ASSERT_TRUE(created.ok());
  Json first = *created;
  first["data"]["k"] = "first";
  ASSERT_TRUE(client_->Update(Cm("a"), first).ok());
  Json second = *created;  // read before the first update
  second["data"]["k"] = "second";
  auto stale = client_->Update(Cm("a"), second);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code, ErrorCode::kAborted);
  EXPECT_EQ((*server_->Get("", "configmaps", "ns", "a"))["data"]["k"], "first");
}

TEST_F(ClientTest, ListFiltersByLabelSelectorAndPages) {
  for (const char* name : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap(name)).ok());
  }
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("x", "v", "other")).ok());
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "elsewhere", ConfigMap("y")).ok());

  auto selected = client_->List(resources::kConfigMaps, "ns", {.label_selector = "app=agentd"});
  ASSERT_TRUE(selected.ok()) << selected.error().message;
  EXPECT_EQ(selected->items.size(), 4u);
  EXPECT_EQ(selected->kind, "ConfigMapList");
  EXPECT_FALSE(selected->resource_version.empty());

  auto everywhere = client_->List(resources::kConfigMaps, "");
  ASSERT_TRUE(everywhere.ok());
  EXPECT_EQ(everywhere->items.size(), 6u);

  std::vector<std::string> names;
  ListOptions options{.label_selector = "app=agentd", .limit = 3};
  int pages = 0;
  do {
    auto page = client_->List(resources::kConfigMaps, "ns", options);
    ASSERT_TRUE(page.ok()) << page.error().message;
    for (const auto& item : page->items) names.push_back(NameOf(item));
    options.continue_token = page->continue_token;
    ++pages;
  } while (!options.continue_token.empty());
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d"}));

  auto by_field =
      client_->List(resources::kConfigMaps, "ns", {.field_selector = "metadata.name=c"});
  ASSERT_TRUE(by_field.ok());
  ASSERT_EQ(by_field->items.size(), 1u);
}

TEST_F(ClientTest, MergeStrategicAndJsonPatchesUseTheirContentTypes) {
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("a")).ok());
  auto merged = client_->Patch(Cm("a"), PatchType::kMerge, {{"data", {{"m", "1"}}}});
  ASSERT_TRUE(merged.ok()) << merged.error().message;
  EXPECT_EQ((*merged)["data"]["m"], "1");
  auto strategic = client_->Patch(Cm("a"), PatchType::kStrategicMerge, {{"data", {{"s", "2"}}}});
  ASSERT_TRUE(strategic.ok());
  auto json_patch = client_->Patch(Cm("a"), PatchType::kJsonPatch,
                                   Json::array({{{"op", "remove"}, {"path", "/data/m"}}}));
  ASSERT_TRUE(json_patch.ok()) << json_patch.error().message;
  EXPECT_FALSE((*json_patch)["data"].contains("m"));
  EXPECT_EQ((*json_patch)["data"]["s"], "2");

  auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[1].content_type, "application/merge-patch+json");
  EXPECT_EQ(requests[2].content_type, "application/strategic-merge-patch+json");
  EXPECT_EQ(requests[3].content_type, "application/json-patch+json");
}

TEST_F(ClientTest, ApplyIsAPatchWithApplyContentTypeFieldManagerAndForce) {
  Json desired = ConfigMap("a");
  auto created = client_->Apply(Cm("a"), desired, {.force = true});
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ((*created)["metadata"]["namespace"], "ns");
  desired["data"]["k"] = "changed";
  auto applied = client_->Apply(Cm("a"), desired);
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ((*applied)["data"]["k"], "changed");
  EXPECT_EQ((*applied)["metadata"]["managedFields"][0]["manager"], "agentd");

  auto requests = server_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].content_type, "application/apply-patch+yaml");
  EXPECT_EQ(requests[0].target,
            "/api/v1/namespaces/ns/configmaps/a?fieldManager=agentd&force=true");
  EXPECT_EQ(requests[1].target, "/api/v1/namespaces/ns/configmaps/a?fieldManager=agentd");

  Json no_kind = desired;
  no_kind.erase("kind");
  EXPECT_EQ(client_->Apply(Cm("a"), no_kind).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ClientTest, StatusSubresourceWritesOnlyTheStatus) {
  auto created = client_->Create(resources::kConfigMaps, "ns", ConfigMap("a"));
  ASSERT_TRUE(created.ok());
  Json with_status = *created;
  with_status["status"] = {{"phase", "Running"}};
  with_status["data"]["k"] = "not-through-status";
  auto updated = client_->UpdateStatus(Cm("a"), with_status);
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ((*updated)["status"]["phase"], "Running");
  EXPECT_EQ((*updated)["data"]["k"], "v");
  EXPECT_EQ(GenerationOf(*updated), 1);

  auto patched =
      client_->PatchStatus(Cm("a"), PatchType::kMerge, {{"status", {{"phase", "Succeeded"}}}});
  ASSERT_TRUE(patched.ok());
  EXPECT_EQ((*patched)["status"]["phase"], "Succeeded");

  auto applied = client_->ApplyStatus(
      Cm("a"), {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"status", {{"cost", "0.01"}}}});
  ASSERT_TRUE(applied.ok()) << applied.error().message;
  EXPECT_EQ((*applied)["status"]["cost"], "0.01");
  EXPECT_EQ(server_->requests().back().target,
            "/api/v1/namespaces/ns/configmaps/a/status?fieldManager=agentd");

  Json stale = *created;
  stale["status"] = {{"phase", "Failed"}};
  EXPECT_EQ(client_->UpdateStatus(Cm("a"), stale).error().code, ErrorCode::kAborted);
}

TEST_F(ClientTest, DeleteSendsPropagationAndPreconditions) {
  auto created = client_->Create(resources::kConfigMaps, "ns", ConfigMap("a"));
  ASSERT_TRUE(created.ok());
  auto wrong = client_->Delete(Cm("a"), {.precondition_uid = "not-the-uid"});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kAborted);

  auto deleted =
      client_->Delete(Cm("a"), {.propagation = Propagation::kBackground,
                                .precondition_uid = UidOf(*created),
                                .precondition_resource_version = ResourceVersionOf(*created)});
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  auto body = Json::parse(server_->requests().back().body);
  EXPECT_EQ(body["propagationPolicy"], "Background");
  EXPECT_EQ(body["preconditions"]["uid"], UidOf(*created));
  EXPECT_EQ(client_->Get(Cm("a")).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(client_->Delete(Cm("a")).error().code, ErrorCode::kNotFound);
}

TEST_F(ClientTest, DeleteOfAnObjectWithFinalizersOnlyMarksIt) {
  Json object = ConfigMap("a");
  object["metadata"]["finalizers"] = Json::array({"agentd.dev/job"});
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", object).ok());
  auto deleted = client_->Delete(Cm("a"));
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE((*deleted)["metadata"].contains("deletionTimestamp"));
  ASSERT_TRUE(client_->Get(Cm("a")).ok());
  ASSERT_TRUE(
      client_->Patch(Cm("a"), PatchType::kMerge, {{"metadata", {{"finalizers", nullptr}}}}).ok());
  EXPECT_EQ(client_->Get(Cm("a")).error().code, ErrorCode::kNotFound);
}

TEST_F(ClientTest, TooManyRequestsIsRetriedAfterRetryAfter) {
  server_->InjectFault({.count = 2, .status = 429, .retry_after_seconds = 2});
  auto created = client_->Create(resources::kConfigMaps, "ns", ConfigMap("a"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  EXPECT_EQ(server_->Requests("create"), 3);
  EXPECT_EQ(sleeper_.Waits(), (std::vector<std::chrono::milliseconds>{2s, 2s}));
}

TEST_F(ClientTest, RetryAfterIsCappedAndMissingRetryAfterBacksOffExponentially) {
  client_ = MakeClient({.max_retry_wait = 5s, .default_retry_wait = 100ms});
  server_->InjectFault({.count = 1, .status = 429, .retry_after_seconds = 3600});
  server_->InjectFault({.count = 2, .status = 503});
  ASSERT_TRUE(client_->Get(Cm("a")).error().code == ErrorCode::kNotFound);
  EXPECT_EQ(sleeper_.Waits(), (std::vector<std::chrono::milliseconds>{5s, 200ms, 400ms}));
}

TEST_F(ClientTest, RetriesAreBoundedAndThenTheErrorIsReturned) {
  server_->InjectFault({.count = 10, .status = 429, .retry_after_seconds = 1});
  auto result = client_->Get(Cm("a"));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(server_->Requests("get"), 4);  // 1 + max_retries

  server_->ClearFaults();
  server_->InjectFault({.count = 1, .status = 500});
  EXPECT_EQ(client_->Get(Cm("a")).error().code, ErrorCode::kInternal);
  EXPECT_EQ(server_->Requests("get"), 5);  // 500 is not retried
}

TEST_F(ClientTest, CancelledRetryWaitReturnsAborted) {
  Cancellation cancel;
  cancel.Cancel();
  auto list = client_->List(resources::kConfigMaps, "ns", {.cancel = &cancel});
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().code, ErrorCode::kAborted);
  EXPECT_EQ(server_->Requests("list"), 0);
}

TEST_F(ClientTest, RequestsShareTheClientRateLimit) {
  testing::FakeClock clock;
  client_ = MakeClient({.qps = 1, .burst = 2, .clock = &clock});
  for (int i = 0; i < 4; ++i) (void)client_->Get(Cm("a"));
  // Two from the burst, then one per second; the fake clock does not move, so the waits grow.
  EXPECT_EQ(sleeper_.Waits(), (std::vector<std::chrono::milliseconds>{1s, 2s}));
}

TEST_F(ClientTest, UnauthorizedReReadsARotatedTokenFileOnce) {
  namespace fs = std::filesystem;
  std::string path =
      (fs::temp_directory_path() / ("kube-token-" + std::to_string(getpid()))).string();
  std::ofstream(path) << "old-token";
  KubeConfig config;
  config.server = server_->url();
  config.token_file = path;
  HttpKubeClient client(config, transport_, {.sleeper = &sleeper_});
  ASSERT_EQ(client.Get(Cm("a")).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(server_->requests().back().authorization, "Bearer old-token");

  std::ofstream(path) << "new-token";
  server_->InjectFault({.count = 1, .status = 401});
  EXPECT_EQ(client.Get(Cm("a")).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(server_->requests().back().authorization, "Bearer new-token");

  server_->InjectFault({.count = 2, .status = 401});
  EXPECT_EQ(client.Get(Cm("a")).error().code, ErrorCode::kUnauthenticated);
  fs::remove(path);
}

TEST_F(ClientTest, WatchStreamsEventsFromAResourceVersion) {
  auto a = client_->Create(resources::kConfigMaps, "ns", ConfigMap("a"));
  ASSERT_TRUE(a.ok());
  Json changed = *a;
  changed["data"]["k"] = "v2";
  ASSERT_TRUE(client_->Update(Cm("a"), changed).ok());
  ASSERT_TRUE(client_->Delete(Cm("a")).ok());

  std::vector<std::pair<WatchEventType, std::string>> seen;
  auto end = client_->Watch(resources::kConfigMaps, "ns",
                            {.resource_version = ResourceVersionOf(*a)}, [&](WatchEvent&& e) {
                              seen.emplace_back(e.type, ResourceVersionOf(e.object));
                              return seen.size() < 2;
                            });
  ASSERT_TRUE(end.ok()) << end.error().message;
  EXPECT_EQ(*end, WatchEnd::kStoppedByHandler);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, WatchEventType::kModified);
  EXPECT_EQ(seen[1].first, WatchEventType::kDeleted);
  std::string target = server_->requests().back().target;
  EXPECT_NE(target.find("watch=1"), std::string::npos);
  EXPECT_NE(target.find("allowWatchBookmarks=true"), std::string::npos);
  EXPECT_NE(target.find("resourceVersion=" + ResourceVersionOf(*a)), std::string::npos);
  EXPECT_NE(target.find("timeoutSeconds=300"), std::string::npos);
}

TEST_F(ClientTest, WatchDeliversBookmarksAndEndsWhenTheServerCloses) {
  std::atomic<int> bookmarks{0};
  std::atomic<bool> done{false};
  core::Result<WatchEnd> end = core::Internal("not run");
  std::thread watcher([&] {
    end = client_->Watch(resources::kConfigMaps, "ns", {.resource_version = "0"},
                         [&](WatchEvent&& e) {
                           if (e.type == WatchEventType::kBookmark) ++bookmarks;
                           return true;
                         });
    done = true;
  });
  ASSERT_TRUE(Eventually([&] { return server_->open_watches() == 1; }));
  server_->SendBookmarks();
  ASSERT_TRUE(Eventually([&] { return bookmarks.load() == 1; }));
  server_->CloseWatches();
  ASSERT_TRUE(Eventually([&] { return done.load(); }));
  watcher.join();
  ASSERT_TRUE(end.ok()) << end.error().message;
  EXPECT_EQ(*end, WatchEnd::kClosedByServer);
}

TEST_F(ClientTest, CancellingAWatchEndsItPromptly) {
  Cancellation cancel;
  std::atomic<bool> done{false};
  core::Result<WatchEnd> end = core::Internal("not run");
  std::thread watcher([&] {
    end = client_->Watch(resources::kConfigMaps, "ns", {.cancel = &cancel},
                         [](WatchEvent&&) { return true; });
    done = true;
  });
  ASSERT_TRUE(Eventually([&] { return server_->open_watches() == 1; }));
  auto started = std::chrono::steady_clock::now();
  cancel.Cancel();
  ASSERT_TRUE(Eventually([&] { return done.load(); }, 2s));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  watcher.join();
  ASSERT_TRUE(end.ok()) << end.error().message;
  EXPECT_EQ(*end, WatchEnd::kCancelled);
}

TEST_F(ClientTest, WatchFromATooOldVersionGetsAnErrorEventWith410) {
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("a")).ok());
  server_->Compact();
  std::vector<WatchEvent> events;
  auto end =
      client_->Watch(resources::kConfigMaps, "ns", {.resource_version = "1"}, [&](WatchEvent&& e) {
        events.push_back(std::move(e));
        return true;
      });
  ASSERT_TRUE(end.ok());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, WatchEventType::kError);
  EXPECT_EQ(events[0].object["code"], 410);
}

TEST_F(ClientTest, WatchAnsweredWithHttp410EndsAsExpired) {
  StartServer({.expired_watch = testing::FakeKubeApiServerOptions::ExpiredWatch::kHttpStatus});
  ASSERT_TRUE(client_->Create(resources::kConfigMaps, "ns", ConfigMap("a")).ok());
  server_->Compact();
  auto end = client_->Watch(resources::kConfigMaps, "ns", {.resource_version = "1"},
                            [](WatchEvent&&) { return true; });
  ASSERT_TRUE(end.ok()) << end.error().message;
  EXPECT_EQ(*end, WatchEnd::kExpired);
}

TEST(WatchDecoderTest, EventsSplitAtAnyByteAreReassembled) {
  std::string stream =
      "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"1\"}}}\n"
      "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}\r\n"
      "\n"
      "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\n";
  for (size_t split = 0; split <= stream.size(); ++split) {
    WatchDecoder decoder;
    std::vector<WatchEventType> types;
    auto handler = [&](WatchEvent&& e) {
      types.push_back(e.type);
      return true;
    };
    ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(0, split), handler).ok());
    ASSERT_TRUE(decoder.Feed(std::string_view(stream).substr(split), handler).ok());
    EXPECT_EQ(types, (std::vector<WatchEventType>{WatchEventType::kAdded, WatchEventType::kBookmark,
                                                  WatchEventType::kDeleted}))
        << "split at " << split;
  }
}

TEST(WatchDecoderTest, MalformedAndOversizedEventsAreErrors) {
  auto ignore = [](WatchEvent&&) { return true; };
  WatchDecoder decoder;
  EXPECT_FALSE(decoder.Feed("{\"type\":\"RENAMED\",\"object\":{}}\n", ignore).ok());
  WatchDecoder small(16);
  auto big = small.Feed(std::string(100, 'x'), ignore);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, ErrorCode::kResourceExhausted);
  EXPECT_FALSE(ParseWatchEvent("{\"type\":\"ADDED\"}").ok());
  EXPECT_FALSE(ParseWatchEvent("not json").ok());
}

TEST(ErrorFromStatusTest, MapsEachStatusToOneCode) {
  struct Case {
    int status;
    const char* reason;
    ErrorCode code;
  };
  for (const Case& c : std::vector<Case>{{400, "BadRequest", ErrorCode::kInvalidArgument},
                                         {401, "Unauthorized", ErrorCode::kUnauthenticated},
                                         {403, "Forbidden", ErrorCode::kPermissionDenied},
                                         {404, "NotFound", ErrorCode::kNotFound},
                                         {409, "AlreadyExists", ErrorCode::kAlreadyExists},
                                         {409, "Conflict", ErrorCode::kAborted},
                                         {410, "Expired", ErrorCode::kFailedPrecondition},
                                         {422, "Invalid", ErrorCode::kInvalidArgument},
                                         {429, "TooManyRequests", ErrorCode::kResourceExhausted},
                                         {500, "InternalError", ErrorCode::kInternal},
                                         {503, "ServiceUnavailable", ErrorCode::kUnavailable},
                                         {504, "Timeout", ErrorCode::kDeadlineExceeded}}) {
    Json body = {{"kind", "Status"}, {"message", "it failed"}, {"reason", c.reason}};
    core::Error error = ErrorFromStatus(c.status, body.dump(), "get pods/v1 ns/p");
    EXPECT_EQ(error.code, c.code) << c.status << " " << c.reason;
    EXPECT_EQ(error.message, std::string("get pods/v1 ns/p: it failed (") + c.reason + ")");
  }
  EXPECT_EQ(ErrorFromStatus(502, "<html>bad gateway</html>", "x").message,
            "x: HTTP 502: \"<html>bad gateway</html>\"");
}

}  // namespace
}  // namespace agentd::kube
