#include "kube/reflector.h"

#include <set>

#include "core/log.h"

namespace agentd::kube {
namespace {

using core::Json;

// Objects in a list answer usually come without apiVersion and kind; watch events carry them.
void FillTypeMeta(Json& object, const GroupVersionResource& gvr, const std::string& kind) {
  if (!object.is_object()) return;
  if (!object.contains("apiVersion")) object["apiVersion"] = gvr.ApiVersion();
  if (!object.contains("kind") && !kind.empty()) object["kind"] = kind;
}

}  // namespace

std::optional<Json> ObjectCache::Get(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

std::vector<Json> ObjectCache::List() const {
  std::lock_guard lock(mu_);
  std::vector<Json> out;
  out.reserve(objects_.size());
  for (const auto& [key, object] : objects_) out.push_back(object);
  return out;
}

size_t ObjectCache::size() const {
  std::lock_guard lock(mu_);
  return objects_.size();
}

std::string ObjectCache::resource_version() const {
  std::lock_guard lock(mu_);
  return resource_version_;
}

Reflector::Reflector(KubeClient& client, ReflectorOptions options, ReflectorHandler handler)
    : client_(client),
      options_(std::move(options)),
      handler_(std::move(handler)),
      sleeper_(options_.sleeper != nullptr ? *options_.sleeper : RealSleeper::Instance()),
      backoff_(options_.backoff) {
  if (options_.name.empty()) options_.name = options_.gvr.ToString();
}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  AGENTD_CHECK(!thread_.joinable()) << "Reflector::Start called twice";
  thread_ = std::thread([this] { Run(); });
}

void Reflector::Stop() {
  cancel_.Cancel();
  { std::lock_guard lock(sync_mu_); }
  sync_cv_.notify_all();
  std::call_once(stop_once_, [this] {
    if (thread_.joinable()) thread_.join();
  });
}

bool Reflector::WaitForSync(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(sync_mu_);
  sync_cv_.wait_for(lock, timeout, [this] { return synced_.load() || cancel_.cancelled(); });
  return synced_.load();
}

Reflector::Stats Reflector::stats() const {
  std::lock_guard lock(stats_mu_);
  return stats_;
}

void Reflector::Run() {
  Next next = Next::kList;
  while (!cancel_.cancelled()) {
    switch (next) {
      case Next::kList:
        next = ListOnce();
        break;
      case Next::kWatch:
        next = WatchOnce();
        break;
      case Next::kBackoffThenList:
      case Next::kBackoffThenWatch:
        if (!sleeper_.SleepFor(backoff_.Next(), &cancel_)) return;
        next = next == Next::kBackoffThenList ? Next::kList : Next::kWatch;
        break;
      case Next::kStop:
        return;
    }
  }
}

Reflector::Next Reflector::ListOnce() {
  ListOptions list_options{.label_selector = options_.label_selector,
                           .field_selector = options_.field_selector,
                           .limit = options_.page_size,
                           .cancel = &cancel_};
  std::vector<Json> items;
  std::string resource_version;
  std::string item_kind;
  while (true) {
    auto page = client_.List(options_.gvr, options_.ns, list_options);
    if (cancel_.cancelled()) return Next::kStop;
    if (!page.ok()) {
      {
        std::lock_guard lock(stats_mu_);
        ++stats_.errors;
      }
      core::LogWarn("kube reflector: list failed",
                    {{"reflector", options_.name}, {"error", page.error().message}});
      return Next::kBackoffThenList;
    }
    if (item_kind.empty() && page->kind.size() > 4 &&
        page->kind.compare(page->kind.size() - 4, 4, "List") == 0) {
      item_kind = page->kind.substr(0, page->kind.size() - 4);
    }
    for (auto& item : page->items) items.push_back(std::move(item));
    if (page->continue_token.empty()) {
      resource_version = page->resource_version;
      break;
    }
    list_options.continue_token = page->continue_token;
  }

  // Replace the cache and work out what changed, then tell the handler outside the lock.
  std::map<std::string, Json> fresh;
  for (auto& item : items) {
    FillTypeMeta(item, options_.gvr, item_kind);
    std::string key = KeyOf(item);
    fresh[key] = std::move(item);
  }
  std::vector<Json> added;
  std::vector<std::pair<Json, Json>> updated;
  std::vector<Json> deleted;
  {
    std::lock_guard lock(cache_.mu_);
    for (const auto& [key, object] : fresh) {
      auto old = cache_.objects_.find(key);
      if (old == cache_.objects_.end()) {
        added.push_back(object);
      } else if (ResourceVersionOf(old->second) != ResourceVersionOf(object)) {
        updated.emplace_back(old->second, object);
      }
    }
    for (const auto& [key, object] : cache_.objects_) {
      if (fresh.find(key) == fresh.end()) deleted.push_back(object);
    }
    cache_.objects_ = std::move(fresh);
    cache_.resource_version_ = resource_version;
  }
  resource_version_ = resource_version;
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.lists;
  }
  backoff_.Reset();
  for (const auto& object : added) {
    if (handler_.on_add) handler_.on_add(object);
  }
  for (const auto& [old_object, new_object] : updated) {
    if (handler_.on_update) handler_.on_update(old_object, new_object);
  }
  for (const auto& object : deleted) {
    if (handler_.on_delete) handler_.on_delete(object);
  }
  {
    std::lock_guard lock(sync_mu_);
    synced_.store(true);
  }
  sync_cv_.notify_all();
  if (handler_.on_synced) handler_.on_synced();
  return Next::kWatch;
}

