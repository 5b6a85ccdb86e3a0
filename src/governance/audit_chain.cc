#include "governance/audit_chain.h"

#include <algorithm>
#include <chrono>
#include <unordered_set>
#include <utility>

#include "core/hash.h"
#include "core/time.h"

namespace agentd::governance {

namespace {

using core::Json;

// Scalars and strings use nlohmann's own printer: it is deterministic for everything but
// floats, which NextEntry keeps out of the chain.
std::string DumpScalar(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void AppendCanonical(const Json& value, std::string* out) {
  switch (value.type()) {
    case Json::value_t::object: {
      // nlohmann's default object type is a std::map and already iterates in key order; we sort
      // anyway so the hash never depends on which map type the Json alias happens to use.
      std::vector<const std::string*> keys;
      keys.reserve(value.size());
      for (const auto& item : value.items()) keys.push_back(&item.key());
      std::sort(keys.begin(), keys.end(),
                [](const std::string* a, const std::string* b) { return *a < *b; });
      out->push_back('{');
      bool first = true;
      for (const std::string* key : keys) {
        if (!first) out->push_back(',');
        first = false;
        out->append(DumpScalar(Json(*key)));
        out->push_back(':');
        AppendCanonical(value.at(*key), out);
      }
      out->push_back('}');
      return;
    }
    case Json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const Json& element : value) {
        if (!first) out->push_back(',');
        first = false;
        AppendCanonical(element, out);
      }
      out->push_back(']');
      return;
    }
    default:
      out->append(DumpScalar(value));
      return;
  }
}

// Returns the path of the first floating-point number in `value`, if any.
std::optional<std::string> FindFloat(const Json& value, const std::string& path) {
  if (value.is_number_float()) return path;
  if (value.is_object()) {
    for (const auto& item : value.items()) {
      if (auto found = FindFloat(item.value(), path + "." + item.key())) return found;
    }
  } else if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (auto found = FindFloat(value[i], path + "[" + std::to_string(i) + "]")) return found;
    }
  }
  return std::nullopt;
}

bool IsValidUtf8(const Json& value) {
  try {
    (void)value.dump(-1, ' ', false, Json::error_handler_t::strict);
    return true;
  } catch (const Json::exception&) {
    return false;
  }
}

Json HashedFields(const AuditEntry& entry) {
  return Json{{"index", entry.index},        {"time", core::FormatRfc3339(entry.time)},
              {"actor", entry.actor},        {"action", entry.action},
              {"subject", entry.subject},    {"details", entry.details},
              {"prev_hash", entry.prev_hash}};
}

bool IsLowerHex64(std::string_view text) {
  if (text.size() != 64) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

VerifyResult Bad(int64_t checked, int64_t index, std::string problem) {
  return VerifyResult{.ok = false,
                      .entries_checked = checked,
                      .first_bad_index = index,
                      .problem = std::move(problem)};
}

}  // namespace

std::string CanonicalJson(const core::Json& value) {
  std::string out;
  AppendCanonical(value, &out);
  return out;
}

core::Json EntryToJson(const AuditEntry& entry) {
  Json json = HashedFields(entry);
  json["hash"] = entry.hash;
  return json;
}

core::Result<AuditEntry> EntryFromJson(const core::Json& json) {
  constexpr std::string_view kWhere = "audit entry";
  if (!json.is_object()) return core::InvalidArgument("audit entry is not a JSON object");
  const auto index_it = json.find("index");
  if (index_it == json.end() || !index_it->is_number_integer()) {
    return core::InvalidArgument("audit entry: \"index\" must be an integer");
  }
  AuditEntry entry;
  entry.index = index_it->get<int64_t>();
  AGENTD_ASSIGN_OR_RETURN(std::string time_text, core::RequiredString(json, "time", kWhere));
  AGENTD_ASSIGN_OR_RETURN(entry.time, core::ParseRfc3339(time_text));
  AGENTD_ASSIGN_OR_RETURN(entry.actor, core::RequiredString(json, "actor", kWhere));
  AGENTD_ASSIGN_OR_RETURN(entry.action, core::RequiredString(json, "action", kWhere));
  AGENTD_ASSIGN_OR_RETURN(entry.subject, core::RequiredString(json, "subject", kWhere));
  AGENTD_ASSIGN_OR_RETURN(entry.prev_hash, core::RequiredString(json, "prev_hash", kWhere));
  AGENTD_ASSIGN_OR_RETURN(entry.hash, core::RequiredString(json, "hash", kWhere));
  const auto details_it = json.find("details");
  if (details_it == json.end() || !details_it->is_object()) {
    return core::InvalidArgument("audit entry " + std::to_string(entry.index) +
                                 ": \"details\" must be an object");
  }
  entry.details = *details_it;
  return entry;
}

std::string EntryHash(const AuditEntry& entry) {
  return core::Sha256Hex(entry.prev_hash + "\n" + CanonicalJson(HashedFields(entry)));
}

