#include "operator/conditions.h"

#include <cctype>

namespace agentd::operator_ {

using core::Json;

std::string_view ConditionStatusName(ConditionStatus status) {
  switch (status) {
    case ConditionStatus::kTrue:
      return "True";
    case ConditionStatus::kFalse:
      return "False";
    case ConditionStatus::kUnknown:
      return "Unknown";
  }
  return "Unknown";
}

bool SetCondition(Json& conditions, const Condition& condition, core::TimePoint transition_time) {
  if (!conditions.is_array()) conditions = Json::array();
  const std::string status(ConditionStatusName(condition.status));
  Json entry = {{"type", condition.type},
                {"status", status},
                {"reason", condition.reason},
                {"message", condition.message},
                {"observedGeneration", condition.observed_generation},
                {"lastTransitionTime", kube::FormatTime(transition_time)}};
  for (Json& existing : conditions) {
    if (!existing.is_object() || existing.value("type", "") != condition.type) continue;
    if (existing.value("status", "") == status && existing.contains("lastTransitionTime")) {
      entry["lastTransitionTime"] = existing["lastTransitionTime"];
    }
    if (existing == entry) return false;
    existing = std::move(entry);
    return true;
  }
  conditions.push_back(std::move(entry));
  return true;
}

const Json* FindCondition(const Json& conditions, std::string_view type) {
  if (!conditions.is_array()) return nullptr;
  for (const Json& c : conditions) {
    if (c.is_object() && c.value("type", "") == type) return &c;
  }
  return nullptr;
}

bool IsConditionTrue(const Json& object, std::string_view type) {
  if (!object.is_object() || !object.contains("status") || !object["status"].is_object()) {
    return false;
  }
  const Json& status = object["status"];
  if (!status.contains("conditions")) return false;
  const Json* c = FindCondition(status["conditions"], type);
  return c != nullptr && c->value("status", "") == "True";
}

std::string CamelCaseReason(std::string_view snake) {
  std::string out;
  bool upper = true;
  for (char ch : snake) {
    if (ch == '_' || ch == '-' || ch == ' ' || ch == '.') {
      upper = true;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(ch))) continue;
    out.push_back(upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(ch))) : ch);
    upper = false;
  }
  return out;
}

}  // namespace agentd::operator_
