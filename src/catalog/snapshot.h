// Snapshot: one immutable, validated set of objects (every kind of resources/types.h). Sources (a
// directory of YAML, Kubernetes informers) build a new Snapshot and swap it into the Catalog whole;
// readers hold a shared_ptr to the one they started with, so a reload never disturbs a run in
// flight.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "resources/types.h"

namespace agentd::catalog {

struct Snapshot {
  uint64_t generation = 0;  // increases with every accepted reload
  std::string origin;       // e.g. "dir:/etc/agentd" or "kubernetes:agentd"
  std::map<std::string, resources::Model, std::less<>> models;
  std::map<std::string, resources::Instruction, std::less<>> instructions;
  std::map<std::string, resources::Agent, std::less<>> agents;
  std::map<std::string, resources::Budget, std::less<>> budgets;
  // At most one per tier (ValidateReferences); governance/policy.h ResolveTierPolicy picks the
  // one of a tier.
  std::map<std::string, resources::TierPolicy, std::less<>> tier_policies;
  // Where each object was read from, keyed "Kind/name": "examples/agents.yaml:12". May be
  // empty for objects that did not come from a file.
  std::map<std::string, std::string, std::less<>> locations;

  const resources::Agent* FindAgent(std::string_view name) const {
    auto it = agents.find(name);
    return it == agents.end() ? nullptr : &it->second;
  }
  const resources::Model* FindModel(std::string_view name) const {
    auto it = models.find(name);
    return it == models.end() ? nullptr : &it->second;
  }
  const resources::Instruction* FindInstruction(std::string_view name) const {
    auto it = instructions.find(name);
    return it == instructions.end() ? nullptr : &it->second;
  }
  const resources::Budget* FindBudget(std::string_view name) const {
    auto it = budgets.find(name);
    return it == budgets.end() ? nullptr : &it->second;
  }
  // "examples/agents.yaml:12", or "" when unknown.
  std::string LocationOf(std::string_view kind, std::string_view name) const {
    auto it = locations.find(std::string(kind) + "/" + std::string(name));
    return it == locations.end() ? std::string() : it->second;
  }
  // True when both hold the same objects (generation, origin and locations aside).
  bool SameObjectsAs(const Snapshot& other) const {
    return models == other.models && instructions == other.instructions && agents == other.agents &&
           budgets == other.budgets && tier_policies == other.tier_policies;
  }
};

// Holds the current Snapshot. Thread-safe; Current() is cheap (a shared_ptr copy under a mutex).
class Catalog {
 public:
  Catalog() : current_(std::make_shared<const Snapshot>()) {}
  std::shared_ptr<const Snapshot> Current() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  void Replace(std::shared_ptr<const Snapshot> next) {
    std::lock_guard lock(mu_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
};

}  // namespace agentd::catalog