core::Result<PreparedAuditDraft> PrepareDraft(AuditEntryDraft draft) {
  const std::string where = "audit entry \"" + draft.action + "\"";
  if (draft.action.empty()) return core::InvalidArgument("audit entry: action is empty");
  if (draft.actor.empty()) return core::InvalidArgument(where + ": actor is empty");
  if (!draft.details.is_object()) {
    return core::InvalidArgument(where + ": details must be a JSON object, got " +
                                 std::string(draft.details.type_name()));
  }
  if (auto path = FindFloat(draft.details, "details")) {
    return core::InvalidArgument(where + ": " + *path +
                                 " is a floating-point number; audit details allow only "
                                 "integers (use micro-dollars, milliseconds, ...)");
  }
  if (!IsValidUtf8(Json(draft.actor)))
    return core::InvalidArgument(where + ": actor is not valid UTF-8");
  if (!IsValidUtf8(Json(draft.action))) {
    return core::InvalidArgument(where + ": action is not valid UTF-8");
  }
  if (!IsValidUtf8(Json(draft.subject))) {
    return core::InvalidArgument(where + ": subject is not valid UTF-8");
  }
  if (!IsValidUtf8(draft.details))
    return core::InvalidArgument(where + ": details is not valid UTF-8");

  PreparedAuditDraft p;
  p.entry.time = std::chrono::floor<core::Millis>(draft.time);
  p.entry.actor = std::move(draft.actor);
  p.entry.action = std::move(draft.action);
  p.entry.subject = std::move(draft.subject);
  p.entry.details = std::move(draft.details);
  p.details_json = core::DumpJson(p.entry.details);
  // The keys of HashedFields in byte order: action, actor, details, index, prev_hash, subject,
  // time. Only index and prev_hash depend on the chain.
  std::string& head = p.canonical_head;
  head = "{\"action\":";
  AppendCanonical(Json(p.entry.action), &head);
  head += ",\"actor\":";
  AppendCanonical(Json(p.entry.actor), &head);
  head += ",\"details\":";
  AppendCanonical(p.entry.details, &head);
  head += ",\"index\":";
  std::string& tail = p.canonical_tail;
  tail = ",\"subject\":";
  AppendCanonical(Json(p.entry.subject), &tail);
  tail += ",\"time\":";
  AppendCanonical(Json(core::FormatRfc3339(p.entry.time)), &tail);
  tail += "}";
  return p;
}

AuditEntry ChainPrepared(const AuditEntry* previous, const PreparedAuditDraft& prepared) {
  AuditEntry entry = prepared.entry;
  entry.index = previous == nullptr ? 1 : previous->index + 1;
  entry.prev_hash = previous == nullptr ? std::string(kGenesisHash) : previous->hash;
  std::string text;
  text.reserve(entry.prev_hash.size() + prepared.canonical_head.size() +
               prepared.canonical_tail.size() + 100);
  text += entry.prev_hash;
  text += "\n";
  text += prepared.canonical_head;
  text += std::to_string(entry.index);
  text += ",\"prev_hash\":\"";
  text += entry.prev_hash;  // lowercase hex: nothing to escape
  text += "\"";
  text += prepared.canonical_tail;
  entry.hash = core::Sha256Hex(text);
  return entry;
}

core::Result<AuditEntry> NextEntry(const AuditEntry* previous, AuditEntryDraft draft) {
  AGENTD_ASSIGN_OR_RETURN(PreparedAuditDraft prepared, PrepareDraft(std::move(draft)));
  return ChainPrepared(previous, prepared);
}

VerifyResult VerifyChain(const std::vector<AuditEntry>& entries) {
  // Every index present, to tell "removed" (never appears) from "reordered" (appears later).
  // Positions before i all hold their expected index, so if `expected` is present at all when
  // position i holds something else, it is further down.
  std::unordered_set<int64_t> present;
  for (const AuditEntry& entry : entries) present.insert(entry.index);

  for (size_t i = 0; i < entries.size(); ++i) {
    const AuditEntry& entry = entries[i];
    const int64_t checked = static_cast<int64_t>(i);
    const int64_t expected = checked + 1;
    const std::string position = "position " + std::to_string(expected);

    // Content first: an entry whose index field itself was edited is "altered", not "reordered".
    if (!IsLowerHex64(entry.hash) || EntryHash(entry) != entry.hash) {
      // Reported at the position's index: the index field may be the thing that was edited.
      const std::string which =
          entry.index == expected
              ? "entry " + std::to_string(expected)
              : "entry at " + position + " (claiming index " + std::to_string(entry.index) + ")";
      return Bad(checked, expected,
                 which + " was altered: its stored hash does not match its content");
    }
    if (entry.index != expected) {
      if (entry.index > expected && present.count(expected) == 0) {
        const std::string missing = entry.index == expected + 1
                                        ? "entry " + std::to_string(expected) + " is"
                                        : "entries " + std::to_string(expected) + ".." +
                                              std::to_string(entry.index - 1) + " are";
        return Bad(checked, expected,
                   missing + " missing (removed): " + position + " holds entry " +
                       std::to_string(entry.index));
      }
      return Bad(checked, expected,
                 "entries reordered: " + position + " holds entry " + std::to_string(entry.index) +
                     " where entry " + std::to_string(expected) + " was expected");
    }
    const std::string want_prev = i == 0 ? std::string(kGenesisHash) : entries[i - 1].hash;
    if (entry.prev_hash != want_prev) {
      if (i == 0) {
        return Bad(checked, entry.index,
                   "entry 1 does not start the chain: its prev_hash is not the genesis hash");
      }
      // This entry's own hash is intact, so its prev_hash is what was written; the predecessor
      // must have been rewritten together with a freshly computed hash.
      return Bad(checked - 1, entries[i - 1].index,
                 "entry " + std::to_string(entries[i - 1].index) +
                     " was altered and re-hashed: entry " + std::to_string(entry.index) +
                     " no longer links to it (prev_hash mismatch)");
    }
  }
  return VerifyResult{.ok = true,
                      .entries_checked = static_cast<int64_t>(entries.size()),
                      .first_bad_index = std::nullopt,
                      .problem = ""};
}

}  // namespace agentd::governance
