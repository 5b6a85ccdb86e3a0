#include "runner/providers/provider_factory.h"

#include "core/env.h"
#include "core/log.h"

namespace agentd::runner {

core::Result<std::unique_ptr<ModelProvider>> NewModelProvider(const api::v1::RunnerModel& model,
                                                              const ProviderDeps& deps) {
  AGENTD_CHECK(deps.transport != nullptr) << "NewModelProvider needs a transport";
  if (model.provider == "anthropic") {
    return core::InvalidArgument("provider anthropic is not supported by the runner yet");
  }
  if (model.provider != "openai" && model.provider != "openai-compatible") {
    return core::InvalidArgument("unknown model provider \"" + model.provider.substr(0, 64) +
                                 "\" (openai, openai-compatible)");
  }
  if (model.model.empty()) return core::InvalidArgument("runner spec model has no model id");
  if (model.provider == "openai" && model.api_key_env.empty()) {
    // A Model whose apiKey is only a secretRef: Kubernetes pods get the Secret (the executor names
    // the variable), but nothing can hand it to a local run; fail before a call answers 401.
    return core::FailedPrecondition(
        "the model has no API key for this run: local runs read the Model's apiKey.env (an "
        "environment variable of agentd); apiKey.secretRef reaches only Kubernetes pods");
  }
  OpenAiOptions options;
  options.model = model.model;
  options.base_url = model.base_url;
  if (options.base_url.empty()) {
    if (model.provider != "openai") {
      return core::InvalidArgument("provider openai-compatible needs a baseUrl");
    }
    options.base_url = kDefaultOpenAiBaseUrl;
  }
  options.max_tokens_field = model.provider == "openai" ? MaxTokensField::kMaxCompletionTokens
                                                        : MaxTokensField::kMaxTokens;
  if (!model.api_key_env.empty()) {
    auto get_env = deps.get_env ? deps.get_env : [](const char* n) { return core::GetEnv(n); };
    auto key = get_env(model.api_key_env.c_str());
    if (key) {
      options.api_key = *key;
    } else if (model.provider == "openai") {
      return core::FailedPrecondition("the model's API key variable " + model.api_key_env +
                                      " is not set");
    } else {
      core::LogWarn("model API key variable is not set; calling without a key",
                    {{"variable", model.api_key_env}});
    }
  }
  options.request_timeout = model.request_timeout;
  options.retry.max_retries = std::max(0, model.max_retries);
  options.retry.base_delay = deps.retry_base_delay;
  options.clock = deps.clock;
  options.on_retry = deps.on_retry;
  if (deps.stop != nullptr) {
    const StopSignal* stop = deps.stop;
    options.cancel = stop->flag();
    options.sleep = [stop](std::chrono::milliseconds d) { return stop->SleepFor(d); };
  }
  return std::unique_ptr<ModelProvider>(
      std::make_unique<OpenAiProvider>(*deps.transport, std::move(options)));
}

}  // namespace agentd::runner
