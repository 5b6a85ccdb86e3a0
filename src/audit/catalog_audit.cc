#include "audit/catalog_audit.h"

#include <map>
#include <string>

#include "core/hash.h"
#include "resources/codec.h"

namespace agentd::audit {
namespace {

// "Kind/name" -> digest of every object in the snapshot.
std::map<std::string, std::string> Digests(const catalog::Snapshot& snapshot) {
  std::map<std::string, std::string> out;
  auto add = [&out](const auto& objects) {
    for (const auto& [name, object] : objects) {
      const resources::AnyObject any = object;
      out[std::string(resources::KindOf(any)) + "/" + name] = ObjectDigest(any);
    }
  };
  add(snapshot.models);
  add(snapshot.instructions);
  add(snapshot.agents);
  add(snapshot.budgets);
  add(snapshot.tier_policies);
  return out;
}

governance::AuditEntryDraft Entry(core::TimePoint time, std::string action, const std::string& key,
                                  const std::string& digest) {
  const size_t slash = key.find('/');
  return {.time = time,
          .actor = "system",
          .action = std::move(action),
          .subject = key,
          .details = {
              {"kind", key.substr(0, slash)}, {"name", key.substr(slash + 1)}, {"digest", digest}}};
}

}  // namespace

std::string ObjectDigest(const resources::AnyObject& object) {
  core::Json json = resources::ToJson(object);
  if (json.contains("metadata")) {
    for (const char* key : {"uid", "resourceVersion", "generation"}) json["metadata"].erase(key);
  }
  return core::Sha256Hex(governance::CanonicalJson(json));
}

std::vector<governance::AuditEntryDraft> CatalogChangeAudit(const catalog::Snapshot* before,
                                                            const catalog::Snapshot& after,
                                                            core::TimePoint time) {
  const auto next = Digests(after);
  std::vector<governance::AuditEntryDraft> drafts;
  if (before == nullptr) {
    std::string all;
    for (const auto& [key, digest] : next) all += key + "=" + digest + "\n";
    drafts.push_back({.time = time,
                      .actor = "system",
                      .action = "catalog.loaded",
                      .subject = after.origin,
                      .details = {{"generation", static_cast<int64_t>(after.generation)},
                                  {"objects", static_cast<int64_t>(next.size())},
                                  {"digest", core::Sha256Hex(all)}}});
    return drafts;
  }
  const auto prev = Digests(*before);
  for (const auto& [key, digest] : next) {
    auto it = prev.find(key);
    if (it == prev.end()) {
      drafts.push_back(Entry(time, "catalog.created", key, digest));
    } else if (it->second != digest) {
      drafts.push_back(Entry(time, "catalog.updated", key, digest));
    }
  }
  for (const auto& [key, digest] : prev) {
    if (next.count(key) == 0) drafts.push_back(Entry(time, "catalog.deleted", key, digest));
  }
  return drafts;
}

}  // namespace agentd::audit
