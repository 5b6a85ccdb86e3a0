// OpenAiProvider: ModelProvider for the OpenAI Chat Completions API and the servers that copy it
// (llama.cpp, vLLM, Ollama, llama-swap, LiteLLM): providers "openai" and "openai-compatible".
//
// One call is POST {base_url}/chat/completions with stream:true and
// stream_options.include_usage:true, read as server-sent events: choices[0].delta.content
// (text, passed on as it arrives), delta.tool_calls[] (id, function.name and function.arguments
// fragments concatenated per index across chunks), finish_reason, the final usage chunk (empty
// choices) and `data: [DONE]`. A server that ignores stream:true and answers with one JSON
// document is accepted too. A stream that ends before [DONE] and before any finish_reason is a
// retryable error (kUnavailable).
//
// Retries: 408, 429, 5xx, connection failures, idle timeouts and cut streams are retried per
// RetryPolicy (Retry-After honoured); each retry is announced through on_retry and the wait
// uses the interruptible `sleep`. Text from a failed attempt has already been passed to
// on_text; the returned ModelTurn holds only the successful attempt's text.
//
// The API key is sent as "Authorization: Bearer" and never logged or put in messages.
// Thread-compatible: one call at a time per instance.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "core/clock.h"
#include "httpclient/http_client.h"
#include "runner/model_provider.h"
#include "runner/retry_policy.h"

namespace agentd::runner {

// Which request field carries the output token limit: OpenAI's own API wants
// max_completion_tokens (newer models reject max_tokens); most compatible servers want
// max_tokens.
enum class MaxTokensField { kMaxTokens, kMaxCompletionTokens };

struct RetryNotice {
  int attempt = 0;  // the attempt that failed, from 1
  int max_retries = 0;
  std::chrono::milliseconds delay{0};
  std::string error;  // why it failed
};

struct OpenAiOptions {
  std::string base_url;  // ".../v1"; "/chat/completions" is appended
  std::string model;
  std::string api_key;  // empty: no Authorization header
  MaxTokensField max_tokens_field = MaxTokensField::kMaxTokens;
  std::chrono::milliseconds connect_timeout{10'000};
  // Longest silence allowed while waiting for and reading the stream.
  std::chrono::milliseconds request_timeout{120'000};
  RetryPolicy retry;
  const std::atomic<bool>* cancel = nullptr;  // abort the call when it becomes true
  // Interruptible sleep for the backoff; returns false if interrupted. Default: sleep_for.
  std::function<bool(std::chrono::milliseconds)> sleep;
  std::function<void(const RetryNotice&)> on_retry;
  const core::Clock* clock = nullptr;  // for Retry-After dates; default: SystemClock
};

// The JSON body of a streaming chat completion request (pure; for tests and logs).
core::Json BuildChatCompletionBody(const ChatRequest& request, std::string_view model,
                                   MaxTokensField max_tokens_field);

// Folds the `data:` payloads of one streamed completion into a ModelTurn (pure, no I/O).
class ChatStreamAccumulator {
 public:
  // One SSE data payload: a chat.completion.chunk JSON document or "[DONE]". Text deltas go to
  // on_text. kInvalidArgument for malformed chunks, kUnavailable for an error object in the
  // stream.
  core::Status OnData(std::string_view data, const TextSink& on_text);
  // True once [DONE] or a finish_reason has been seen.
  bool complete() const { return done_ || !finish_reason_.empty(); }
  bool saw_chunk() const { return saw_chunk_; }
  // The turn; kUnavailable if the stream was not complete.
  core::Result<ModelTurn> Finish() const;

 private:
  std::string text_;
  std::map<int64_t, ToolCall> tool_calls_;  // by index
  int64_t last_index_ = -1;
  std::string finish_reason_;
  TokenUsage usage_;
  bool done_ = false;
  bool saw_chunk_ = false;
};

// Parses a non-streaming chat.completion document.
core::Result<ModelTurn> ParseChatCompletion(const core::Json& doc);

class OpenAiProvider final : public ModelProvider {
 public:
  // `transport` must outlive the provider.
  OpenAiProvider(httpclient::HttpTransport& transport, OpenAiOptions options);

  core::Result<ModelTurn> Complete(const ChatRequest& request, const TextSink& on_text) override;

 private:
  struct AttemptFailure {
    bool retryable = false;
    int http_status = 0;
    std::optional<std::string> retry_after;
  };
  core::Result<ModelTurn> CompleteOnce(const std::string& body, const TextSink& on_text,
                                       AttemptFailure& failure);
  double NextJitter();

  httpclient::HttpTransport& transport_;
  const OpenAiOptions options_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace agentd::runner
