#include "cli/validate.h"

#include <algorithm>
#include <charconv>
#include <tuple>
#include <utility>

#include "catalog/directory_source.h"
#include "governance/budget_period.h"
#include "governance/policy.h"
#include "resources/types.h"

namespace agentd::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTeamLabel = "team";

// A problem found here, kept with its location so that they can be listed in file order.
struct Located {
  std::string file;
  int line = 0;
  std::string text;  // "file:line: message"
};

Located MakeProblem(const std::string& location, std::string_view kind, std::string_view name,
                    const std::string& message) {
  Located out;
  // "path/to/file.yaml:12": the line is after the last ':' (paths may hold ':' too).
  size_t colon = location.rfind(':');
  out.file = location;
  if (colon != std::string::npos) {
    int line = 0;
    const char* begin = location.data() + colon + 1;
    const char* end = location.data() + location.size();
    auto [ptr, ec] = std::from_chars(begin, end, line);
    if (ec == std::errc() && ptr == end) {
      out.file = location.substr(0, colon);
      out.line = line;
    }
  }
  out.text = (location.empty() ? "" : location + ": ") + std::string(kind) + " \"" +
             std::string(name) + "\": " + message;
  return out;
}

std::string Plural(size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

governance::RunAttribution AttributionOf(const resources::Agent& agent) {
  governance::RunAttribution run;
  run.agent = agent.metadata.name;
  auto team = agent.metadata.labels.find(std::string(kTeamLabel));
  if (team != agent.metadata.labels.end()) run.team = team->second;
  run.namespace_ = agent.metadata.namespace_;
  run.tier = agent.spec.tier;
  // No caller: a budget scoped to one API key does not cover the agent's runs by others.
  return run;
}

void CheckAgent(const catalog::Snapshot& snapshot, const resources::Agent& agent,
                std::vector<Located>* problems) {
  const std::string& name = agent.metadata.name;
  const std::string location = snapshot.LocationOf("Agent", name);
  auto add = [&](const std::string& message) {
    problems->push_back(MakeProblem(location, "Agent", name, message));
  };

  if (agent.spec.tier == 0) {
    add("has no tier (set spec.tier to 1-4 so that a tier policy applies)");
  } else {
    resources::TierPolicySpec tier =
        governance::ResolveTierPolicy(agent.spec.tier, snapshot.tier_policies);
    for (const governance::PolicyViolation& violation :
         governance::CheckAgentAgainstTier(agent, tier)) {
      add(violation.field + ": " + violation.message + " [" + violation.rule + "]");
    }
  }

  const governance::RunAttribution run = AttributionOf(agent);
  bool covered = std::any_of(
      snapshot.budgets.begin(), snapshot.budgets.end(),
      [&](const auto& entry) { return governance::BudgetApplies(entry.second.spec, run); });
  if (!covered) {
    add("is not covered by any Budget (add one whose scope matches it, such as {agent: " + name +
        "}, or an organisation budget with scope {})");
  }

  if (!agent.spec.image.empty() && !IsPinnedImage(agent.spec.image)) {
    add("spec.image \"" + agent.spec.image +
        "\" is not pinned by digest (want <image>@sha256:<64 lowercase hex digits>)");
  }
}

void CheckBudget(const catalog::Snapshot& snapshot, const resources::Budget& budget,
                 const ValidateOptions& options, std::vector<Located>* problems) {
  const std::string& name = budget.metadata.name;
  auto zone = governance::TimeZone::Load(budget.spec.time_zone, options.zoneinfo_dir);
  if (!zone.ok()) {
    problems->push_back(MakeProblem(snapshot.LocationOf("Budget", name), "Budget", name,
                                    "spec.timeZone cannot be loaded: " + zone.error().message));
  }
}

}  // namespace

bool IsPinnedImage(std::string_view image) {
  constexpr std::string_view kMarker = "@sha256:";
  size_t at = image.rfind(kMarker);
  if (at == std::string_view::npos || at == 0) return false;
  std::string_view digest = image.substr(at + kMarker.size());
  return digest.size() == 64 && std::all_of(digest.begin(), digest.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

core::Result<ValidationReport> ValidateDirectory(const fs::path& dir,
                                                 const ValidateOptions& options) {
  AGENTD_ASSIGN_OR_RETURN(catalog::DirectoryReport loaded, catalog::CheckDirectory(dir));
  ValidationReport report;
  report.files = loaded.files;
  report.objects = loaded.objects;
  report.problems = std::move(loaded.problems);

  const catalog::Snapshot& snapshot = loaded.snapshot;
  std::vector<Located> governance_problems;
  for (const auto& [name, agent] : snapshot.agents) {
    CheckAgent(snapshot, agent, &governance_problems);
  }
  for (const auto& [name, budget] : snapshot.budgets) {
    CheckBudget(snapshot, budget, options, &governance_problems);
  }
  std::stable_sort(governance_problems.begin(), governance_problems.end(),
                   [](const Located& a, const Located& b) {
                     return std::tie(a.file, a.line) < std::tie(b.file, b.line);
                   });
  for (Located& problem : governance_problems) report.problems.push_back(std::move(problem.text));
  return report;
}

int RunValidate(const fs::path& dir, std::ostream& out, std::ostream& err) {
  return RunValidate(dir, out, err, ValidateOptions{});
}

int RunValidate(const fs::path& dir, std::ostream& out, std::ostream& err,
                const ValidateOptions& options) {
  auto report = ValidateDirectory(dir, options);
  if (!report.ok()) {
    err << report.error().message << "\n";
    out << "checked 0 objects in 0 files: 1 problem\n";
    return 1;
  }
  for (const std::string& problem : report->problems) err << problem << "\n";
  out << "checked " << Plural(report->objects, "object") << " in " << Plural(report->files, "file")
      << ": " << Plural(report->problems.size(), "problem") << "\n";
  return report->problems.empty() ? 0 : 1;
}

}  // namespace agentd::cli
