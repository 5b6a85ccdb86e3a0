#include "kube/http_kube_client.h"

#include <algorithm>
#include <limits>

#include "core/env.h"
#include "core/text.h"
#include "httpclient/curl_transport.h"

namespace agentd::kube {
namespace {

using core::Json;

constexpr core::JsonLimits kObjectLimits{.max_bytes = 64 << 20, .max_depth = 64};
// Extra silence allowed on a watch beyond its server-side timeout before the client gives up.
constexpr std::chrono::seconds kWatchIdleMargin{30};

void AddQuery(std::string& query, std::string_view key, std::string_view value) {
  if (value.empty()) return;
  if (!query.empty()) query += '&';
  query += key;
  query += '=';
  query += EncodeQueryValue(value);
}

std::string_view ContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kJsonPatch:
      return "application/json-patch+json";
  }
  return "application/merge-patch+json";
}

std::string_view PropagationName(Propagation p) {
  switch (p) {
    case Propagation::kBackground:
      return "Background";
    case Propagation::kForeground:
      return "Foreground";
    case Propagation::kOrphan:
      return "Orphan";
    case Propagation::kDefault:
      break;
  }
  return "";
}

// Retry-After as delta-seconds; nullopt when absent or an HTTP date (then the default applies).
std::optional<std::chrono::milliseconds> RetryAfter(const httpclient::Response& response) {
  auto value = response.Header("retry-after");
  if (!value) return std::nullopt;
  auto seconds = core::ParseInt(*value, 0, 86'400, "Retry-After");
  if (!seconds.ok()) return std::nullopt;
  return std::chrono::milliseconds(*seconds * 1000);
}

std::string WhatOf(std::string_view verb, const ObjectRef& ref) {
  return std::string(verb) + " " + ref.ToString();
}

std::string WhatOf(std::string_view verb, const GroupVersionResource& gvr, std::string_view ns) {
  return std::string(verb) + " " + gvr.ToString() + (ns.empty() ? "" : " in " + std::string(ns));
}

}  // namespace

std::string_view WatchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

core::Result<WatchEvent> ParseWatchEvent(std::string_view line) {
  auto parsed = core::ParseJson(line, kObjectLimits);
  if (!parsed.ok()) return parsed.error().Wrap("watch event");
  const Json& doc = *parsed;
  if (!doc.is_object() || !doc.contains("type") || !doc["type"].is_string()) {
    return core::InvalidArgument("watch event without a \"type\": " +
                                 core::QuoteForMessage(line, 120));
  }
  std::string type = doc["type"].get<std::string>();
  WatchEvent event;
  if (type == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    event.type = WatchEventType::kError;
  } else {
    return core::InvalidArgument("watch event of unknown type " + core::QuoteForMessage(type));
  }
  auto object = doc.find("object");
  if (object == doc.end() || !object->is_object()) {
    return core::InvalidArgument("watch event " + type + " without an object");
  }
  event.object = *object;
  return event;
}

