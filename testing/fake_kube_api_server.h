// FakeKubeApiServer: an in-process Kubernetes API server for tests and benchmarks, speaking the
// real wire format over HTTP/1.1 on 127.0.0.1 (net::HttpServer, port 0).
//
// What it models:
//  * Any resource, stored by group/resource/namespace/name (no discovery, no schemas): the core
//    group under /api/v1, others under /apis/<group>/<version>; namespaced paths
//    (/namespaces/<ns>/...) and cluster paths (a list or watch there spans every namespace).
//  * One global resourceVersion counter, bumped by every write; uid, generation (bumped when
//    anything outside metadata and status changes), metadata.creationTimestamp; a write that
//    changes nothing is a no-op (no new resourceVersion, no event).
//  * The status subresource for every resource: the main endpoint keeps the stored status (and
//    drops it on create), /status changes only the status.
//  * GET, LIST (labelSelector with =, ==, !=, in, notin, exists, !exists; fieldSelector on any
//    dotted path; limit/continue over a snapshot, a continue token older than the event window
//    is 410), POST (name or generateName; 409 AlreadyExists), PUT (409 Conflict on a stale
//    resourceVersion), PATCH merge (RFC 7386; strategic merge is treated as merge), JSON patch,
//    apply (JSON bodies; treated as a merge or a create, fieldManager required and recorded in
//    metadata.managedFields; no field ownership conflicts), DELETE with preconditions (uid,
//    resourceVersion) and finalizers (deletionTimestamp first, gone when the last finalizer is
//    removed). ownerReferences are stored, not acted on.
//  * WATCH (?watch=1): chunked stream of {"type","object"} lines, replaying the event window
//    after the given resourceVersion (no resourceVersion or "0": synthetic ADDED for everything),
//    label/field selectors with ADDED/DELETED when an object starts/stops matching, BOOKMARKs
//    (allowWatchBookmarks) every bookmark_interval or on SendBookmarks(), timeoutSeconds. A
//    resourceVersion older than the window answers an ERROR event with a 410 Status (or HTTP
//    410, see Options).
//  * Faults: the next N requests (optionally of one verb/resource) answer a status (429 with
//    Retry-After, 500, 503); CloseWatches() ends every stream; SendWatchError() sends an ERROR
//    event and ends them; HoldWatches() parks new watch requests until released, so a test can
//    change the world while a client is between two watches.
//  * Counters: requests by verb (get, list, watch, create, update, patch, delete) and writes by
//    resource, for benchmarks ("API writes per run").
// Thread-safe. Lives in testing/ only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"

namespace agentd::testing {

struct FakeKubeApiServerOptions {
  // How many events the watch window keeps; a watch from before the window gets 410.
  size_t history_size = 10'000;
  // 0 = BOOKMARKs only when SendBookmarks() is called.
  std::chrono::milliseconds bookmark_interval{0};
  enum class ExpiredWatch {
    kErrorEvent,  // HTTP 200, then {"type":"ERROR","object":Status 410}, then the end (usual)
    kHttpStatus,  // HTTP 410 with a Status body
  };
  ExpiredWatch expired_watch = ExpiredWatch::kErrorEvent;
  // For creationTimestamp and deletionTimestamp; null = the system clock.
  const core::Clock* clock = nullptr;
  int threads = 2;
};

struct FakeKubeFault {
  int count = 1;
  int status = 500;
  std::optional<int> retry_after_seconds;
  std::string verb;      // get, list, watch, create, update, patch, delete; empty = any
  std::string resource;  // plural, e.g. "leases"; empty = any
};

// One request as received, for assertions.
struct FakeKubeRequest {
  std::string verb;
  std::string method;
  std::string target;  // path and query as sent
  std::string resource;
  std::string subresource;
  std::string content_type;
  std::string authorization;
  std::string body;
};

class FakeKubeApiServer {
 public:
  using Options = FakeKubeApiServerOptions;

  static core::Result<std::unique_ptr<FakeKubeApiServer>> Start(Options options = {});
  ~FakeKubeApiServer();
  FakeKubeApiServer(const FakeKubeApiServer&) = delete;
  FakeKubeApiServer& operator=(const FakeKubeApiServer&) = delete;

  // "http://127.0.0.1:<port>"
  std::string url() const;
  uint16_t port() const;

  // Direct access, without HTTP, with the same bookkeeping and watch events. Seed creates or
  // replaces `object` (keeping its status) and returns the stored object.
  core::Json Seed(std::string_view group, std::string_view version, std::string_view resource,
                  core::Json object);
  std::optional<core::Json> Get(std::string_view group, std::string_view resource,
                                std::string_view ns, std::string_view name) const;
  // Every object of the resource in `ns` ("" = all namespaces), ordered by namespace/name.
  std::vector<core::Json> List(std::string_view group, std::string_view resource,
                               std::string_view ns = "") const;
  // Removes the object at once (finalizers ignored); false when there is none.
  bool Remove(std::string_view group, std::string_view resource, std::string_view ns,
              std::string_view name);

  void InjectFault(FakeKubeFault fault);
  void ClearFaults();
  // Ends every open watch stream (cleanly: the client sees the stream end).
  void CloseWatches();
  // Sends a BOOKMARK with the current resourceVersion on every watch that allows them.
  void SendBookmarks();
  // Sends an ERROR event with a Status of `code` on every open watch, then ends them.
  void SendWatchError(int code);
  // While held, new watch requests wait unanswered; releasing answers them in order.
  void HoldWatches(bool hold);
  size_t held_watches() const;
  size_t open_watches() const;
  // Forgets the event window and bumps the resourceVersion: any watch or continue token from
  // before now gets 410.
  void Compact();
  int64_t resource_version() const;

  int64_t Requests(std::string_view verb) const;
  int64_t Writes(std::string_view resource) const;  // create/update/patch/delete, incl. /status
  int64_t TotalWrites() const;
  void ResetCounts();
  // The most recent requests (up to 2000), oldest first.
  std::vector<FakeKubeRequest> requests() const;

  class Impl;

 private:
  explicit FakeKubeApiServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentd::testing
