#include "testing/fake_kube_api_server.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/ids.h"
#include "net/http_server.h"

namespace agentd::testing {
namespace {

using core::Json;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr size_t kMaxRecordedRequests = 2000;
constexpr std::chrono::seconds kDefaultWatchTimeout{1800};
constexpr size_t kMaxSnapshots = 64;

// ---- small helpers -------------------------------------------------------------------------

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

std::string NewUid() {
  std::string hex = core::RandomHex(16);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

std::string FormatTimestamp(core::TimePoint t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string MetaString(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return "";
  auto it = meta->find(key);
  return it != meta->end() && it->is_string() ? it->get<std::string>() : "";
}

std::string KeyOf(std::string_view ns, std::string_view name) {
  return ns.empty() ? std::string(name) : std::string(ns) + "/" + std::string(name);
}

// The object without metadata and status: what generation tracks.
Json SpecPart(const Json& object) {
  Json copy = object;
  if (copy.is_object()) {
    copy.erase("metadata");
    copy.erase("status");
  }
  return copy;
}

// ---- selectors -----------------------------------------------------------------------------

struct Requirement {
  enum class Op { kEq, kNotEq, kIn, kNotIn, kExists, kNotExists };
  std::string key;
  Op op = Op::kEq;
  std::vector<std::string> values;
};

// Splits on commas outside parentheses.
std::vector<std::string> SplitRequirements(std::string_view text) {
  std::vector<std::string> out;
  int depth = 0;
  std::string current;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      if (!Trim(current).empty()) out.push_back(Trim(current));
      current.clear();
      continue;
    }
    current += c;
  }
  if (!Trim(current).empty()) out.push_back(Trim(current));
  return out;
}

core::Result<std::vector<Requirement>> ParseSelector(std::string_view text) {
  std::vector<Requirement> out;
  for (const std::string& part : SplitRequirements(text)) {
    Requirement r;
    auto set_op = [&](std::string_view word, Requirement::Op op) -> bool {
      auto pos = part.find(word);
      if (pos == std::string::npos) return false;
      auto open = part.find('(', pos);
      auto close = part.rfind(')');
      if (open == std::string::npos || close == std::string::npos || close < open) return false;
      r.key = Trim(std::string_view(part).substr(0, pos));
      r.op = op;
      std::string inner = part.substr(open + 1, close - open - 1);
      size_t start = 0;
      while (start <= inner.size()) {
        size_t comma = inner.find(',', start);
        if (comma == std::string::npos) comma = inner.size();
        std::string value = Trim(std::string_view(inner).substr(start, comma - start));
        if (!value.empty()) r.values.push_back(value);
        start = comma + 1;
      }
      return true;
    };
    if (set_op(" notin ", Requirement::Op::kNotIn) || set_op(" in ", Requirement::Op::kIn)) {
      // parsed
    } else if (auto ne = part.find("!="); ne != std::string::npos) {
      r.key = Trim(std::string_view(part).substr(0, ne));
      r.op = Requirement::Op::kNotEq;
      r.values = {Trim(std::string_view(part).substr(ne + 2))};
    } else if (auto eq2 = part.find("=="); eq2 != std::string::npos) {
      r.key = Trim(std::string_view(part).substr(0, eq2));
      r.values = {Trim(std::string_view(part).substr(eq2 + 2))};
    } else if (auto eq = part.find('='); eq != std::string::npos) {
      r.key = Trim(std::string_view(part).substr(0, eq));
      r.values = {Trim(std::string_view(part).substr(eq + 1))};
    } else if (part.front() == '!') {
      r.key = Trim(std::string_view(part).substr(1));
      r.op = Requirement::Op::kNotExists;
    } else {
      r.key = part;
      r.op = Requirement::Op::kExists;
    }
    if (r.key.empty())
      return core::InvalidArgument("invalid selector requirement \"" + part + "\"");
    out.push_back(std::move(r));
  }
  return out;
}

bool RequirementHolds(const Requirement& r, const std::optional<std::string>& value) {
  switch (r.op) {
    case Requirement::Op::kEq:
      return value && *value == r.values.front();
    case Requirement::Op::kNotEq:
      return !value || *value != r.values.front();
    case Requirement::Op::kIn:
      return value && std::find(r.values.begin(), r.values.end(), *value) != r.values.end();
    case Requirement::Op::kNotIn:
      return !value || std::find(r.values.begin(), r.values.end(), *value) == r.values.end();
    case Requirement::Op::kExists:
      return value.has_value();
    case Requirement::Op::kNotExists:
      return !value.has_value();
  }
  return false;
}

std::optional<std::string> LabelValue(const Json& object, const std::string& key) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) return std::nullopt;
  auto labels = meta->find("labels");
  if (labels == meta->end() || !labels->is_object()) return std::nullopt;
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// A field selector value: the dotted path's scalar as text; "" when absent (as Kubernetes does).
std::optional<std::string> FieldValue(const Json& object, const std::string& path) {
  const Json* node = &object;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    if (dot == std::string::npos) dot = path.size();
    std::string part = path.substr(start, dot - start);
    if (!node->is_object()) return std::string();
    auto it = node->find(part);
    if (it == node->end()) return std::string();
    node = &*it;
    start = dot + 1;
  }
  if (node->is_string()) return node->get<std::string>();
  if (node->is_null()) return std::string();
  return node->dump();
}

struct Selectors {
  std::vector<Requirement> labels;
  std::vector<Requirement> fields;

  bool Matches(const Json& object) const {
    for (const auto& r : labels) {
      if (!RequirementHolds(r, LabelValue(object, r.key))) return false;
    }
    for (const auto& r : fields) {
      if (!RequirementHolds(r, FieldValue(object, r.key))) return false;
    }
    return true;
  }
};

