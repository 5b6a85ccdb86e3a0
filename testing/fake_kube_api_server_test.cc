#include "testing/fake_kube_api_server.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "httpclient/curl_transport.h"

namespace agentd::testing {
namespace {

using core::Json;
using namespace std::chrono_literals;

class FakeKubeApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = FakeKubeApiServer::Start(options_);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server).value();
  }

  httpclient::Response Call(const std::string& method, const std::string& path,
                            const std::string& body = "",
                            const std::string& content_type = "application/json") {
    httpclient::Request request;
    request.method = method;
    request.url = server_->url() + path;
    request.body = body;
    if (!body.empty()) request.headers.emplace_back("Content-Type", content_type);
    auto response = transport_.Send(request);
    EXPECT_TRUE(response.ok()) << response.error().message;
    return response.ok() ? std::move(response).value() : httpclient::Response{};
  }

  Json CallJson(const std::string& method, const std::string& path, const Json& body = nullptr,
                int expected_status = 200, const std::string& content_type = "application/json") {
    auto response = Call(method, path, body.is_null() ? "" : body.dump(), content_type);
    EXPECT_EQ(response.status, expected_status) << method << " " << path << ": " << response.body;
    return Json::parse(response.body, nullptr, false);
  }

  // Reads a watch stream until `lines` events arrived or the stream ends.
  std::vector<Json> ReadWatch(const std::string& path_and_query, size_t lines,
                              int* status = nullptr) {
    httpclient::Request request;
    request.url = server_->url() + path_and_query;
    request.idle_timeout = 5s;
    std::vector<Json> events;
    std::string pending;
    auto response = transport_.SendStreaming(request, [&](std::string_view data) {
      pending.append(data);
      size_t newline;
      while ((newline = pending.find('\n')) != std::string::npos) {
        events.push_back(Json::parse(pending.substr(0, newline)));
        pending.erase(0, newline + 1);
      }
      return events.size() < lines;
    });
    if (status != nullptr) *status = response.ok() ? response->status : 0;
    return events;
  }

  static Json ConfigMap(const std::string& name, Json data = {{"k", "v"}}) {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}, {"labels", {{"app", "agentd"}}}}},
            {"data", std::move(data)}};
  }

  FakeKubeApiServerOptions options_;
  httpclient::CurlHttpTransport transport_;
  std::unique_ptr<FakeKubeApiServer> server_;
};

constexpr const char* kConfigMaps = "/api/v1/namespaces/ns/configmaps";

