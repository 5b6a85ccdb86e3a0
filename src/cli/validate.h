// `agentctl validate DIR`: the governance check of a directory of objects for CI pipelines
// (seed 004's "check budget compliance" step). Offline: reads files only, talks to no server.
//
// It reads every *.yaml, *.yml and *.json file under DIR as the server does
// (catalog::CheckDirectory) and reports every problem, not just the first, each as
// `file:line: message` (the line where the object starts for checks across fields):
//   - schema: each object as the codec decodes it (resources/codec.h); one bad object does not
//     hide the others;
//   - references: names defined twice, an Agent's model or instructions, a Budget's scope.agent,
//     two TierPolicy objects of one tier (catalog/references.h);
//   - tiers: an Agent without a tier ("has no tier"), and every way an Agent loosens its tier's
//     policy (governance/policy.h CheckAgentAgainstTier, the rule name in brackets);
//   - budgets: an Agent that no Budget covers (no budget whose scope matches every run of it,
//     whoever submits it), a Budget whose timeZone cannot be loaded;
//   - images: an Agent spec.image not pinned by digest (`...@sha256:<64 lowercase hex>`); no
//     image is fine.
#pragma once

#include <cstddef>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "core/result.h"

namespace agentd::cli {

struct ValidateOptions {
  // Where Budget time zones are loaded from (governance::TimeZone::Load).
  std::string zoneinfo_dir = "/usr/share/zoneinfo";
};

struct ValidationReport {
  size_t files = 0;                   // object files read
  size_t objects = 0;                 // documents decoded, valid or not
  std::vector<std::string> problems;  // "file:line: message"; empty when the directory is clean
};

// Errors only when DIR cannot be listed: kNotFound when it does not exist, kInvalidArgument when
// it is not a directory (as catalog::CheckDirectory).
core::Result<ValidationReport> ValidateDirectory(const std::filesystem::path& dir,
                                                 const ValidateOptions& options = {});

// Runs ValidateDirectory and prints each problem on `err`, then the summary line on `out`:
// "checked 12 objects in 3 files: 0 problems". Returns 0 when clean, 1 when there is any problem
// (a directory that cannot be read is one, printed on `err`).
int RunValidate(const std::filesystem::path& dir, std::ostream& out, std::ostream& err);
int RunValidate(const std::filesystem::path& dir, std::ostream& out, std::ostream& err,
                const ValidateOptions& options);

// True for an image reference pinned by digest: "<name>@sha256:<64 lowercase hex digits>"
// ("ghcr.io/x/agent:1.2@sha256:..." included).
bool IsPinnedImage(std::string_view image);

}  // namespace agentd::cli
