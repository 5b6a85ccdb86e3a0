// events.k8s.io/v1 Events about objects agentd manages ("Created Job run-x", "OOMKilled"), as
// `kubectl describe` and `kubectl events` show them.
//
// Series and aggregation are left simple: EventRecorder drops an event identical to one it
// recorded within the dedup window (same object uid or key, type, reason, action and note) and
// counts the drops; it never PATCHes an event's series. A failure to record is logged and
// returned, never fatal: events are best effort.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "core/json.h"
#include "kube/client.h"

namespace agentd::kube {

enum class EventType { kNormal, kWarning };

struct EventSpec {
  // The object the event is about: an ObjectReference (apiVersion, kind, namespace, name, uid);
  // ObjectReferenceFor builds one from an object.
  core::Json regarding;
  EventType type = EventType::kNormal;
  std::string reason;  // UpperCamelCase, e.g. "JobCreated" (required, at most 128 bytes)
  std::string action;  // what was done, e.g. "Create" (required, at most 128 bytes)
  std::string note;    // human-readable, cut to 1 KiB
};

struct EventSource {
  std::string controller = "agentd.dev/operator";  // reportingController
  std::string instance;                            // reportingInstance: the pod name
};

// {apiVersion, kind, namespace, name, uid, resourceVersion} of `object`.
core::Json ObjectReferenceFor(const core::Json& object);

// The Event object to create: named "<object name>.<16 hex>", in the regarding object's namespace
// ("default" for cluster-scoped objects), eventTime `now`. kInvalidArgument naming the field
// when regarding has no name or kind, or reason/action are empty or too long.
core::Result<core::Json> BuildEvent(const EventSpec& spec, const EventSource& source,
                                    std::chrono::system_clock::time_point now);

// Builds and creates one Event.
core::Result<core::Json> CreateEvent(KubeClient& client, const EventSpec& spec,
                                     const EventSource& source,
                                     std::chrono::system_clock::time_point now);

// Records events with a simple dedup. Thread-safe.
class EventRecorder {
 public:
  EventRecorder(KubeClient& client, const core::Clock& clock, EventSource source,
                std::chrono::milliseconds dedup_window = std::chrono::minutes(5));

  // Creates the event unless an identical one was recorded within the window (then Ok).
  core::Status Record(const EventSpec& spec);
  int64_t suppressed() const;

 private:
  KubeClient& client_;
  const core::Clock& clock_;
  EventSource source_;
  std::chrono::milliseconds dedup_window_;
  mutable std::mutex mu_;
  std::map<std::string, std::chrono::steady_clock::time_point> recent_;
  int64_t suppressed_ = 0;
};

}  // namespace agentd::kube
