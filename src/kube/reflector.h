// Reflector: keeps a local cache of one resource type current by list-then-watch, and tells a
// handler what changed (client-go's Reflector + Informer, without the resync timer).
//
// The loop: LIST (paged) -> replace the cache, reporting adds, updates and deletes against what
// the cache held -> WATCH from the list's resourceVersion with bookmarks -> apply each event,
// remembering the newest resourceVersion -> when the stream ends, WATCH again from there. It
// lists again on 410 Gone (HTTP or an ERROR event with code 410) and after any other ERROR event;
// transport errors and 429/5xx wait an exponential backoff with jitter and then watch again from
// the last resourceVersion (a too-old one then answers 410). Events whose object has the
// resourceVersion the cache already holds are skipped, so a resumed watch never reports a
// change twice.
//
// Threads: Start() runs the loop on its own thread; handler callbacks run there, one at a time,
// after the cache has been updated. Stop() cancels the watch in progress (within ~50 ms) and
// any backoff wait, then joins. The cache may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "kube/cancellation.h"
#include "kube/client.h"
#include "kube/rate_limit.h"

namespace agentd::kube {

// A thread-safe map of objects keyed by "namespace/name" (KeyOf).
class ObjectCache {
 public:
  std::optional<core::Json> Get(const std::string& key) const;
  std::vector<core::Json> List() const;  // ordered by key
  size_t size() const;
  // The resourceVersion of the newest list or event applied.
  std::string resource_version() const;

 private:
  friend class Reflector;
  mutable std::mutex mu_;
  std::map<std::string, core::Json> objects_;
  std::string resource_version_;
};

// Callbacks; any may be empty.
struct ReflectorHandler {
  std::function<void(const core::Json& object)> on_add;
  std::function<void(const core::Json& old_object, const core::Json& new_object)> on_update;
  std::function<void(const core::Json& object)> on_delete;
  // After each complete LIST has been applied (the first one makes HasSynced() true).
  std::function<void()> on_synced;
};

struct ReflectorOptions {
  GroupVersionResource gvr;
  std::string ns;  // empty = every namespace
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  // Server-side timeout of each watch request.
  std::chrono::seconds watch_timeout{300};
  BackoffOptions backoff{};
  Sleeper* sleeper = nullptr;  // null = RealSleeper
  std::string name;            // for logs; default gvr.ToString()
};

class Reflector {
 public:
  Reflector(KubeClient& client, ReflectorOptions options, ReflectorHandler handler);
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  // Starts the loop thread. Call once.
  void Start();
  // Idempotent; returns once the thread has ended.
  void Stop();

  bool HasSynced() const { return synced_.load(); }
  // Blocks until the first list has been applied, Stop(), or `timeout`; true when synced.
  bool WaitForSync(std::chrono::milliseconds timeout) const;
  const ObjectCache& cache() const { return cache_; }

  struct Stats {
    int64_t lists = 0;            // complete LISTs applied
    int64_t watches = 0;          // WATCH requests started
    int64_t relists_on_gone = 0;  // LISTs caused by 410
    int64_t errors = 0;           // failed LIST/WATCH calls and ERROR events
  };
  Stats stats() const;

 private:
  enum class Next { kWatch, kList, kBackoffThenWatch, kBackoffThenList, kStop };

  void Run();
  Next ListOnce();
  Next WatchOnce();
  // Applies one watch event; sets *next when the watch must end.
  bool ApplyEvent(WatchEvent&& event, Next* next);
  void Upsert(core::Json object);
  void Remove(const core::Json& object);

  KubeClient& client_;
  ReflectorOptions options_;
  ReflectorHandler handler_;
  Sleeper& sleeper_;
  Backoff backoff_;  // loop thread only
  Cancellation cancel_;
  ObjectCache cache_;
  std::atomic<bool> synced_{false};
  mutable std::mutex sync_mu_;
  mutable std::condition_variable sync_cv_;
  mutable std::mutex stats_mu_;
  Stats stats_;
  std::string resource_version_;  // loop thread only
  std::thread thread_;
  std::once_flag stop_once_;
};

}  // namespace agentd::kube