// ---- HTTP helpers --------------------------------------------------------------------------

std::string ReasonFor(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "InternalError";
  }
}

Json StatusObject(int code, std::string_view message, std::string reason = "") {
  if (reason.empty()) reason = ReasonFor(code);
  return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
          {"status", "Failure"}, {"message", message}, {"reason", reason},
          {"code", code}};
}

net::HttpResponse JsonResponse(int status, const Json& body) {
  return {status, {{"Content-Type", "application/json"}}, body.dump() + "\n"};
}

net::HttpResponse StatusResponse(int code, std::string_view message, std::string reason = "") {
  return JsonResponse(code, StatusObject(code, message, std::move(reason)));
}

// The parts of a REST path.
struct Target {
  std::string group;
  std::string version;
  std::string resource;
  std::string ns;
  std::string name;
  std::string subresource;

  std::string GroupResource() const { return group + "/" + resource; }
  std::string ApiVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string Qualified() const { return group.empty() ? resource : resource + "." + group; }
};

std::optional<Target> ParseTarget(std::string_view path) {
  auto segs = SplitPath(path);
  Target t;
  size_t i = 0;
  if (segs.size() >= 3 && segs[0] == "api") {
    t.version = segs[1];
    i = 2;
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    t.group = segs[1];
    t.version = segs[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  std::vector<std::string> rest(segs.begin() + static_cast<std::ptrdiff_t>(i), segs.end());
  if (rest.size() >= 3 && rest[0] == "namespaces") {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return std::nullopt;
  t.resource = rest[0];
  if (rest.size() >= 2) t.name = rest[1];
  if (rest.size() == 3) t.subresource = rest[2];
  return t;
}

}  // namespace

// ---- the server ----------------------------------------------------------------------------

class FakeKubeApiServer::Impl {
 public:
  explicit Impl(Options options)
      : options_(options),
        clock_(options.clock != nullptr ? *options.clock : core::SystemClock::Instance()) {}

  ~Impl() { Shutdown(); }

  core::Status Listen() {
    net::HttpServerOptions server_options;
    server_options.host = "127.0.0.1";
    server_options.port = 0;
    server_options.threads = options_.threads;
    server_options.max_body_bytes = 16 << 20;
    server_options.max_stream_buffer_bytes = 256 << 20;
    server_options.idle_timeout = std::chrono::minutes(10);
    server_options.shutdown_grace = std::chrono::milliseconds(200);
    auto server = net::HttpServer::Listen(
        server_options, [this](net::HttpRequest&& request, std::shared_ptr<net::Responder> r) {
          Handle(std::move(request), std::move(r));
        });
    if (!server.ok()) return server.error();
    server_ = std::move(server).value();
    server_->Start();
    housekeeper_ = std::thread([this] { Housekeep(); });
    return core::Ok();
  }

  void Shutdown() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& [request, responder] : held_) {
        responder->Send(StatusResponse(503, "server shutting down"));
      }
      held_.clear();
      for (auto& [id, watch] : watches_) watch.writer->Close();
    }
    cv_.notify_all();
    if (housekeeper_.joinable()) housekeeper_.join();
    if (server_) server_->Stop();
  }

  uint16_t port() const { return server_->port(); }

  // ---- direct access ----

  Json Seed(std::string_view group, std::string_view version, std::string_view resource,
            Json object) {
    std::lock_guard lock(mu_);
    Target t{std::string(group),         std::string(version),
             std::string(resource),      MetaString(object, "namespace"),
             MetaString(object, "name"), ""};
    if (!object.contains("apiVersion")) object["apiVersion"] = t.ApiVersion();
    auto& bucket = data_[t.GroupResource()];
    auto it = bucket.find(KeyOf(t.ns, t.name));
    if (it == bucket.end()) {
      StampNewLocked(object, t);
      return StoreNewLocked(t, std::move(object));
    }
    Json old = it->second;
    Json& meta = object["metadata"];
    meta["uid"] = old["metadata"]["uid"];
    meta["creationTimestamp"] = old["metadata"]["creationTimestamp"];
    meta["generation"] = old["metadata"].value("generation", int64_t{1});
    auto result = FinishUpdateLocked(t, old, std::move(object));
    return result.body;
  }

  std::optional<Json> Get(std::string_view group, std::string_view resource, std::string_view ns,
                          std::string_view name) const {
    std::lock_guard lock(mu_);
    auto bucket = data_.find(std::string(group) + "/" + std::string(resource));
    if (bucket == data_.end()) return std::nullopt;
    auto it = bucket->second.find(KeyOf(ns, name));
    if (it == bucket->second.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Json> List(std::string_view group, std::string_view resource,
                         std::string_view ns) const {
    std::lock_guard lock(mu_);
    std::vector<Json> out;
    auto bucket = data_.find(std::string(group) + "/" + std::string(resource));
    if (bucket == data_.end()) return out;
    for (const auto& [key, object] : bucket->second) {
      if (ns.empty() || MetaString(object, "namespace") == ns) out.push_back(object);
    }
    return out;
  }

  bool Remove(std::string_view group, std::string_view resource, std::string_view ns,
              std::string_view name) {
    std::lock_guard lock(mu_);
    Target t{std::string(group), "", std::string(resource), std::string(ns), std::string(name), ""};
    auto& bucket = data_[t.GroupResource()];
    auto it = bucket.find(KeyOf(ns, name));
    if (it == bucket.end()) return false;
    DeleteNowLocked(t, it);
    return true;
  }

  void InjectFault(FakeKubeFault fault) {
    std::lock_guard lock(mu_);
    if (fault.count > 0) faults_.push_back(std::move(fault));
  }
  void ClearFaults() {
    std::lock_guard lock(mu_);
    faults_.clear();
  }

  void CloseWatches() {
    std::lock_guard lock(mu_);
    for (auto& [id, watch] : watches_) watch.writer->Close();
    watches_.clear();
  }

  void SendBookmarks() {
    std::lock_guard lock(mu_);
    for (auto& [id, watch] : watches_) BookmarkLocked(watch);
  }

  void SendWatchError(int code) {
    std::lock_guard lock(mu_);
    for (auto& [id, watch] : watches_) {
      Json event = {{"type", "ERROR"},
                    {"object", StatusObject(code, "injected watch error " + std::to_string(code))}};
      watch.writer->Write(event.dump() + "\n");
      watch.writer->Close();
    }
    watches_.clear();
  }

  void HoldWatches(bool hold) {
    std::vector<std::pair<net::HttpRequest, std::shared_ptr<net::Responder>>> release;
    {
      std::lock_guard lock(mu_);
      hold_watches_ = hold;
      if (hold) return;
      release.swap(held_);
    }
    for (auto& [request, responder] : release) Handle(std::move(request), std::move(responder));
  }

  size_t held_watches() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }

  size_t open_watches() const {
    std::lock_guard lock(mu_);
    return watches_.size();
  }

  void Compact() {
    std::lock_guard lock(mu_);
    ++rv_;
    compacted_rv_ = rv_;
    history_.clear();
    snapshots_.clear();
  }

  int64_t resource_version() const {
    std::lock_guard lock(mu_);
    return rv_;
  }

  int64_t Requests(std::string_view verb) const {
    std::lock_guard lock(mu_);
    auto it = verbs_.find(std::string(verb));
    return it == verbs_.end() ? 0 : it->second;
  }
  int64_t Writes(std::string_view resource) const {
    std::lock_guard lock(mu_);
    auto it = writes_.find(std::string(resource));
    return it == writes_.end() ? 0 : it->second;
  }
  int64_t TotalWrites() const {
    std::lock_guard lock(mu_);
    int64_t total = 0;
    for (const auto& [resource, n] : writes_) total += n;
    return total;
  }
  void ResetCounts() {
    std::lock_guard lock(mu_);
    verbs_.clear();
    writes_.clear();
  }
  std::vector<FakeKubeRequest> requests() const {
    std::lock_guard lock(mu_);
    return {recorded_.begin(), recorded_.end()};
  }

 private:
  struct Watch {
    uint64_t id = 0;
    std::string group_resource;
    std::string ns;
    Selectors selectors;
    bool bookmarks = false;
    std::string api_version;
    std::shared_ptr<net::StreamWriter> writer;
    SteadyTime deadline;
    SteadyTime last_write;
  };

  struct HistoryEvent {
    int64_t rv = 0;
    std::string group_resource;
    std::string ns;
    std::string type;  // ADDED, MODIFIED, DELETED
    Json object;
    Json old_object;  // for MODIFIED: the previous state (selector transitions)
  };

  struct Snapshot {
    int64_t rv = 0;
    std::vector<Json> items;
  };

  struct WriteResult {
    int status = 200;
    Json body;
  };

  using Bucket = std::map<std::string, Json>;

  // ---- request dispatch ----

  void Handle(net::HttpRequest&& request, std::shared_ptr<net::Responder> responder) {
    auto target = ParseTarget(request.path);
    std::string verb;
    if (target) {
      if (request.method == "GET") {
        if (!target->name.empty()) {
          verb = "get";
        } else {
          auto w = request.Query("watch");
          verb = (w && (*w == "1" || *w == "true")) ? "watch" : "list";
        }
      } else if (request.method == "POST") {
        verb = "create";
      } else if (request.method == "PUT") {
        verb = "update";
      } else if (request.method == "PATCH") {
        verb = "patch";
      } else if (request.method == "DELETE") {
        verb = "delete";
      }
    }
    std::unique_lock lock(mu_);
    if (stopping_) {
      lock.unlock();
      responder->Send(StatusResponse(503, "server shutting down"));
      return;
    }
    if (verb == "watch" && hold_watches_) {
      held_.emplace_back(std::move(request), std::move(responder));
      return;
    }
    RecordLocked(request, verb, target);
    if (!target || verb.empty()) {
      lock.unlock();
      responder->Send(StatusResponse(404, "the server could not find the requested resource"));
      return;
    }
    if (auto fault = TakeFaultLocked(verb, target->resource)) {
      lock.unlock();
      auto response = StatusResponse(fault->status, "injected fault");
      if (fault->retry_after_seconds) {
        response.headers.emplace_back("Retry-After", std::to_string(*fault->retry_after_seconds));
      }
      responder->Send(std::move(response));
      return;
    }
    if (verb == "watch") {
      StartWatchLocked(*target, request, responder);
      return;
    }
    net::HttpResponse response = Dispatch(verb, *target, request);
    lock.unlock();
    responder->Send(std::move(response));
  }

  void RecordLocked(const net::HttpRequest& request, const std::string& verb,
                    const std::optional<Target>& target) {
    ++verbs_[verb.empty() ? "unknown" : verb];
    bool write = verb == "create" || verb == "update" || verb == "patch" || verb == "delete";
    if (write && target) ++writes_[target->resource];
    FakeKubeRequest recorded;
    recorded.verb = verb;
    recorded.method = request.method;
    recorded.target = request.target;
    if (target) {
      recorded.resource = target->resource;
      recorded.subresource = target->subresource;
    }
    recorded.content_type = request.Header("content-type").value_or("");
    recorded.authorization = request.Header("authorization").value_or("");
    recorded.body = request.body;
    recorded_.push_back(std::move(recorded));
    if (recorded_.size() > kMaxRecordedRequests) recorded_.pop_front();
  }

  std::optional<FakeKubeFault> TakeFaultLocked(const std::string& verb,
                                               const std::string& resource) {
    for (auto it = faults_.begin(); it != faults_.end(); ++it) {
      if (!it->verb.empty() && it->verb != verb) continue;
      if (!it->resource.empty() && it->resource != resource) continue;
      FakeKubeFault fault = *it;
      if (--it->count <= 0) faults_.erase(it);
      return fault;
    }
    return std::nullopt;
  }

  net::HttpResponse Dispatch(const std::string& verb, const Target& t,
                             const net::HttpRequest& request) {
    if (!t.subresource.empty() && t.subresource != "status") {
      return StatusResponse(404, "subresource " + t.subresource + " is not supported");
    }
    if (verb == "get") return DoGet(t);
    if (verb == "list") return DoList(t, request);
    if (verb == "create") return DoCreate(t, request);
    if (verb == "update") return DoUpdate(t, request);
    if (verb == "patch") return DoPatch(t, request);
    if (verb == "delete") return DoDelete(t, request);
    return StatusResponse(405, "method not allowed");
  }

  std::string NotFoundMessage(const Target& t) const {
    return t.Qualified() + " \"" + t.name + "\" not found";
  }
  std::string ConflictMessage(const Target& t) const {
    return "Operation cannot be fulfilled on " + t.Qualified() + " \"" + t.name +
           "\": the object has been modified; please apply your changes to the latest version "
           "and try again";
  }

  // ---- verbs ----

  net::HttpResponse DoGet(const Target& t) {
    auto bucket = data_.find(t.GroupResource());
    if (bucket != data_.end()) {
      auto it = bucket->second.find(KeyOf(t.ns, t.name));
      if (it != bucket->second.end()) return JsonResponse(200, it->second);
    }
    return StatusResponse(404, NotFoundMessage(t));
  }

  core::Result<Selectors> SelectorsOf(const net::HttpRequest& request) {
    Selectors s;
    if (auto l = request.Query("labelSelector")) {
      AGENTD_ASSIGN_OR_RETURN(s.labels, ParseSelector(*l));
    }
    if (auto f = request.Query("fieldSelector")) {
      AGENTD_ASSIGN_OR_RETURN(s.fields, ParseSelector(*f));
    }
    return s;
  }

  net::HttpResponse DoList(const Target& t, const net::HttpRequest& request) {
    auto selectors = SelectorsOf(request);
    if (!selectors.ok()) return StatusResponse(400, selectors.error().message);
    int64_t limit = 0;
    if (auto l = request.Query("limit")) limit = std::atoll(l->c_str());
    Snapshot* snapshot = nullptr;
    size_t offset = 0;
    std::string snapshot_id;
    if (auto c = request.Query("continue"); c && !c->empty()) {
      // "<rv>:<snapshot id>:<offset>"
      auto first = c->find(':');
      auto second = c->find(':', first == std::string::npos ? 0 : first + 1);
      if (first == std::string::npos || second == std::string::npos) {
        return StatusResponse(400, "invalid continue token");
      }
      int64_t token_rv = std::atoll(c->substr(0, first).c_str());
      snapshot_id = c->substr(first + 1, second - first - 1);
      offset = static_cast<size_t>(std::atoll(c->substr(second + 1).c_str()));
      auto it = snapshots_.find(snapshot_id);
      if (token_rv < compacted_rv_ || it == snapshots_.end()) {
        return StatusResponse(410,
                              "The provided continue parameter is too old to display a consistent "
                              "list result. You can start a new list without the continue "
                              "parameter.",
                              "Expired");
      }
      snapshot = &it->second;
    }
    Snapshot fresh;
    if (snapshot == nullptr) {
      fresh.rv = rv_;
      auto bucket = data_.find(t.GroupResource());
      if (bucket != data_.end()) {
        for (const auto& [key, object] : bucket->second) {
          if (!t.ns.empty() && MetaString(object, "namespace") != t.ns) continue;
          if (!selectors->Matches(object)) continue;
          fresh.items.push_back(object);
        }
      }
      snapshot = &fresh;
    }
    Json items = Json::array();
    size_t end = snapshot->items.size();
    if (limit > 0) end = std::min(end, offset + static_cast<size_t>(limit));
    for (size_t i = offset; i < end; ++i) items.push_back(snapshot->items[i]);
    Json metadata = {{"resourceVersion", std::to_string(snapshot->rv)}};
    if (end < snapshot->items.size()) {
      if (snapshot == &fresh) {
        snapshot_id = std::to_string(++next_snapshot_id_);
        snapshots_[snapshot_id] = std::move(fresh);
        snapshot = &snapshots_[snapshot_id];
        while (snapshots_.size() > kMaxSnapshots) snapshots_.erase(snapshots_.begin());
      }
      metadata["continue"] =
          std::to_string(snapshot->rv) + ":" + snapshot_id + ":" + std::to_string(end);
      metadata["remainingItemCount"] = static_cast<int64_t>(snapshot->items.size() - end);
    } else if (!snapshot_id.empty()) {
      snapshots_.erase(snapshot_id);
    }
    std::string kind = "List";
    if (auto k = kinds_.find(t.GroupResource()); k != kinds_.end()) kind = k->second + "List";
    return JsonResponse(200, {{"kind", kind},
                              {"apiVersion", t.ApiVersion()},
                              {"metadata", std::move(metadata)},
                              {"items", std::move(items)}});
  }

  core::Result<Json> ParseBody(const net::HttpRequest& request) {
    auto parsed = core::ParseJson(request.body, {.max_bytes = 16 << 20, .max_depth = 64});
    if (!parsed.ok()) return parsed.error();
    if (!parsed->is_object()) return core::InvalidArgument("the body is not a JSON object");
    return std::move(parsed).value();
  }

  // Server-managed metadata for a new object.
  void StampNewLocked(Json& object, const Target& t) {
    if (!object.contains("metadata") || !object["metadata"].is_object()) {
      object["metadata"] = Json::object();
    }
    Json& meta = object["metadata"];
    if (!t.ns.empty()) meta["namespace"] = t.ns;
    if (!meta.contains("uid") || !meta["uid"].is_string()) meta["uid"] = NewUid();
    if (!meta.contains("creationTimestamp") || !meta["creationTimestamp"].is_string()) {
      meta["creationTimestamp"] = FormatTimestamp(clock_.Now());
    }
    meta["generation"] = 1;
    meta.erase("deletionTimestamp");
  }

  Json StoreNewLocked(const Target& t, Json object) {
    object["metadata"]["resourceVersion"] = std::to_string(++rv_);
    if (auto k = object.find("kind"); k != object.end() && k->is_string()) {
      kinds_[t.GroupResource()] = k->get<std::string>();
    }
    std::string ns = MetaString(object, "namespace");
    data_[t.GroupResource()][KeyOf(ns, MetaString(object, "name"))] = object;
    EmitLocked(t.GroupResource(), ns, "ADDED", object, Json());
    return object;
  }

  net::HttpResponse DoCreate(const Target& t, const net::HttpRequest& request) {
    if (!t.name.empty()) return StatusResponse(405, "POST to an object path is not allowed");
    auto body = ParseBody(request);
    if (!body.ok()) return StatusResponse(400, body.error().message);
    Json object = std::move(body).value();
    if (!object.contains("metadata") || !object["metadata"].is_object()) {
      object["metadata"] = Json::object();
    }
    std::string body_ns = MetaString(object, "namespace");
    if (!body_ns.empty() && body_ns != t.ns) {
      return StatusResponse(400,
                            "the namespace of the provided object does not match the namespace "
                            "sent on the request");
    }
    std::string name = MetaString(object, "name");
    if (name.empty()) {
      std::string prefix = MetaString(object, "generateName");
      if (prefix.empty()) {
        return StatusResponse(422, t.Qualified() +
                                       " is invalid: metadata.name: Required value: name or "
                                       "generateName is required");
      }
      name = prefix + core::RandomHex(3).substr(0, 5);
      object["metadata"]["name"] = name;
    }
    auto& bucket = data_[t.GroupResource()];
    if (bucket.count(KeyOf(t.ns, name)) != 0) {
      return StatusResponse(409, t.Qualified() + " \"" + name + "\" already exists",
                            "AlreadyExists");
    }
    if (!object.contains("apiVersion")) object["apiVersion"] = t.ApiVersion();
    object.erase("status");
    object["metadata"].erase("resourceVersion");
    StampNewLocked(object, t);
    return JsonResponse(201, StoreNewLocked(t, std::move(object)));
  }

  // Stores `updated` over `old` (same key): no-op detection, generation, finalizer-driven
  // deletion, the new resourceVersion and the watch event.
  WriteResult FinishUpdateLocked(const Target& t, const Json& old, Json updated) {
    Json& meta = updated["metadata"];
    meta["resourceVersion"] = old["metadata"].value("resourceVersion", "");
    if (updated == old) return {200, old};  // nothing changed: no new version, no event
    if (SpecPart(updated) != SpecPart(old)) {
      meta["generation"] = old["metadata"].value("generation", int64_t{1}) + 1;
    }
    std::string ns = MetaString(updated, "namespace");
    std::string key = KeyOf(ns, MetaString(updated, "name"));
    auto& bucket = data_[t.GroupResource()];
    bool deleting = meta.contains("deletionTimestamp") && !meta["deletionTimestamp"].is_null();
    bool finalizers =
        meta.contains("finalizers") && meta["finalizers"].is_array() && !meta["finalizers"].empty();
    meta["resourceVersion"] = std::to_string(++rv_);
    if (deleting && !finalizers) {
      bucket.erase(key);
      EmitLocked(t.GroupResource(), ns, "DELETED", updated, Json());
      return {200, updated};
    }
    bucket[key] = updated;
    EmitLocked(t.GroupResource(), ns, "MODIFIED", updated, old);
    return {200, updated};
  }

  // Carries over what clients cannot change, depending on the endpoint.
  Json MergeManagedLocked(const Target& t, const Json& old, Json incoming) {
    if (t.subresource == "status") {
      Json result = old;
      if (incoming.contains("status")) {
        result["status"] = incoming["status"];
      } else {
        result.erase("status");
      }
      return result;
    }
    if (!incoming.contains("metadata") || !incoming["metadata"].is_object()) {
      incoming["metadata"] = Json::object();
    }
    Json& meta = incoming["metadata"];
    const Json& old_meta = old["metadata"];
    for (const char* key : {"uid", "creationTimestamp", "generation", "deletionTimestamp",
                            "deletionGracePeriodSeconds", "namespace", "name"}) {
      if (old_meta.contains(key)) {
        meta[key] = old_meta[key];
      } else {
        meta.erase(key);
      }
    }
    if (old.contains("status")) {
      incoming["status"] = old["status"];
    } else {
      incoming.erase("status");
    }
    if (!incoming.contains("apiVersion") && old.contains("apiVersion")) {
      incoming["apiVersion"] = old["apiVersion"];
    }
    if (!incoming.contains("kind") && old.contains("kind")) incoming["kind"] = old["kind"];
    return incoming;
  }

  net::HttpResponse DoUpdate(const Target& t, const net::HttpRequest& request) {
    if (t.name.empty()) return StatusResponse(405, "PUT needs an object path");
    auto body = ParseBody(request);
    if (!body.ok()) return StatusResponse(400, body.error().message);
    auto& bucket = data_[t.GroupResource()];
    auto it = bucket.find(KeyOf(t.ns, t.name));
    if (it == bucket.end()) return StatusResponse(404, NotFoundMessage(t));
    std::string body_name = MetaString(*body, "name");
    if (!body_name.empty() && body_name != t.name) {
      return StatusResponse(400, "the name of the object (" + body_name +
                                     ") does not match the name on the URL (" + t.name + ")");
    }
    std::string rv = MetaString(*body, "resourceVersion");
    if (!rv.empty() && rv != MetaString(it->second, "resourceVersion")) {
      return StatusResponse(409, ConflictMessage(t));
    }
    Json old = it->second;
    auto result = FinishUpdateLocked(t, old, MergeManagedLocked(t, old, std::move(body).value()));
    return JsonResponse(result.status, result.body);
  }

  static void RecordManager(Json& object, const std::string& manager,
                            const std::string& api_version, const std::string& time,
                            const std::string& subresource) {
    Json& meta = object["metadata"];
    if (!meta.contains("managedFields") || !meta["managedFields"].is_array()) {
      meta["managedFields"] = Json::array();
    }
    Json& fields = meta["managedFields"];
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (it->value("manager", "") == manager && it->value("operation", "") == "Apply" &&
          it->value("subresource", "") == subresource) {
        fields.erase(it);
        break;
      }
    }
    Json entry = {{"manager", manager},
                  {"operation", "Apply"},
                  {"apiVersion", api_version},
                  {"time", time},
                  {"fieldsType", "FieldsV1"}};
    if (!subresource.empty()) entry["subresource"] = subresource;
    fields.push_back(std::move(entry));
  }

  net::HttpResponse DoPatch(const Target& t, const net::HttpRequest& request) {
    if (t.name.empty()) return StatusResponse(405, "PATCH needs an object path");
    std::string type = request.Header("content-type").value_or("");
    if (auto semi = type.find(';'); semi != std::string::npos) type = Trim(type.substr(0, semi));
    auto parsed = core::ParseJson(request.body, {.max_bytes = 16 << 20, .max_depth = 64});
    if (!parsed.ok()) return StatusResponse(400, parsed.error().message);
    Json patch = std::move(parsed).value();
    auto& bucket = data_[t.GroupResource()];
    auto it = bucket.find(KeyOf(t.ns, t.name));
    bool apply = type == "application/apply-patch+yaml";
    std::string manager = request.Query("fieldManager").value_or("");
    if (apply) {
      if (manager.empty()) {
        return StatusResponse(422,
                              "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                              "Required value: is required for apply patch");
      }
      if (!patch.is_object()) return StatusResponse(400, "apply body must be an object");
      std::string body_name = MetaString(patch, "name");
      if (body_name != t.name) {
        return StatusResponse(400, "the name of the object (" + body_name +
                                       ") does not match the name on the URL (" + t.name + ")");
      }
    } else if (type != "application/merge-patch+json" &&
               type != "application/strategic-merge-patch+json" &&
               type != "application/json-patch+json") {
      return StatusResponse(415,
                            "the body of the request was in an unknown format - accepted "
                            "media types include: application/json-patch+json, "
                            "application/merge-patch+json, "
                            "application/apply-patch+yaml");
    }
    std::string now = FormatTimestamp(clock_.Now());
    if (it == bucket.end()) {
      if (!apply) return StatusResponse(404, NotFoundMessage(t));
      if (!t.subresource.empty()) return StatusResponse(404, NotFoundMessage(t));
      Json object = patch;
      if (!object.contains("apiVersion")) object["apiVersion"] = t.ApiVersion();
      object.erase("status");
      object["metadata"].erase("resourceVersion");
      StampNewLocked(object, t);
      RecordManager(object, manager, t.ApiVersion(), now, "");
      return JsonResponse(201, StoreNewLocked(t, std::move(object)));
    }
    const Json old = it->second;
    Json patched = old;
    if (type == "application/json-patch+json") {
      if (!patch.is_array()) return StatusResponse(400, "a JSON patch must be an array");
      try {
        patched = old.patch(patch);
      } catch (const std::exception& e) {
        return StatusResponse(422, std::string("JSON patch failed: ") + e.what());
      }
    } else {
      if (!patch.is_object()) return StatusResponse(400, "a merge patch must be an object");
      std::string rv = MetaString(patch, "resourceVersion");
      if (!rv.empty() && rv != MetaString(old, "resourceVersion")) {
        return StatusResponse(409, ConflictMessage(t));
      }
      patched.merge_patch(patch);
    }
    if (!patched.is_object()) return StatusResponse(422, "the patched object is not an object");
    Json merged = MergeManagedLocked(t, old, std::move(patched));
    if (apply) {
      std::string managed_at = t.subresource;
      // managedFields belong to metadata, which a /status write does not change otherwise.
      RecordManager(merged, manager, t.ApiVersion(), now, managed_at);
    }
    auto result = FinishUpdateLocked(t, old, std::move(merged));
    return JsonResponse(result.status, result.body);
  }

  void DeleteNowLocked(const Target& t, Bucket::iterator it) {
    Json object = it->second;
    data_[t.GroupResource()].erase(it);
    object["metadata"]["resourceVersion"] = std::to_string(++rv_);
    EmitLocked(t.GroupResource(), MetaString(object, "namespace"), "DELETED", object, Json());
  }

  net::HttpResponse DoDelete(const Target& t, const net::HttpRequest& request) {
    if (t.name.empty()) return StatusResponse(405, "deletecollection is not supported");
    if (!t.subresource.empty()) return StatusResponse(405, "DELETE on a subresource");
    auto& bucket = data_[t.GroupResource()];
    auto it = bucket.find(KeyOf(t.ns, t.name));
    if (it == bucket.end()) return StatusResponse(404, NotFoundMessage(t));
    Json options = Json::object();
    if (!request.body.empty()) {
      auto parsed = core::ParseJson(request.body);
      if (!parsed.ok() || !parsed->is_object()) {
        return StatusResponse(400, "invalid DeleteOptions body");
      }
      options = std::move(parsed).value();
    }
    if (auto pre = options.find("preconditions"); pre != options.end() && pre->is_object()) {
      std::string uid = pre->value("uid", "");
      if (!uid.empty() && uid != MetaString(it->second, "uid")) {
        return StatusResponse(409, "Precondition failed: UID in precondition: " + uid +
                                       ", UID in object meta: " + MetaString(it->second, "uid"));
      }
      std::string rv = pre->value("resourceVersion", "");
      if (!rv.empty() && rv != MetaString(it->second, "resourceVersion")) {
        return StatusResponse(409, "Precondition failed: ResourceVersion in precondition: " + rv +
                                       ", ResourceVersion in object meta: " +
                                       MetaString(it->second, "resourceVersion"));
      }
    }
    const Json& meta = it->second["metadata"];
    bool finalizers =
        meta.contains("finalizers") && meta["finalizers"].is_array() && !meta["finalizers"].empty();
    if (finalizers) {
      if (meta.contains("deletionTimestamp")) return JsonResponse(200, it->second);
      Json old = it->second;
      Json updated = old;
      updated["metadata"]["deletionTimestamp"] = FormatTimestamp(clock_.Now());
      updated["metadata"]["deletionGracePeriodSeconds"] = 0;
      auto result = FinishUpdateLocked(t, old, std::move(updated));
      return JsonResponse(200, result.body);
    }
    Json object = it->second;
    DeleteNowLocked(t, it);
    object["metadata"]["resourceVersion"] = std::to_string(rv_);
    return JsonResponse(200, object);
  }

  // ---- watch ----

  std::string WatchLine(std::string_view type, const Json& object) const {
    Json event = {{"type", type}, {"object", object}};
    return event.dump() + "\n";
  }

  // Writes the event to one watch, translating selector transitions.
  void DeliverLocked(Watch& watch, const HistoryEvent& event) {
    if (event.group_resource != watch.group_resource) return;
    if (!watch.ns.empty() && event.ns != watch.ns) return;
    bool now_matches = watch.selectors.Matches(event.object);
    std::string type;
    if (event.type == "MODIFIED") {
      bool before = !event.old_object.is_null() && watch.selectors.Matches(event.old_object);
      if (before && now_matches) {
        type = "MODIFIED";
      } else if (!before && now_matches) {
        type = "ADDED";
      } else if (before && !now_matches) {
        type = "DELETED";
      }
    } else if (now_matches) {
      type = event.type;
    }
    if (type.empty()) return;
    watch.writer->Write(WatchLine(type, event.object));
    watch.last_write = std::chrono::steady_clock::now();
  }

  void EmitLocked(const std::string& group_resource, const std::string& ns, const char* type,
                  const Json& object, const Json& old_object) {
    HistoryEvent event{rv_, group_resource, ns, type, object, old_object};
    for (auto& [id, watch] : watches_) DeliverLocked(watch, event);
    history_.push_back(std::move(event));
    while (history_.size() > options_.history_size) {
      compacted_rv_ = std::max(compacted_rv_, history_.front().rv);
      history_.pop_front();
    }
  }

  void BookmarkLocked(Watch& watch) {
    if (!watch.bookmarks) return;
    Json object = {{"apiVersion", watch.api_version},
                   {"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
    if (auto k = kinds_.find(watch.group_resource); k != kinds_.end()) object["kind"] = k->second;
    watch.writer->Write(WatchLine("BOOKMARK", object));
    watch.last_write = std::chrono::steady_clock::now();
  }

  void StartWatchLocked(const Target& t, const net::HttpRequest& request,
                        const std::shared_ptr<net::Responder>& responder) {
    auto selectors = SelectorsOf(request);
    if (!selectors.ok()) {
      responder->Send(StatusResponse(400, selectors.error().message));
      return;
    }
    std::string rv_text = request.Query("resourceVersion").value_or("");
    int64_t from = 0;
    bool initial_state = rv_text.empty() || rv_text == "0";
    if (!initial_state) {
      char* end = nullptr;
      from = std::strtoll(rv_text.c_str(), &end, 10);
      if (end == rv_text.c_str() || *end != '\0' || from < 0) {
        responder->Send(StatusResponse(400, "invalid resourceVersion \"" + rv_text + "\""));
        return;
      }
      if (from < compacted_rv_) {
        std::string message =
            "too old resource version: " + rv_text + " (" + std::to_string(compacted_rv_) + ")";
        if (options_.expired_watch == Options::ExpiredWatch::kHttpStatus) {
          responder->Send(StatusResponse(410, message, "Expired"));
          return;
        }
        auto writer = responder->StartStream(200, {{"Content-Type", "application/json"}});
        writer->Write(WatchLine("ERROR", StatusObject(410, message, "Expired")));
        writer->Close();
        return;
      }
    }
    Watch watch;
    watch.id = ++next_watch_id_;
    watch.group_resource = t.GroupResource();
    watch.ns = t.ns;
    watch.selectors = std::move(selectors).value();
    auto bookmarks = request.Query("allowWatchBookmarks");
    watch.bookmarks = bookmarks && (*bookmarks == "true" || *bookmarks == "1");
    watch.api_version = t.ApiVersion();
    auto timeout = kDefaultWatchTimeout;
    if (auto ts = request.Query("timeoutSeconds")) {
      int64_t seconds = std::atoll(ts->c_str());
      if (seconds > 0) timeout = std::chrono::seconds(seconds);
    }
    auto now = std::chrono::steady_clock::now();
    watch.deadline = now + timeout;
    watch.last_write = now;
    watch.writer = responder->StartStream(200, {{"Content-Type", "application/json"}});
    if (initial_state) {
      auto bucket = data_.find(t.GroupResource());
      if (bucket != data_.end()) {
        for (const auto& [key, object] : bucket->second) {
          HistoryEvent event{
              rv_, watch.group_resource, MetaString(object, "namespace"), "ADDED", object, Json()};
          DeliverLocked(watch, event);
        }
      }
    } else {
      for (const auto& event : history_) {
        if (event.rv > from) DeliverLocked(watch, event);
      }
    }
    uint64_t id = watch.id;
    watch.writer->OnClose([this, id] {
      std::lock_guard lock(mu_);
      watches_.erase(id);
    });
    watches_.emplace(id, std::move(watch));
    cv_.notify_all();  // a new deadline for the housekeeper
  }

  // Ends watches at their timeoutSeconds and sends periodic bookmarks.
  void Housekeep() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      auto now = std::chrono::steady_clock::now();
      auto next = now + std::chrono::hours(1);
      for (auto it = watches_.begin(); it != watches_.end();) {
        Watch& watch = it->second;
        if (watch.deadline <= now) {
          watch.writer->Close();
          it = watches_.erase(it);
          continue;
        }
        next = std::min(next, watch.deadline);
        if (options_.bookmark_interval.count() > 0 && watch.bookmarks) {
          if (now - watch.last_write >= options_.bookmark_interval) BookmarkLocked(watch);
          next = std::min(next, watch.last_write + options_.bookmark_interval);
        }
        ++it;
      }
      cv_.wait_until(lock, next);
    }
  }

  Options options_;
  const core::Clock& clock_;
  std::unique_ptr<net::HttpServer> server_;
  std::thread housekeeper_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::map<std::string, Bucket> data_;        // group/resource -> ns/name -> object
  std::map<std::string, std::string> kinds_;  // group/resource -> kind
  int64_t rv_ = 0;
  int64_t compacted_rv_ = 0;
  std::deque<HistoryEvent> history_;
  std::map<std::string, Snapshot> snapshots_;
  uint64_t next_snapshot_id_ = 0;
  std::map<uint64_t, Watch> watches_;
  uint64_t next_watch_id_ = 0;
  bool hold_watches_ = false;
  std::vector<std::pair<net::HttpRequest, std::shared_ptr<net::Responder>>> held_;
  std::vector<FakeKubeFault> faults_;
  std::map<std::string, int64_t> verbs_;
  std::map<std::string, int64_t> writes_;
  std::deque<FakeKubeRequest> recorded_;
};

