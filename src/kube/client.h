// KubeClient: the Kubernetes REST verbs over unstructured JSON objects. The interface the rest of
// agentd is written against; HttpKubeClient (http_kube_client.h) is the implementation.
//
// Error mapping (from the HTTP status and the Status object the API server answers with; the
// message is the Status message, prefixed with the verb and the object):
//   400, 415, 422 (Invalid)   kInvalidArgument
//   401                       kUnauthenticated
//   403                       kPermissionDenied
//   404                       kNotFound
//   409 reason AlreadyExists  kAlreadyExists
//   409 otherwise (Conflict)  kAborted: stale resourceVersion or failed delete precondition; read
//                             again and retry the whole read-modify-write
//   410 (Expired, Gone)       kFailedPrecondition: the resourceVersion or continue token is too
//                             old; list again from scratch
//   413                       kResourceExhausted
//   429                       kResourceExhausted, once the client's retries are used up
//   500                       kInternal
//   502, 503                  kUnavailable (503 is retried first, honouring Retry-After)
//   504                       kDeadlineExceeded
// Transport errors keep the codes of httpclient::HttpTransport (kUnavailable, kDeadlineExceeded,
// kAborted for a cancelled call, ...). Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "kube/cancellation.h"
#include "kube/resource.h"

namespace agentd::kube {

struct ListOptions {
  std::string label_selector;  // "app=agentd,tier!=batch"
  std::string field_selector;  // "metadata.name=x"
  int64_t limit = 0;           // page size; 0 = everything in one answer
  std::string continue_token;  // from the previous page
  std::string resource_version;
  const Cancellation* cancel = nullptr;  // abandons the call (and its retries), kAborted
};

struct ObjectList {
  // Items of a list answer usually lack apiVersion and kind; `kind` is the list's ("JobList").
  std::string kind;
  std::vector<core::Json> items;
  std::string resource_version;  // of the list: watch from here
  std::string continue_token;    // non-empty when more pages follow
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386): lists are replaced
  kStrategicMerge,  // application/strategic-merge-patch+json: built-in kinds only
  kJsonPatch,       // application/json-patch+json (RFC 6902)
};

struct ApplyOptions {
  std::string field_manager = "agentd";
  // Take ownership of fields another manager set instead of failing with a conflict.
  bool force = false;
};

enum class Propagation { kDefault, kBackground, kForeground, kOrphan };

struct DeleteOptions {
  Propagation propagation = Propagation::kDefault;
  std::optional<int64_t> grace_period_seconds;
  // Delete only if the object still has this uid / resourceVersion (409 -> kAborted otherwise).
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };
std::string_view WatchEventTypeName(WatchEventType type);  // "ADDED", ...

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // The object; for kBookmark only apiVersion, kind and metadata.resourceVersion; for kError a
  // Status object (code 410 means: list again).
  core::Json object;
};

struct WatchOptions {
  std::string label_selector;
  std::string field_selector;
  // Events after this version; empty = synthetic ADDED events for everything, then changes.
  std::string resource_version;
  bool allow_bookmarks = true;
  // The server ends the watch after this long (timeoutSeconds); the client gives up when the
  // stream is silent for this long plus a margin.
  std::chrono::seconds timeout{300};
  const Cancellation* cancel = nullptr;
};

// How a watch that did not fail ended.
enum class WatchEnd {
  kClosedByServer,    // the stream ended (timeout or server restart): watch again from the last
                      // resourceVersion seen
  kStoppedByHandler,  // the handler returned false
  kCancelled,         // WatchOptions::cancel fired
  kExpired,           // HTTP 410 before the stream started: list again
};

// Called once per event, on the watching thread; return false to stop the watch.
using WatchHandler = std::function<bool(WatchEvent&& event)>;

class KubeClient {
 public:
  virtual ~KubeClient() = default;

  virtual core::Result<core::Json> Get(const ObjectRef& ref) = 0;
  // `ns` empty lists every namespace (or a cluster-scoped resource).
  virtual core::Result<ObjectList> List(const GroupVersionResource& gvr, std::string_view ns,
                                        const ListOptions& options = {}) = 0;
  // POST; the object's metadata.name (or generateName) names it. Returns the stored object.
  virtual core::Result<core::Json> Create(const GroupVersionResource& gvr, std::string_view ns,
                                          const core::Json& object) = 0;
  // PUT; a metadata.resourceVersion in `object` makes it conditional (409 -> kAborted).
  virtual core::Result<core::Json> Update(const ObjectRef& ref, const core::Json& object) = 0;
  // PUT on /status: only the status of `object` is written.
  virtual core::Result<core::Json> UpdateStatus(const ObjectRef& ref, const core::Json& object) = 0;
  virtual core::Result<core::Json> Patch(const ObjectRef& ref, PatchType type,
                                         const core::Json& patch) = 0;
  virtual core::Result<core::Json> PatchStatus(const ObjectRef& ref, PatchType type,
                                               const core::Json& patch) = 0;
  // Server-side apply: PATCH application/apply-patch+yaml (JSON is YAML) with fieldManager.
  // `object` must carry apiVersion, kind and metadata.name. Creates the object when missing.
  virtual core::Result<core::Json> Apply(const ObjectRef& ref, const core::Json& object,
                                         const ApplyOptions& options = {}) = 0;
  virtual core::Result<core::Json> ApplyStatus(const ObjectRef& ref, const core::Json& object,
                                               const ApplyOptions& options = {}) = 0;
  // Returns what the server answered: the object (still there, with deletionTimestamp, while
  // finalizers hold it) or a Status.
  virtual core::Result<core::Json> Delete(const ObjectRef& ref,
                                          const DeleteOptions& options = {}) = 0;
  // Streams events to `handler` until the stream ends, the handler stops it or it is
  // cancelled. Errors: the mapping above (before the stream starts; 410 is WatchEnd::kExpired
  // instead) and transport errors (a dropped stream is kUnavailable).
  virtual core::Result<WatchEnd> Watch(const GroupVersionResource& gvr, std::string_view ns,
                                       const WatchOptions& options,
                                       const WatchHandler& handler) = 0;
};

// Splits a watch stream into events: one JSON object per line. Bytes may arrive split anywhere.
// Not thread-safe (one per stream).
class WatchDecoder {
 public:
  explicit WatchDecoder(size_t max_event_bytes = 16 << 20) : max_event_bytes_(max_event_bytes) {}
  // Appends `data` and calls `on_event` for each complete line. Returns false when the handler
  // asked to stop; an error for a malformed line or one above max_event_bytes.
  core::Result<bool> Feed(std::string_view data, const WatchHandler& on_event);

 private:
  size_t max_event_bytes_;
  std::string pending_;
};

// Parses one line of a watch stream: {"type": "ADDED", "object": {...}}.
core::Result<WatchEvent> ParseWatchEvent(std::string_view line);

// The error for an API answer with a non-2xx status, per the table above. `what` names the call
// ("get jobs.batch/v1 ns/x").
core::Error ErrorFromStatus(int http_status, std::string_view body, std::string_view what);

}  // namespace agentd::kube
