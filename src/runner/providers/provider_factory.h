// Builds the ModelProvider a RunnerSpec names. "openai" and "openai-compatible" use
// OpenAiProvider; "anthropic" is not built yet and is refused with a clear error.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "api/v1/runner_protocol.h"
#include "core/clock.h"
#include "httpclient/http_client.h"
#include "runner/model_provider.h"
#include "runner/providers/openai_provider.h"
#include "runner/stop_signal.h"

namespace agentd::runner {

inline constexpr char kDefaultOpenAiBaseUrl[] = "https://api.openai.com/v1";

struct ProviderDeps {
  httpclient::HttpTransport* transport = nullptr;  // not owned; outlives the provider
  const StopSignal* stop = nullptr;                // cancels calls and backoff waits
  const core::Clock* clock = nullptr;
  std::chrono::milliseconds retry_base_delay{500};
  std::function<void(const RetryNotice&)> on_retry;
  // Reads an environment variable (the API key); default core::GetEnv.
  std::function<std::optional<std::string>(const char*)> get_env;
};

// kInvalidArgument for an unknown or unsupported provider or a missing base URL;
// kFailedPrecondition when provider "openai" names an API key variable that is not set, or names
// none (a Model whose apiKey is only a secretRef, run outside Kubernetes).
core::Result<std::unique_ptr<ModelProvider>> NewModelProvider(const api::v1::RunnerModel& model,
                                                              const ProviderDeps& deps);

}  // namespace agentd::runner