Reflector::Next Reflector::WatchOnce() {
  {
    std::lock_guard lock(stats_mu_);
    ++stats_.watches;
  }
  WatchOptions watch_options{.label_selector = options_.label_selector,
                             .field_selector = options_.field_selector,
                             .resource_version = resource_version_,
                             .allow_bookmarks = true,
                             .timeout = options_.watch_timeout,
                             .cancel = &cancel_};
  Next next = Next::kWatch;
  bool any_event = false;
  auto end = client_.Watch(options_.gvr, options_.ns, watch_options, [&](WatchEvent&& event) {
    any_event = true;
    return ApplyEvent(std::move(event), &next);
  });
  if (cancel_.cancelled()) return Next::kStop;
  if (!end.ok()) {
    {
      std::lock_guard lock(stats_mu_);
      ++stats_.errors;
    }
    core::LogWarn("kube reflector: watch failed", {{"reflector", options_.name},
                                                   {"resourceVersion", resource_version_},
                                                   {"error", end.error().message}});
    return Next::kBackoffThenWatch;
  }
  switch (*end) {
    case WatchEnd::kStoppedByHandler:
      return next;
    case WatchEnd::kExpired: {
      std::lock_guard lock(stats_mu_);
      ++stats_.relists_on_gone;
      return Next::kList;
    }
    case WatchEnd::kCancelled:
      return Next::kStop;
    case WatchEnd::kClosedByServer:
      // A stream that ends at once, over and over, must not turn into a busy loop.
      if (!any_event) return Next::kBackoffThenWatch;
      backoff_.Reset();
      return Next::kWatch;
  }
  return Next::kWatch;
}

bool Reflector::ApplyEvent(WatchEvent&& event, Next* next) {
  switch (event.type) {
    case WatchEventType::kAdded:
    case WatchEventType::kModified:
      FillTypeMeta(event.object, options_.gvr, "");
      Upsert(event.object);
      break;
    case WatchEventType::kDeleted:
      Remove(event.object);
      break;
    case WatchEventType::kBookmark:
      break;
    case WatchEventType::kError: {
      int64_t code = 0;
      if (auto c = event.object.find("code"); c != event.object.end() && c->is_number_integer()) {
        code = c->get<int64_t>();
      }
      std::lock_guard lock(stats_mu_);
      ++stats_.errors;
      if (code == 410) {
        ++stats_.relists_on_gone;
        *next = Next::kList;
      } else {
        core::LogWarn("kube reflector: watch error event",
                      {{"reflector", options_.name},
                       {"code", code},
                       {"message", event.object.value("message", "")}});
        *next = Next::kBackoffThenList;
      }
      return false;
    }
  }
  std::string rv = ResourceVersionOf(event.object);
  if (!rv.empty()) {
    resource_version_ = rv;
    std::lock_guard lock(cache_.mu_);
    cache_.resource_version_ = rv;
  }
  return true;
}

void Reflector::Upsert(Json object) {
  std::string key = KeyOf(object);
  std::optional<Json> old;
  {
    std::lock_guard lock(cache_.mu_);
    auto it = cache_.objects_.find(key);
    if (it != cache_.objects_.end()) {
      // Already seen (a resumed watch replaying what a list showed): nothing changed.
      if (ResourceVersionOf(it->second) == ResourceVersionOf(object)) return;
      old = std::move(it->second);
      it->second = object;
    } else {
      cache_.objects_.emplace(key, object);
    }
  }
  if (old) {
    if (handler_.on_update) handler_.on_update(*old, object);
  } else if (handler_.on_add) {
    handler_.on_add(object);
  }
}

void Reflector::Remove(const Json& object) {
  std::string key = KeyOf(object);
  {
    std::lock_guard lock(cache_.mu_);
    if (cache_.objects_.erase(key) == 0) return;
  }
  if (handler_.on_delete) handler_.on_delete(object);
}

}  // namespace agentd::kube
