// Building what the runner starts with: pure functions over a run and a catalog snapshot.
#pragma once

#include <chrono>
#include <filesystem>

#include "api/v1/runner_protocol.h"
#include "catalog/snapshot.h"
#include "core/result.h"
#include "runs/run.h"

namespace agentd::scheduler {

// How long a run may execute once started: its own deadline when set, else its agent's
// limits.timeout, else `fallback` (agent missing from the catalog, or a zero timeout).
std::chrono::seconds RunTimeout(const runs::Run& run, const resources::Agent* agent,
                                std::chrono::seconds fallback);

// The RunnerSpec for the current attempt of `run`: the agent's role, tools and limits, its model
// (prices, the name of the env var holding the API key, never the key), the system prompt
// composed by catalog::ComposeSystemPrompt, and the workspace workspace_root/<run id>.
// Errors: kFailedPrecondition when the agent or its model is no longer in the snapshot or the
// agent's runtime is not `llm`; kInvalidArgument when workspace_root is not absolute.
core::Result<api::v1::RunnerSpec> BuildRunnerSpec(
    const runs::Run& run, const catalog::Snapshot& snapshot,
    const std::filesystem::path& workspace_root,
    std::chrono::seconds fallback_timeout = std::chrono::seconds(900));

}  // namespace agentd::scheduler
