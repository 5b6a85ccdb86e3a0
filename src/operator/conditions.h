// metav1.Condition lists in the status of agentd's custom resources, and the group/version/
// resource of every agentd kind.
//
// A condition is {type, status, reason, message, observedGeneration, lastTransitionTime}, one per
// type. SetCondition follows apimachinery's meta.SetStatusCondition: lastTransitionTime moves only
// when the status changes, so computing the same conditions twice gives the same JSON and the
// caller can write the status only when it differs. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/json.h"
#include "kube/resource.h"

namespace agentd::operator_ {

// The agentd custom resources (group agentd.dev, version v1alpha1, all namespaced).
namespace kinds {
inline const kube::GroupVersionResource kModels{"agentd.dev", "v1alpha1", "models"};
inline const kube::GroupVersionResource kInstructions{"agentd.dev", "v1alpha1", "instructions"};
inline const kube::GroupVersionResource kAgents{"agentd.dev", "v1alpha1", "agents"};
inline const kube::GroupVersionResource kBudgets{"agentd.dev", "v1alpha1", "budgets"};
inline const kube::GroupVersionResource kTierPolicies{"agentd.dev", "v1alpha1", "tierpolicies"};
inline const kube::GroupVersionResource kRuns{"agentd.dev", "v1alpha1", "runs"};
}  // namespace kinds

enum class ConditionStatus { kTrue, kFalse, kUnknown };
std::string_view ConditionStatusName(ConditionStatus status);  // "True", "False", "Unknown"

struct Condition {
  std::string type;  // "Ready"
  ConditionStatus status = ConditionStatus::kUnknown;
  std::string reason;  // CamelCase, e.g. "UnknownModel"
  std::string message;
  int64_t observed_generation = 0;
};

// Sets `condition` in `conditions` (a JSON array; made one when it is not), replacing the entry of
// the same type. lastTransitionTime is kept when the status is unchanged, else `transition_time`.
// Returns true when the array changed.
bool SetCondition(core::Json& conditions, const Condition& condition,
                  core::TimePoint transition_time);

// The condition of `type` in `conditions`, or nullptr.
const core::Json* FindCondition(const core::Json& conditions, std::string_view type);

// True when `object`'s status has a condition `type` with status "True".
bool IsConditionTrue(const core::Json& object, std::string_view type);

// "budget_exceeded" -> "BudgetExceeded"; "" stays "".
std::string CamelCaseReason(std::string_view snake);

}  // namespace agentd::operator_