// ---- the public face -----------------------------------------------------------------------

core::Result<std::unique_ptr<FakeKubeApiServer>> FakeKubeApiServer::Start(Options options) {
  auto impl = std::make_unique<Impl>(options);
  AGENTD_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<FakeKubeApiServer>(new FakeKubeApiServer(std::move(impl)));
}

FakeKubeApiServer::FakeKubeApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FakeKubeApiServer::~FakeKubeApiServer() { impl_->Shutdown(); }

std::string FakeKubeApiServer::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port());
}
uint16_t FakeKubeApiServer::port() const { return impl_->port(); }

Json FakeKubeApiServer::Seed(std::string_view group, std::string_view version,
                             std::string_view resource, Json object) {
  return impl_->Seed(group, version, resource, std::move(object));
}
std::optional<Json> FakeKubeApiServer::Get(std::string_view group, std::string_view resource,
                                           std::string_view ns, std::string_view name) const {
  return impl_->Get(group, resource, ns, name);
}
std::vector<Json> FakeKubeApiServer::List(std::string_view group, std::string_view resource,
                                          std::string_view ns) const {
  return impl_->List(group, resource, ns);
}
bool FakeKubeApiServer::Remove(std::string_view group, std::string_view resource,
                               std::string_view ns, std::string_view name) {
  return impl_->Remove(group, resource, ns, name);
}
void FakeKubeApiServer::InjectFault(FakeKubeFault fault) { impl_->InjectFault(std::move(fault)); }
void FakeKubeApiServer::ClearFaults() { impl_->ClearFaults(); }
void FakeKubeApiServer::CloseWatches() { impl_->CloseWatches(); }
void FakeKubeApiServer::SendBookmarks() { impl_->SendBookmarks(); }
void FakeKubeApiServer::SendWatchError(int code) { impl_->SendWatchError(code); }
void FakeKubeApiServer::HoldWatches(bool hold) { impl_->HoldWatches(hold); }
size_t FakeKubeApiServer::held_watches() const { return impl_->held_watches(); }
size_t FakeKubeApiServer::open_watches() const { return impl_->open_watches(); }
void FakeKubeApiServer::Compact() { impl_->Compact(); }
int64_t FakeKubeApiServer::resource_version() const { return impl_->resource_version(); }
int64_t FakeKubeApiServer::Requests(std::string_view verb) const { return impl_->Requests(verb); }
int64_t FakeKubeApiServer::Writes(std::string_view resource) const {
  return impl_->Writes(resource);
}
int64_t FakeKubeApiServer::TotalWrites() const { return impl_->TotalWrites(); }
void FakeKubeApiServer::ResetCounts() { impl_->ResetCounts(); }
std::vector<FakeKubeRequest> FakeKubeApiServer::requests() const { return impl_->requests(); }

}  // namespace agentd::testing
