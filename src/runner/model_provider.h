// ModelProvider: one chat-completion call to a language model, provider-neutral.
//
// The agent loop builds a ChatRequest (the conversation so far and the tools it may call), and a
// provider turns it into the provider's wire format, streams the answer back (text deltas go to
// `on_text` as they arrive) and returns the whole assistant turn with its token usage.
// Implementations: OpenAiProvider (providers/openai_provider.h) for "openai" and
// "openai-compatible". There is no Anthropic provider yet.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace agentd::runner {

enum class Role { kSystem, kUser, kAssistant, kTool };
std::string_view RoleName(Role role);  // "system", "user", "assistant", "tool"

struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;  // JSON text exactly as the model produced it (may be malformed)
};

struct ChatMessage {
  Role role = Role::kUser;
  std::string content;
  std::vector<ToolCall> tool_calls;  // assistant messages only
  std::string tool_call_id;          // tool messages only: the call this answers
};

struct ToolSpec {
  std::string name;
  std::string description;
  core::Json parameters;  // JSON Schema of the arguments object
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  std::vector<ToolSpec> tools;
  int64_t max_tokens = 4096;  // output tokens for this call
};

struct TokenUsage {
  int64_t prompt_tokens = 0;  // all input tokens, cached ones included
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;  // the part of prompt_tokens served from the provider's cache
};

struct ModelTurn {
  std::string text;
  std::vector<ToolCall> tool_calls;
  std::string finish_reason;  // "stop", "tool_calls", "length", ... as the provider said
  TokenUsage usage;
};

using TextSink = std::function<void(std::string_view delta)>;

class ModelProvider {
 public:
  virtual ~ModelProvider() = default;

  // Runs one completion. Text deltas are passed to `on_text` in order as they arrive (their
  // concatenation equals the returned text for the successful attempt). Transient failures are
  // retried inside the provider according to its retry policy, so an error returned here is
  // final: kAborted when cancelled, kUnavailable / kDeadlineExceeded / kResourceExhausted when
  // retries ran out, kUnauthenticated / kPermissionDenied / kInvalidArgument / kNotFound for
  // requests the provider refused. Messages never contain API keys.
  virtual core::Result<ModelTurn> Complete(const ChatRequest& request, const TextSink& on_text) = 0;
};

}  // namespace agentd::runner
