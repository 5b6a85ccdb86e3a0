#include "runner/providers/openai_provider.h"

#include <thread>

#include "httpclient/sse.h"
#include "runner/text_limits.h"

namespace agentd::runner {
namespace {

using core::Json;

constexpr size_t kMaxChunkBytes = 1 << 20;
constexpr size_t kMaxToolCalls = 128;
// A 2xx body that is not an event stream is kept up to this size to parse it as one document.
constexpr size_t kMaxPlainBodyBytes = 8 << 20;

Json MessageToJson(const ChatMessage& m) {
  Json j = {{"role", RoleName(m.role)}};
  switch (m.role) {
    case Role::kAssistant:
      if (m.tool_calls.empty()) {
        j["content"] = m.content;
      } else {
        j["content"] = m.content.empty() ? Json(nullptr) : Json(m.content);
        Json calls = Json::array();
        for (const auto& c : m.tool_calls) {
          calls.push_back({{"id", c.id},
                           {"type", "function"},
                           {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
        }
        j["tool_calls"] = std::move(calls);
      }
      break;
    case Role::kTool:
      j["tool_call_id"] = m.tool_call_id;
      j["content"] = m.content;
      break;
    case Role::kSystem:
    case Role::kUser:
      j["content"] = m.content;
      break;
  }
  return j;
}

int64_t IntOr(const Json& obj, const char* key, int64_t fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return fallback;
  return it->is_number_integer() ? it->get<int64_t>() : static_cast<int64_t>(it->get<double>());
}

TokenUsage ParseUsage(const Json& usage) {
  TokenUsage u;
  u.prompt_tokens = IntOr(usage, "prompt_tokens", 0);
  u.completion_tokens = IntOr(usage, "completion_tokens", 0);
  if (auto d = usage.find("prompt_tokens_details"); d != usage.end() && d->is_object()) {
    u.cached_tokens = IntOr(*d, "cached_tokens", 0);
  }
  u.cached_tokens = std::clamp<int64_t>(u.cached_tokens, 0, u.prompt_tokens);
  return u;
}

// The message of an OpenAI-style error document, or a prefix of the body.
std::string ErrorMessageOf(std::string_view body) {
  auto doc = core::ParseJson(body, {.max_bytes = 64 * 1024, .max_depth = 16});
  if (doc.ok() && doc->is_object()) {
    const Json& e = doc->contains("error") ? (*doc)["error"] : *doc;
    if (e.is_object() && e.contains("message") && e["message"].is_string()) {
      return std::string(Utf8Prefix(e["message"].get<std::string>(), 500));
    }
    if (e.is_string()) return std::string(Utf8Prefix(e.get<std::string>(), 500));
  }
  return std::string(Utf8Prefix(body, 300));
}

core::Error ErrorForStatus(int status, const std::string& message) {
  std::string what = "model server answered HTTP " + std::to_string(status) + ": " + message;
  switch (status) {
    case 400:
    case 422:
      return core::InvalidArgument(what);
    case 401:
      return core::Unauthenticated(what);
    case 403:
      return core::PermissionDenied(what);
    case 404:
      return core::NotFound(what);
    case 429:
      return core::ResourceExhausted(what);
    default:
      return core::Unavailable(what);
  }
}

}  // namespace

Json BuildChatCompletionBody(const ChatRequest& request, std::string_view model,
                             MaxTokensField max_tokens_field) {
  Json messages = Json::array();
  for (const auto& m : request.messages) messages.push_back(MessageToJson(m));
  Json body = {{"model", model},
               {"messages", std::move(messages)},
               {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (request.max_tokens > 0) {
    body[max_tokens_field == MaxTokensField::kMaxCompletionTokens ? "max_completion_tokens"
                                                                  : "max_tokens"] =
        request.max_tokens;
  }
  if (!request.tools.empty()) {
    Json tools = Json::array();
    for (const auto& t : request.tools) {
      tools.push_back(
          {{"type", "function"},
           {"function",
            {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}});
    }
    body["tools"] = std::move(tools);
  }
  return body;
}

core::Status ChatStreamAccumulator::OnData(std::string_view data, const TextSink& on_text) {
  if (data == "[DONE]") {
    done_ = true;
    return core::Ok();
  }
  AGENTD_ASSIGN_OR_RETURN(Json chunk,
                          core::ParseJson(data, {.max_bytes = kMaxChunkBytes, .max_depth = 64}));
  if (!chunk.is_object()) return core::InvalidArgument("model stream chunk is not a JSON object");
  saw_chunk_ = true;
  if (auto e = chunk.find("error"); e != chunk.end() && !e->is_null()) {
    return core::Unavailable("model stream reported an error: " + ErrorMessageOf(chunk.dump()));
  }
  if (auto u = chunk.find("usage"); u != chunk.end() && u->is_object()) usage_ = ParseUsage(*u);
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array() || choices->empty()) return core::Ok();
  const Json* choice = &(*choices)[0];
  for (const auto& c : *choices) {
    if (c.is_object() && IntOr(c, "index", 0) == 0) {
      choice = &c;
      break;
    }
  }
  if (!choice->is_object()) return core::InvalidArgument("model stream choice is not an object");
  if (auto f = choice->find("finish_reason"); f != choice->end() && f->is_string()) {
    finish_reason_ = f->get<std::string>();
  }
  auto delta = choice->find("delta");
  if (delta == choice->end() || !delta->is_object()) return core::Ok();
  if (auto c = delta->find("content"); c != delta->end() && c->is_string()) {
    const auto& piece = c->get_ref<const std::string&>();
    if (!piece.empty()) {
      text_ += piece;
      if (on_text) on_text(piece);
    }
  }
  if (auto calls = delta->find("tool_calls"); calls != delta->end() && calls->is_array()) {
    for (const auto& call : *calls) {
      if (!call.is_object()) continue;
      std::string id;
      if (auto i = call.find("id"); i != call.end() && i->is_string()) id = i->get<std::string>();
      int64_t index = IntOr(call, "index", -1);
      if (index < 0) {
        // Servers that omit the index: a new id starts a new call, fragments continue the last.
        bool new_call = last_index_ < 0 || (!id.empty() && tool_calls_[last_index_].id != id &&
                                            !tool_calls_[last_index_].id.empty());
        index = new_call ? last_index_ + 1 : last_index_;
      }
      if (!tool_calls_.contains(index) && tool_calls_.size() >= kMaxToolCalls) {
        return core::InvalidArgument("model stream has more than 128 tool calls");
      }
      ToolCall& tc = tool_calls_[index];
      last_index_ = index;
      if (!id.empty()) tc.id = id;
      if (auto fn = call.find("function"); fn != call.end() && fn->is_object()) {
        if (auto n = fn->find("name"); n != fn->end() && n->is_string()) {
          tc.name += n->get<std::string>();
        }
        if (auto a = fn->find("arguments"); a != fn->end() && a->is_string()) {
          tc.arguments += a->get<std::string>();
        }
      }
    }
  }
  return core::Ok();
}

core::Result<ModelTurn> ChatStreamAccumulator::Finish() const {
  if (!complete()) {
    return core::Unavailable("model stream ended early (no finish_reason and no [DONE])");
  }
  ModelTurn turn;
  turn.text = text_;
  turn.finish_reason = finish_reason_.empty() ? "stop" : finish_reason_;
  turn.usage = usage_;
  for (const auto& [index, call] : tool_calls_) {
    ToolCall c = call;
    if (c.id.empty()) c.id = "call_" + std::to_string(index);
    turn.tool_calls.push_back(std::move(c));
  }
  return turn;
}

core::Result<ModelTurn> ParseChatCompletion(const Json& doc) {
  if (!doc.is_object()) return core::InvalidArgument("chat completion is not a JSON object");
  if (auto e = doc.find("error"); e != doc.end() && !e->is_null()) {
    return core::Unavailable("model server reported an error: " + ErrorMessageOf(doc.dump()));
  }
  auto choices = doc.find("choices");
  if (choices == doc.end() || !choices->is_array() || choices->empty() ||
      !(*choices)[0].is_object()) {
    return core::InvalidArgument("chat completion has no choices");
  }
  const Json& choice = (*choices)[0];
  ModelTurn turn;
  turn.finish_reason = choice.value("finish_reason", "stop");
  if (auto m = choice.find("message"); m != choice.end() && m->is_object()) {
    if (auto c = m->find("content"); c != m->end() && c->is_string()) {
      turn.text = c->get<std::string>();
    }
    if (auto calls = m->find("tool_calls"); calls != m->end() && calls->is_array()) {
      for (const auto& call : *calls) {
        if (!call.is_object()) continue;
        ToolCall tc;
        tc.id = call.value("id", "");
        if (auto fn = call.find("function"); fn != call.end() && fn->is_object()) {
          tc.name = fn->value("name", "");
          if (auto a = fn->find("arguments"); a != fn->end()) {
            tc.arguments = a->is_string() ? a->get<std::string>() : a->dump();
          }
        }
        if (tc.id.empty()) tc.id = "call_" + std::to_string(turn.tool_calls.size());
        turn.tool_calls.push_back(std::move(tc));
      }
    }
  }
  if (auto u = doc.find("usage"); u != doc.end() && u->is_object()) turn.usage = ParseUsage(*u);
  return turn;
}

OpenAiProvider::OpenAiProvider(httpclient::HttpTransport& transport, OpenAiOptions options)
    : transport_(transport), options_(std::move(options)), rng_(std::random_device{}()) {}

double OpenAiProvider::NextJitter() {
  std::lock_guard lock(rng_mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
}

core::Result<ModelTurn> OpenAiProvider::Complete(const ChatRequest& request,
                                                 const TextSink& on_text) {
  std::string body =
      core::DumpJson(BuildChatCompletionBody(request, options_.model, options_.max_tokens_field));
  const core::Clock& clock =
      options_.clock != nullptr ? *options_.clock : core::SystemClock::Instance();
  for (int attempt = 1;; ++attempt) {
    if (options_.cancel != nullptr && options_.cancel->load()) {
      return core::Aborted("model call cancelled");
    }
    AttemptFailure failure;
    auto turn = CompleteOnce(body, on_text, failure);
    if (turn.ok() || !failure.retryable) return turn;
    RetryDecision decision = DecideRetry(options_.retry, {.attempt = attempt,
                                                          .http_status = failure.http_status,
                                                          .retry_after = failure.retry_after,
                                                          .now = clock.Now(),
                                                          .jitter = NextJitter()});
    if (!decision.retry) {
      return turn.error().Wrap("model call failed after " + std::to_string(attempt) +
                               (attempt == 1 ? " attempt" : " attempts"));
    }
    if (options_.on_retry) {
      options_.on_retry({.attempt = attempt,
                         .max_retries = options_.retry.max_retries,
                         .delay = decision.delay,
                         .error = turn.error().message});
    }
    bool slept = true;
    if (options_.sleep) {
      slept = options_.sleep(decision.delay);
    } else {
      std::this_thread::sleep_for(decision.delay);
    }
    if (!slept) return core::Aborted("model call cancelled while waiting to retry");
  }
}

core::Result<ModelTurn> OpenAiProvider::CompleteOnce(const std::string& body,
                                                     const TextSink& on_text,
                                                     AttemptFailure& failure) {
  std::string base = options_.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  httpclient::Request request;
  request.method = "POST";
  request.url = base + "/chat/completions";
  request.headers = {{"Content-Type", "application/json"}, {"Accept", "text/event-stream"}};
  if (!options_.api_key.empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
  }
  request.body = body;
  request.connect_timeout = options_.connect_timeout;
  request.idle_timeout = options_.request_timeout;
  request.cancel = options_.cancel;

  httpclient::SseParser parser(kMaxChunkBytes);
  ChatStreamAccumulator accumulator;
  core::Status stream_status;
  std::string plain_body;
  bool saw_event = false;
  auto response = transport_.SendStreaming(request, [&](std::string_view bytes) {
    if (!saw_event && plain_body.size() + bytes.size() <= kMaxPlainBodyBytes) {
      plain_body.append(bytes);
    }
    core::Status fed = parser.Feed(bytes, [&](const httpclient::SseEvent& event) {
      saw_event = true;
      if (stream_status.ok()) stream_status = accumulator.OnData(event.data, on_text);
    });
    if (!fed.ok() && stream_status.ok()) stream_status = fed;
    return stream_status.ok();
  });

  if (!stream_status.ok()) {
    failure.retryable = stream_status.error().code == core::ErrorCode::kUnavailable;
    return stream_status.error();
  }
  if (!response.ok()) {
    const core::Error& error = response.error();
    if (options_.cancel != nullptr && options_.cancel->load()) {
      return core::Aborted("model call cancelled");
    }
    // The answer was complete and only the tail (usage, [DONE]) was lost: keep the answer.
    if (accumulator.complete()) return accumulator.Finish();
    failure.retryable = error.code == core::ErrorCode::kUnavailable ||
                        error.code == core::ErrorCode::kDeadlineExceeded;
    return error;
  }
  int status = response->status;
  if (status < 200 || status >= 300) {
    failure.http_status = status;
    failure.retry_after = response->Header("retry-after");
    failure.retryable = IsRetryableStatus(status);
    return ErrorForStatus(status, ErrorMessageOf(response->body));
  }
  if (!saw_event) {
    // Not an event stream: a server that ignored stream:true answers with one document.
    auto doc = core::ParseJson(plain_body, {.max_bytes = kMaxPlainBodyBytes, .max_depth = 64});
    if (!doc.ok()) {
      failure.retryable = true;
      return core::Unavailable("model server sent neither an event stream nor JSON: " +
                               doc.error().message);
    }
    auto turn = ParseChatCompletion(*doc);
    if (turn.ok() && on_text && !turn->text.empty()) on_text(turn->text);
    if (!turn.ok()) failure.retryable = turn.error().code == core::ErrorCode::kUnavailable;
    return turn;
  }
  auto turn = accumulator.Finish();
  if (!turn.ok()) failure.retryable = true;
  return turn;
}

}  // namespace agentd::runner