TEST_F(FakeKubeApiServerTest, CreateAssignsServerManagedMetadata) {
  Json created = CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  EXPECT_EQ(created["metadata"]["namespace"], "ns");
  EXPECT_FALSE(created["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(created["metadata"]["generation"], 1);
  EXPECT_EQ(created["metadata"]["resourceVersion"], "1");
  EXPECT_TRUE(created["metadata"].contains("creationTimestamp"));

  Json again = CallJson("POST", kConfigMaps, ConfigMap("a"), 409);
  EXPECT_EQ(again["reason"], "AlreadyExists");
  EXPECT_EQ(again["code"], 409);
}

TEST_F(FakeKubeApiServerTest, GenerateNameMakesAUniqueName) {
  Json object = ConfigMap("");
  object["metadata"].erase("name");
  object["metadata"]["generateName"] = "run-";
  Json first = CallJson("POST", kConfigMaps, object, 201);
  Json second = CallJson("POST", kConfigMaps, object, 201);
  EXPECT_EQ(first["metadata"]["name"].get<std::string>().rfind("run-", 0), 0u);
  EXPECT_NE(first["metadata"]["name"], second["metadata"]["name"]);
}

TEST_F(FakeKubeApiServerTest, GetOfAMissingObjectIsANotFoundStatus) {
  Json status = CallJson("GET", std::string(kConfigMaps) + "/nope", nullptr, 404);
  EXPECT_EQ(status["kind"], "Status");
  EXPECT_EQ(status["reason"], "NotFound");
}

TEST_F(FakeKubeApiServerTest, UpdateWithAStaleResourceVersionIsAConflict) {
  Json created = CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  Json changed = created;
  changed["data"]["k"] = "v2";
  Json updated = CallJson("PUT", std::string(kConfigMaps) + "/a", changed);
  EXPECT_EQ(updated["data"]["k"], "v2");
  EXPECT_EQ(updated["metadata"]["generation"], 2);
  changed["data"]["k"] = "v3";  // still carries the first resourceVersion
  Json conflict = CallJson("PUT", std::string(kConfigMaps) + "/a", changed, 409);
  EXPECT_EQ(conflict["reason"], "Conflict");
}

TEST_F(FakeKubeApiServerTest, AnUpdateThatChangesNothingKeepsTheResourceVersion) {
  Json created = CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  Json same = CallJson("PUT", std::string(kConfigMaps) + "/a", created);
  EXPECT_EQ(same["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"]);
  EXPECT_EQ(server_->resource_version(), 1);
}

TEST_F(FakeKubeApiServerTest, StatusWritesDoNotBumpGenerationAndMainWritesKeepStatus) {
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  Json status_patch = {{"status", {{"phase", "Running"}}}, {"data", {{"k", "ignored"}}}};
  Json after_status = CallJson("PATCH", std::string(kConfigMaps) + "/a/status", status_patch, 200,
                               "application/merge-patch+json");
  EXPECT_EQ(after_status["status"]["phase"], "Running");
  EXPECT_EQ(after_status["data"]["k"], "v");
  EXPECT_EQ(after_status["metadata"]["generation"], 1);

  Json main_patch = {{"status", {{"phase", "Hacked"}}}, {"data", {{"k", "v2"}}}};
  Json after_main = CallJson("PATCH", std::string(kConfigMaps) + "/a", main_patch, 200,
                             "application/merge-patch+json");
  EXPECT_EQ(after_main["status"]["phase"], "Running");
  EXPECT_EQ(after_main["data"]["k"], "v2");
  EXPECT_EQ(after_main["metadata"]["generation"], 2);
}

TEST_F(FakeKubeApiServerTest, ApplyCreatesThenMergesAndRecordsTheFieldManager) {
  Json applied = ConfigMap("a");
  applied["metadata"]["namespace"] = "ns";
  std::string path = std::string(kConfigMaps) + "/a?fieldManager=agentd&force=true";
  Json created = CallJson("PATCH", path, applied, 201, "application/apply-patch+yaml");
  EXPECT_EQ(created["metadata"]["managedFields"][0]["manager"], "agentd");
  applied["data"] = {{"k2", "v2"}};
  Json merged = CallJson("PATCH", path, applied, 200, "application/apply-patch+yaml");
  EXPECT_EQ(merged["data"]["k"], "v");
  EXPECT_EQ(merged["data"]["k2"], "v2");
  EXPECT_EQ(merged["metadata"]["managedFields"].size(), 1u);

  CallJson("PATCH", std::string(kConfigMaps) + "/a", applied, 422, "application/apply-patch+yaml");
}

TEST_F(FakeKubeApiServerTest, JsonPatchIsApplied) {
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  Json patch = Json::array({{{"op", "replace"}, {"path", "/data/k"}, {"value", "jp"}}});
  Json patched =
      CallJson("PATCH", std::string(kConfigMaps) + "/a", patch, 200, "application/json-patch+json");
  EXPECT_EQ(patched["data"]["k"], "jp");
}

TEST_F(FakeKubeApiServerTest, DeleteWithFinalizersWaitsForTheLastFinalizer) {
  Json object = ConfigMap("a");
  object["metadata"]["finalizers"] = Json::array({"agentd.dev/cleanup"});
  CallJson("POST", kConfigMaps, object, 201);
  Json deleting = CallJson("DELETE", std::string(kConfigMaps) + "/a");
  EXPECT_TRUE(deleting["metadata"].contains("deletionTimestamp"));
  ASSERT_TRUE(server_->Get("", "configmaps", "ns", "a").has_value());

  Json patch = {{"metadata", {{"finalizers", nullptr}}}};
  CallJson("PATCH", std::string(kConfigMaps) + "/a", patch, 200, "application/merge-patch+json");
  EXPECT_FALSE(server_->Get("", "configmaps", "ns", "a").has_value());
}

TEST_F(FakeKubeApiServerTest, DeletePreconditionsAreChecked) {
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  Json options = {{"kind", "DeleteOptions"}, {"preconditions", {{"uid", "someone-else"}}}};
  CallJson("DELETE", std::string(kConfigMaps) + "/a", options, 409);
  CallJson("DELETE", std::string(kConfigMaps) + "/a", {{"propagationPolicy", "Background"}});
  EXPECT_FALSE(server_->Get("", "configmaps", "ns", "a").has_value());
}

TEST_F(FakeKubeApiServerTest, ListFiltersByLabelAndFieldAndPagesOverASnapshot) {
  for (const char* name : {"a", "b", "c"}) CallJson("POST", kConfigMaps, ConfigMap(name), 201);
  Json other = ConfigMap("d");
  other["metadata"]["labels"]["app"] = "other";
  CallJson("POST", kConfigMaps, other, 201);

  Json agentd = CallJson("GET", std::string(kConfigMaps) + "?labelSelector=app%3Dagentd");
  EXPECT_EQ(agentd["items"].size(), 3u);
  EXPECT_EQ(agentd["kind"], "ConfigMapList");
  Json notin = CallJson("GET", std::string(kConfigMaps) + "?labelSelector=app%20notin%20(agentd)");
  ASSERT_EQ(notin["items"].size(), 1u);
  EXPECT_EQ(notin["items"][0]["metadata"]["name"], "d");
  Json by_name = CallJson("GET", std::string(kConfigMaps) + "?fieldSelector=metadata.name%3Db");
  ASSERT_EQ(by_name["items"].size(), 1u);

  Json page1 = CallJson("GET", std::string(kConfigMaps) + "?limit=3");
  ASSERT_EQ(page1["items"].size(), 3u);
  std::string token = page1["metadata"]["continue"];
  CallJson("POST", kConfigMaps, ConfigMap("e"), 201);  // not in the snapshot
  Json page2 = CallJson("GET", std::string(kConfigMaps) + "?limit=3&continue=" + token);
  ASSERT_EQ(page2["items"].size(), 1u);
  EXPECT_EQ(page2["items"][0]["metadata"]["name"], "d");
  EXPECT_FALSE(page2["metadata"].contains("continue"));
  EXPECT_EQ(page2["metadata"]["resourceVersion"], page1["metadata"]["resourceVersion"]);

  Json page1b = CallJson("GET", std::string(kConfigMaps) + "?limit=2");
  server_->Compact();
  CallJson("GET",
           std::string(kConfigMaps) +
               "?limit=2&continue=" + page1b["metadata"]["continue"].get<std::string>(),
           nullptr, 410);
}

TEST_F(FakeKubeApiServerTest, WatchReplaysEventsAfterTheResourceVersion) {
  Json a = CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  CallJson("POST", kConfigMaps, ConfigMap("b"), 201);
  CallJson("DELETE", std::string(kConfigMaps) + "/a");
  auto events = ReadWatch(std::string(kConfigMaps) + "?watch=1&resourceVersion=" +
                              a["metadata"]["resourceVersion"].get<std::string>(),
                          2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(events[1]["type"], "DELETED");
  EXPECT_EQ(events[1]["object"]["metadata"]["name"], "a");
}

TEST_F(FakeKubeApiServerTest, WatchWithoutResourceVersionStartsWithTheCurrentState) {
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  auto events = ReadWatch(std::string(kConfigMaps) + "?watch=1", 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
}

TEST_F(FakeKubeApiServerTest, WatchFromBeforeTheWindowGetsA410ErrorEvent) {
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  server_->Compact();
  int status = 0;
  auto events = ReadWatch(std::string(kConfigMaps) + "?watch=1&resourceVersion=1", 5, &status);
  EXPECT_EQ(status, 200);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ERROR");
  EXPECT_EQ(events[0]["object"]["code"], 410);
}

TEST_F(FakeKubeApiServerTest, WatchEndsAtItsTimeout) {
  int status = 0;
  auto events = ReadWatch(std::string(kConfigMaps) + "?watch=1&resourceVersion=0&timeoutSeconds=1",
                          5, &status);
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(events.empty());
}

TEST_F(FakeKubeApiServerTest, WatchReportsObjectsEnteringAndLeavingTheSelector) {
  Json a = CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  Json relabel = {{"metadata", {{"labels", {{"app", "other"}}}}}};
  CallJson("PATCH", std::string(kConfigMaps) + "/a", relabel, 200, "application/merge-patch+json");
  Json back = {{"metadata", {{"labels", {{"app", "agentd"}}}}}};
  CallJson("PATCH", std::string(kConfigMaps) + "/a", back, 200, "application/merge-patch+json");
  auto events =
      ReadWatch(std::string(kConfigMaps) + "?watch=1&labelSelector=app%3Dagentd&resourceVersion=" +
                    a["metadata"]["resourceVersion"].get<std::string>(),
                2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "DELETED");
  EXPECT_EQ(events[1]["type"], "ADDED");
}

TEST_F(FakeKubeApiServerTest, HeldWatchesAreAnsweredWhenReleased) {
  server_->HoldWatches(true);
  std::vector<Json> events;
  std::thread watcher(
      [&] { events = ReadWatch(std::string(kConfigMaps) + "?watch=1&resourceVersion=0", 1); });
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server_->held_watches() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(server_->held_watches(), 1u);
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);  // happens while the watch is parked
  server_->HoldWatches(false);
  watcher.join();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "a");
}

class FakeKubeApiServerBookmarkTest : public FakeKubeApiServerTest {
 protected:
  void SetUp() override {
    options_.bookmark_interval = 20ms;
    FakeKubeApiServerTest::SetUp();
  }
};

TEST_F(FakeKubeApiServerBookmarkTest, QuietWatchesGetPeriodicBookmarks) {
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  auto events = ReadWatch(std::string(kConfigMaps) +
                              "?watch=1&allowWatchBookmarks=true&"
                              "resourceVersion=1",
                          2);
  ASSERT_EQ(events.size(), 2u);
  for (const auto& event : events) {
    EXPECT_EQ(event["type"], "BOOKMARK");
    EXPECT_EQ(event["object"]["kind"], "ConfigMap");
    EXPECT_EQ(event["object"]["metadata"]["resourceVersion"], "1");
  }
}

TEST_F(FakeKubeApiServerTest, InjectedFaultsAnswerTheNextMatchingRequests) {
  server_->InjectFault({.count = 2, .status = 429, .retry_after_seconds = 3, .verb = "list"});
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);  // not a list: passes
  auto first = Call("GET", kConfigMaps);
  EXPECT_EQ(first.status, 429);
  EXPECT_EQ(first.Header("retry-after").value_or(""), "3");
  EXPECT_EQ(Call("GET", kConfigMaps).status, 429);
  EXPECT_EQ(Call("GET", kConfigMaps).status, 200);
}

TEST_F(FakeKubeApiServerTest, CountsRequestsByVerbAndWritesByResource) {
  CallJson("POST", kConfigMaps, ConfigMap("a"), 201);
  CallJson("PATCH", std::string(kConfigMaps) + "/a/status", {{"status", {{"x", 1}}}}, 200,
           "application/merge-patch+json");
  CallJson("GET", std::string(kConfigMaps) + "/a");
  CallJson("GET", kConfigMaps);
  EXPECT_EQ(server_->Requests("create"), 1);
  EXPECT_EQ(server_->Requests("patch"), 1);
  EXPECT_EQ(server_->Requests("get"), 1);
  EXPECT_EQ(server_->Requests("list"), 1);
  EXPECT_EQ(server_->Writes("configmaps"), 2);
  EXPECT_EQ(server_->TotalWrites(), 2);
  server_->ResetCounts();
  EXPECT_EQ(server_->TotalWrites(), 0);
}

TEST_F(FakeKubeApiServerTest, GroupedResourcesLiveUnderApis) {
  Json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", "leader"}}},
                {"spec", {{"holderIdentity", "a"}}}};
  CallJson("POST", "/apis/coordination.k8s.io/v1/namespaces/ns/leases", lease, 201);
  EXPECT_TRUE(server_->Get("coordination.k8s.io", "leases", "ns", "leader").has_value());
  CallJson("GET", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/leader");
  CallJson("GET", "/apis/unknown", nullptr, 404);
}

}  // namespace
}  // namespace agentd::testing
