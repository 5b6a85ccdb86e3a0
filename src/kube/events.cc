#include "kube/events.h"

#include "core/ids.h"
#include "core/log.h"

namespace agentd::kube {
namespace {

using core::Json;

constexpr size_t kMaxNoteBytes = 1024;
constexpr size_t kMaxReasonBytes = 128;
constexpr size_t kMaxNameBytes = 253;

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string CutUtf8(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

std::string RefString(const Json& ref, const char* key) {
  auto it = ref.find(key);
  return it != ref.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

Json ObjectReferenceFor(const Json& object) {
  Json ref = Json::object();
  if (!object.is_object()) return ref;
  if (auto v = object.find("apiVersion"); v != object.end() && v->is_string()) {
    ref["apiVersion"] = *v;
  }
  if (auto k = object.find("kind"); k != object.end() && k->is_string()) ref["kind"] = *k;
  if (auto ns = NamespaceOf(object); !ns.empty()) ref["namespace"] = ns;
  if (auto name = NameOf(object); !name.empty()) ref["name"] = name;
  if (auto uid = UidOf(object); !uid.empty()) ref["uid"] = uid;
  if (auto rv = ResourceVersionOf(object); !rv.empty()) ref["resourceVersion"] = rv;
  return ref;
}

core::Result<Json> BuildEvent(const EventSpec& spec, const EventSource& source,
                              std::chrono::system_clock::time_point now) {
  if (!spec.regarding.is_object())
    return core::InvalidArgument("event: regarding is not an object");
  std::string name = RefString(spec.regarding, "name");
  if (name.empty()) return core::InvalidArgument("event: regarding.name is empty");
  if (RefString(spec.regarding, "kind").empty()) {
    return core::InvalidArgument("event: regarding.kind is empty");
  }
  if (spec.reason.empty() || spec.reason.size() > kMaxReasonBytes) {
    return core::InvalidArgument("event: reason must have 1 to 128 bytes");
  }
  if (spec.action.empty() || spec.action.size() > kMaxReasonBytes) {
    return core::InvalidArgument("event: action must have 1 to 128 bytes");
  }
  if (source.controller.empty()) {
    return core::InvalidArgument("event: reporting controller is empty");
  }
  std::string ns = RefString(spec.regarding, "namespace");
  if (ns.empty()) ns = "default";
  std::string suffix = "." + core::RandomHex(8);
  std::string event_name = CutUtf8(name, kMaxNameBytes - suffix.size()) + suffix;
  Json event = {
      {"apiVersion", resources::kEvents.ApiVersion()},
      {"kind", "Event"},
      {"metadata", {{"name", event_name}, {"namespace", ns}}},
      {"eventTime", FormatMicroTime(now)},
      {"reportingController", source.controller},
      {"reportingInstance", source.instance.empty() ? source.controller : source.instance},
      {"action", spec.action},
      {"reason", spec.reason},
      {"regarding", spec.regarding},
      {"type", spec.type == EventType::kWarning ? "Warning" : "Normal"}};
  if (!spec.note.empty()) event["note"] = CutUtf8(spec.note, kMaxNoteBytes);
  return event;
}

core::Result<Json> CreateEvent(KubeClient& client, const EventSpec& spec, const EventSource& source,
                               std::chrono::system_clock::time_point now) {
  AGENTD_ASSIGN_OR_RETURN(Json event, BuildEvent(spec, source, now));
  std::string ns = NamespaceOf(event);
  return client.Create(resources::kEvents, ns, event);
}

EventRecorder::EventRecorder(KubeClient& client, const core::Clock& clock, EventSource source,
                             std::chrono::milliseconds dedup_window)
    : client_(client), clock_(clock), source_(std::move(source)), dedup_window_(dedup_window) {}

core::Status EventRecorder::Record(const EventSpec& spec) {
  std::string object = RefString(spec.regarding, "uid");
  if (object.empty()) {
    object = RefString(spec.regarding, "kind") + "/" + RefString(spec.regarding, "namespace") +
             "/" + RefString(spec.regarding, "name");
  }
  std::string key = object + "\n" + (spec.type == EventType::kWarning ? "W" : "N") + "\n" +
                    spec.reason + "\n" + spec.action + "\n" + spec.note;
  auto now = clock_.SteadyNow();
  {
    std::lock_guard lock(mu_);
    for (auto it = recent_.begin(); it != recent_.end();) {
      it = now - it->second >= dedup_window_ ? recent_.erase(it) : std::next(it);
    }
    if (recent_.count(key) != 0) {
      ++suppressed_;
      return core::Ok();
    }
    recent_[key] = now;
  }
  auto created = CreateEvent(client_, spec, source_, clock_.Now());
  if (!created.ok()) {
    {
      std::lock_guard lock(mu_);
      recent_.erase(key);  // let a retry through
    }
    core::LogWarn("kube: recording an event failed",
                  {{"reason", spec.reason}, {"error", created.error().message}});
    return created.error();
  }
  return core::Ok();
}

int64_t EventRecorder::suppressed() const {
  std::lock_guard lock(mu_);
  return suppressed_;
}

}  // namespace agentd::kube