core::Result<bool> WatchDecoder::Feed(std::string_view data, const WatchHandler& on_event) {
  while (!data.empty()) {
    auto newline = data.find('\n');
    if (newline == std::string_view::npos) {
      if (pending_.size() + data.size() > max_event_bytes_) {
        return core::ResourceExhausted("watch event larger than " +
                                       std::to_string(max_event_bytes_) + " bytes");
      }
      pending_.append(data);
      return true;
    }
    std::string_view line = data.substr(0, newline);
    data.remove_prefix(newline + 1);
    std::string joined;
    if (!pending_.empty()) {
      joined = std::move(pending_);
      pending_.clear();
      joined.append(line);
      line = joined;
    }
    if (line.size() > max_event_bytes_) {
      return core::ResourceExhausted("watch event larger than " + std::to_string(max_event_bytes_) +
                                     " bytes");
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    AGENTD_ASSIGN_OR_RETURN(WatchEvent event, ParseWatchEvent(line));
    if (!on_event(std::move(event))) return false;
  }
  return true;
}

core::Error ErrorFromStatus(int http_status, std::string_view body, std::string_view what) {
  std::string message;
  std::string reason;
  if (auto parsed = core::ParseJson(body); parsed.ok() && parsed->is_object()) {
    if (auto m = parsed->find("message"); m != parsed->end() && m->is_string()) {
      message = m->get<std::string>();
    }
    if (auto r = parsed->find("reason"); r != parsed->end() && r->is_string()) {
      reason = r->get<std::string>();
    }
  }
  if (message.empty()) {
    message = "HTTP " + std::to_string(http_status);
    if (!body.empty() && body.front() != '{') message += ": " + core::QuoteForMessage(body, 200);
  }
  std::string text = std::string(what) + ": " + message;
  if (!reason.empty()) text += " (" + reason + ")";
  switch (http_status) {
    case 400:
    case 405:
    case 406:
    case 415:
    case 422:
      return core::InvalidArgument(text);
    case 401:
      return core::Unauthenticated(text);
    case 403:
      return core::PermissionDenied(text);
    case 404:
      return core::NotFound(text);
    case 409:
      if (reason == "AlreadyExists") return core::AlreadyExists(text);
      return core::Aborted(text);
    case 410:
      return core::FailedPrecondition(text);
    case 413:
    case 429:
      return core::ResourceExhausted(text);
    case 502:
    case 503:
      return core::Unavailable(text);
    case 504:
      return core::DeadlineExceeded(text);
    default:
      return http_status >= 500 ? core::Internal(text) : core::InvalidArgument(text);
  }
}

HttpKubeClient::HttpKubeClient(KubeConfig config, httpclient::HttpTransport& transport,
                               HttpKubeClientOptions options)
    : config_(std::move(config)),
      transport_(transport),
      options_(options),
      token_source_(TokenSource::ForConfig(config_)),
      limiter_(options.qps, options.burst,
               options.clock != nullptr ? *options.clock : core::SystemClock::Instance()),
      sleeper_(options.sleeper != nullptr ? *options.sleeper : RealSleeper::Instance()) {}

HttpKubeClient::HttpKubeClient(KubeConfig config, std::unique_ptr<httpclient::HttpTransport> owned,
                               HttpKubeClientOptions options)
    : config_(std::move(config)),
      owned_transport_(std::move(owned)),
      transport_(*owned_transport_),
      options_(options),
      token_source_(TokenSource::ForConfig(config_)),
      limiter_(options.qps, options.burst,
               options.clock != nullptr ? *options.clock : core::SystemClock::Instance()),
      sleeper_(options.sleeper != nullptr ? *options.sleeper : RealSleeper::Instance()) {}

HttpKubeClient::~HttpKubeClient() = default;

std::unique_ptr<HttpKubeClient> HttpKubeClient::Connect(KubeConfig config,
                                                        HttpKubeClientOptions options) {
  auto transport = std::make_unique<httpclient::CurlHttpTransport>(TransportOptionsFor(config));
  return std::unique_ptr<HttpKubeClient>(
      new HttpKubeClient(std::move(config), std::move(transport), options));
}

core::Result<httpclient::Response> HttpKubeClient::Send(
    const Call& call, const std::function<bool(std::string_view)>* on_body,
    std::chrono::milliseconds idle_timeout) {
  httpclient::Request request;
  request.method = call.method;
  request.url = config_.server + call.path + (call.query.empty() ? "" : "?" + call.query);
  request.body = call.body;
  request.connect_timeout = options_.connect_timeout;
  request.timeout = options_.request_timeout;
  request.idle_timeout = idle_timeout;
  request.max_response_bytes =
      on_body != nullptr ? std::numeric_limits<size_t>::max() : options_.max_response_bytes;
  request.cancel = call.cancel != nullptr ? call.cancel->flag() : nullptr;

  bool reauthenticated = false;
  for (int attempt = 0;; ++attempt) {
    if (call.cancel != nullptr && call.cancel->cancelled()) {
      return core::Aborted(call.what + ": cancelled");
    }
    if (!sleeper_.SleepFor(limiter_.Reserve(), call.cancel)) {
      return core::Aborted(call.what + ": cancelled");
    }
    request.headers.clear();
    request.headers.emplace_back("Accept", "application/json");
    if (!call.content_type.empty()) request.headers.emplace_back("Content-Type", call.content_type);
    if (token_source_ != nullptr) {
      auto token = token_source_->Token();
      if (!token.ok()) return token.error().Wrap(call.what);
      request.headers.emplace_back("Authorization", "Bearer " + *token);
    }
    auto response =
        on_body != nullptr ? transport_.SendStreaming(request, *on_body) : transport_.Send(request);
    if (!response.ok()) return response;
    int status = response->status;
    if (status == 401 && !reauthenticated && token_source_ != nullptr &&
        token_source_->Invalidate()) {
      // A rotated service-account token: read the file again and retry once.
      reauthenticated = true;
      continue;
    }
    if ((status == 429 || status == 503) && attempt < options_.max_retries) {
      std::chrono::milliseconds wait = options_.default_retry_wait * (1 << std::min(attempt, 16));
      if (auto retry_after = RetryAfter(*response)) wait = *retry_after;
      wait = std::min(wait, options_.max_retry_wait);
      if (!sleeper_.SleepFor(wait, call.cancel)) return core::Aborted(call.what + ": cancelled");
      continue;
    }
    return response;
  }
}

core::Result<Json> HttpKubeClient::SendForObject(const Call& call) {
  AGENTD_ASSIGN_OR_RETURN(httpclient::Response response,
                          Send(call, nullptr, options_.request_timeout));
  if (response.status < 200 || response.status >= 300) {
    return ErrorFromStatus(response.status, response.body, call.what);
  }
  auto parsed = core::ParseJson(response.body, kObjectLimits);
  if (!parsed.ok()) return parsed.error().Wrap(call.what + ": response");
  if (!parsed->is_object()) return core::Internal(call.what + ": response is not a JSON object");
  return std::move(parsed).value();
}

core::Result<Json> HttpKubeClient::Get(const ObjectRef& ref) {
  Call call{.method = "GET", .what = WhatOf("get", ref)};
  AGENTD_ASSIGN_OR_RETURN(call.path, ObjectPath(ref));
  return SendForObject(call);
}

core::Result<ObjectList> HttpKubeClient::List(const GroupVersionResource& gvr, std::string_view ns,
                                              const ListOptions& options) {
  Call call{.method = "GET", .what = WhatOf("list", gvr, ns), .cancel = options.cancel};
  AGENTD_ASSIGN_OR_RETURN(call.path, CollectionPath(gvr, ns));
  AddQuery(call.query, "labelSelector", options.label_selector);
  AddQuery(call.query, "fieldSelector", options.field_selector);
  if (options.limit > 0) AddQuery(call.query, "limit", std::to_string(options.limit));
  AddQuery(call.query, "continue", options.continue_token);
  AddQuery(call.query, "resourceVersion", options.resource_version);
  AGENTD_ASSIGN_OR_RETURN(Json list, SendForObject(call));
  ObjectList out;
  out.kind = list.value("kind", "");
  if (auto items = list.find("items"); items != list.end() && items->is_array()) {
    out.items.reserve(items->size());
    for (auto& item : *items) out.items.push_back(std::move(item));
  } else if (items != list.end() && !items->is_null()) {
    return core::Internal(call.what + ": \"items\" is not a list");
  }
  if (auto meta = list.find("metadata"); meta != list.end() && meta->is_object()) {
    out.resource_version = meta->value("resourceVersion", "");
    out.continue_token = meta->value("continue", "");
  }
  return out;
}

core::Result<Json> HttpKubeClient::Create(const GroupVersionResource& gvr, std::string_view ns,
                                          const Json& object) {
  Call call{.method = "POST",
            .content_type = "application/json",
            .body = core::DumpJson(object),
            .what = WhatOf("create", gvr, ns)};
  std::string name = NameOf(object);
  if (!name.empty()) call.what += " " + name;
  AGENTD_ASSIGN_OR_RETURN(call.path, CollectionPath(gvr, ns));
  return SendForObject(call);
}

core::Result<Json> HttpKubeClient::UpdateAt(const ObjectRef& ref, std::string_view subresource,
                                            const Json& object) {
  Call call{.method = "PUT",
            .content_type = "application/json",
            .body = core::DumpJson(object),
            .what = WhatOf(subresource.empty() ? "update" : "update status of", ref)};
  AGENTD_ASSIGN_OR_RETURN(call.path, ObjectPath(ref, subresource));
  return SendForObject(call);
}

core::Result<Json> HttpKubeClient::Update(const ObjectRef& ref, const Json& object) {
  return UpdateAt(ref, "", object);
}

core::Result<Json> HttpKubeClient::UpdateStatus(const ObjectRef& ref, const Json& object) {
  return UpdateAt(ref, "status", object);
}

core::Result<Json> HttpKubeClient::PatchAt(const ObjectRef& ref, std::string_view subresource,
                                           PatchType type, const Json& patch) {
  Call call{.method = "PATCH",
            .content_type = std::string(ContentType(type)),
            .body = core::DumpJson(patch),
            .what = WhatOf(subresource.empty() ? "patch" : "patch status of", ref)};
  AGENTD_ASSIGN_OR_RETURN(call.path, ObjectPath(ref, subresource));
  return SendForObject(call);
}

core::Result<Json> HttpKubeClient::Patch(const ObjectRef& ref, PatchType type, const Json& patch) {
  return PatchAt(ref, "", type, patch);
}

core::Result<Json> HttpKubeClient::PatchStatus(const ObjectRef& ref, PatchType type,
                                               const Json& patch) {
  return PatchAt(ref, "status", type, patch);
}

core::Result<Json> HttpKubeClient::ApplyAt(const ObjectRef& ref, std::string_view subresource,
                                           const Json& object, const ApplyOptions& options) {
  std::string what = WhatOf(subresource.empty() ? "apply" : "apply status of", ref);
  if (!object.is_object() || !object.contains("kind") || !object["kind"].is_string()) {
    return core::InvalidArgument(what + ": the object needs a \"kind\"");
  }
  if (options.field_manager.empty()) return core::InvalidArgument(what + ": empty field manager");
  Json body = object;
  if (!body.contains("apiVersion")) body["apiVersion"] = ref.gvr.ApiVersion();
  if (!body.contains("metadata") || !body["metadata"].is_object()) {
    body["metadata"] = Json::object();
  }
  if (!body["metadata"].contains("name")) body["metadata"]["name"] = ref.name;
  if (!ref.ns.empty() && !body["metadata"].contains("namespace")) {
    body["metadata"]["namespace"] = ref.ns;
  }
  // JSON is a subset of YAML, so a JSON body is a valid apply-patch+yaml body.
  Call call{.method = "PATCH",
            .content_type = "application/apply-patch+yaml",
            .body = core::DumpJson(body),
            .what = std::move(what)};
  AGENTD_ASSIGN_OR_RETURN(call.path, ObjectPath(ref, subresource));
  AddQuery(call.query, "fieldManager", options.field_manager);
  if (options.force) AddQuery(call.query, "force", "true");
  return SendForObject(call);
}

core::Result<Json> HttpKubeClient::Apply(const ObjectRef& ref, const Json& object,
                                         const ApplyOptions& options) {
  return ApplyAt(ref, "", object, options);
}

core::Result<Json> HttpKubeClient::ApplyStatus(const ObjectRef& ref, const Json& object,
                                               const ApplyOptions& options) {
  return ApplyAt(ref, "status", object, options);
}

core::Result<Json> HttpKubeClient::Delete(const ObjectRef& ref, const DeleteOptions& options) {
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (auto p = PropagationName(options.propagation); !p.empty()) {
    body["propagationPolicy"] = std::string(p);
  }
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (options.precondition_uid || options.precondition_resource_version) {
    Json pre = Json::object();
    if (options.precondition_uid) pre["uid"] = *options.precondition_uid;
    if (options.precondition_resource_version) {
      pre["resourceVersion"] = *options.precondition_resource_version;
    }
    body["preconditions"] = std::move(pre);
  }
  Call call{.method = "DELETE",
            .content_type = "application/json",
            .body = core::DumpJson(body),
            .what = WhatOf("delete", ref)};
  AGENTD_ASSIGN_OR_RETURN(call.path, ObjectPath(ref));
  return SendForObject(call);
}

core::Result<WatchEnd> HttpKubeClient::Watch(const GroupVersionResource& gvr, std::string_view ns,
                                             const WatchOptions& options,
                                             const WatchHandler& handler) {
  Call call{.method = "GET", .what = WhatOf("watch", gvr, ns), .cancel = options.cancel};
  AGENTD_ASSIGN_OR_RETURN(call.path, CollectionPath(gvr, ns));
  AddQuery(call.query, "watch", "1");
  if (options.allow_bookmarks) AddQuery(call.query, "allowWatchBookmarks", "true");
  AddQuery(call.query, "resourceVersion", options.resource_version);
  AddQuery(call.query, "labelSelector", options.label_selector);
  AddQuery(call.query, "fieldSelector", options.field_selector);
  if (options.timeout.count() > 0) {
    AddQuery(call.query, "timeoutSeconds", std::to_string(options.timeout.count()));
  }

  WatchDecoder decoder;
  bool stopped_by_handler = false;
  std::optional<core::Error> decode_error;
  std::function<bool(std::string_view)> on_body = [&](std::string_view data) {
    auto fed = decoder.Feed(data, handler);
    if (!fed.ok()) {
      decode_error = std::move(fed).error().Wrap(call.what);
      return false;
    }
    if (!*fed) stopped_by_handler = true;
    return *fed;
  };
  // Without a server-side timeout there is no bound on silence either.
  auto idle = options.timeout.count() > 0 ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                                options.timeout + kWatchIdleMargin)
                                          : std::chrono::milliseconds(0);
  auto response = Send(call, &on_body, idle);
  if (decode_error) return *decode_error;
  if (stopped_by_handler) return WatchEnd::kStoppedByHandler;
  if (options.cancel != nullptr && options.cancel->cancelled()) return WatchEnd::kCancelled;
  if (!response.ok()) return response.error();
  if (response->status == 410) return WatchEnd::kExpired;
  if (response->status < 200 || response->status >= 300) {
    return ErrorFromStatus(response->status, response->body, call.what);
  }
  return WatchEnd::kClosedByServer;
}

}  // namespace agentd::kube
