#include "testing/fake_model_server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace agentd::testing {
namespace {

using core::Json;

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 16 << 20;
constexpr int64_t kCreated = 1'800'000'000;

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

bool SendSimple(int fd, int status, std::string_view content_type, std::string_view body,
                const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) + "\r\n";
  head += "Content-Type: " + std::string(content_type) + "\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& [k, v] : extra) head += k + ": " + v + "\r\n";
  head += "Connection: close\r\n\r\n";
  return SendAll(fd, head) && SendAll(fd, body);
}

Json ErrorDocument(std::string message, std::string type) {
  return {{"error",
           {{"message", std::move(message)},
            {"type", std::move(type)},
            {"param", nullptr},
            {"code", nullptr}}}};
}

// Splits `text` into pieces of about `size` bytes without cutting a UTF-8 sequence.
std::vector<std::string> SplitUtf8(std::string_view text, size_t size) {
  std::vector<std::string> pieces;
  size = std::max<size_t>(size, 1);
  size_t i = 0;
  while (i < text.size()) {
    size_t end = std::min(text.size(), i + size);
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    pieces.emplace_back(text.substr(i, end - i));
    i = end;
  }
  return pieces;
}

std::string MessageText(const Json& message) {
  auto it = message.find("content");
  if (it == message.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  std::string out;
  if (it->is_array()) {
    for (const auto& part : *it) {
      if (part.is_object() && part.contains("text") && part["text"].is_string()) {
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

// The last message with `role`, or null.
const Json* LastMessage(const Json& request, std::string_view role) {
  auto it = request.find("messages");
  if (it == request.end() || !it->is_array()) return nullptr;
  for (auto m = it->rbegin(); m != it->rend(); ++m) {
    if (m->is_object() && m->value("role", "") == role) return &*m;
  }
  return nullptr;
}

Json UsageJson(const FakeUsage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}},
          {"completion_tokens_details", {{"reasoning_tokens", 0}}}};
}

template <typename T>
core::Status ReadField(const Json& obj, const char* key, T& out, const char* where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return core::Ok();
  try {
    out = it->get<T>();
  } catch (const Json::exception&) {
    return core::InvalidArgument(std::string("field \"") + key + "\" in " + where +
                                 " has the wrong type");
  }
  return core::Ok();
}

core::Status CheckKeys(const Json& obj, std::initializer_list<std::string_view> known,
                       const char* where) {
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return core::InvalidArgument("unknown field \"" + key + "\" in " + where);
    }
  }
  return core::Ok();
}

}  // namespace

std::optional<std::string> RecordedRequest::Header(std::string_view lowercase_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lowercase_name) return v;
  }
  return std::nullopt;
}

Json RecordedRequest::BodyJson() const {
  auto parsed = core::ParseJson(body, {.max_bytes = kMaxBodyBytes, .max_depth = 64});
  return parsed.ok() ? *parsed : core::Json();
}

core::Result<FakeReply> ParseFakeReply(const Json& j) {
  if (!j.is_object()) return core::InvalidArgument("each script response must be an object");
  AGENTD_RETURN_IF_ERROR(
      CheckKeys(j,
                {"text", "toolCalls", "status", "retryAfter", "body", "delayMs", "chunkDelayMs",
                 "cutAfterChunks", "cleanCut", "usage", "finishReason"},
                "script response"));
  FakeReply r;
  AGENTD_RETURN_IF_ERROR(ReadField(j, "text", r.text, "script response"));
  AGENTD_RETURN_IF_ERROR(ReadField(j, "status", r.status, "script response"));
  AGENTD_RETURN_IF_ERROR(ReadField(j, "finishReason", r.finish_reason, "script response"));
  AGENTD_RETURN_IF_ERROR(ReadField(j, "cleanCut", r.clean_cut, "script response"));
  if (auto it = j.find("retryAfter"); it != j.end()) {
    r.retry_after = it->is_string() ? it->get<std::string>() : it->dump();
  }
  if (auto it = j.find("body"); it != j.end()) {
    r.error_body = it->is_string() ? it->get<std::string>() : it->dump();
  }
  int64_t ms = 0;
  AGENTD_RETURN_IF_ERROR(ReadField(j, "delayMs", ms, "script response"));
  r.delay = std::chrono::milliseconds(ms);
  ms = 0;
  AGENTD_RETURN_IF_ERROR(ReadField(j, "chunkDelayMs", ms, "script response"));
  r.chunk_delay = std::chrono::milliseconds(ms);
  if (auto it = j.find("cutAfterChunks"); it != j.end()) {
    if (!it->is_number_integer() || it->get<int>() < 0) {
      return core::InvalidArgument("cutAfterChunks must be a non-negative integer");
    }
    r.cut_after_chunks = it->get<int>();
  }
  if (auto it = j.find("usage"); it != j.end()) {
    if (!it->is_object()) return core::InvalidArgument("usage must be an object");
    FakeUsage u;
    AGENTD_RETURN_IF_ERROR(ReadField(*it, "promptTokens", u.prompt_tokens, "usage"));
    AGENTD_RETURN_IF_ERROR(ReadField(*it, "completionTokens", u.completion_tokens, "usage"));
    AGENTD_RETURN_IF_ERROR(ReadField(*it, "cachedTokens", u.cached_tokens, "usage"));
    r.usage = u;
  }
  if (auto it = j.find("toolCalls"); it != j.end()) {
    if (!it->is_array()) return core::InvalidArgument("toolCalls must be an array");
    for (const auto& c : *it) {
      if (!c.is_object()) return core::InvalidArgument("each tool call must be an object");
      FakeToolCall call;
      AGENTD_RETURN_IF_ERROR(ReadField(c, "id", call.id, "tool call"));
      AGENTD_ASSIGN_OR_RETURN(call.name, core::RequiredString(c, "name", "tool call"));
      if (auto a = c.find("arguments"); a != c.end()) {
        call.arguments = a->is_string() ? a->get<std::string>() : a->dump();
      } else {
        call.arguments = "{}";
      }
      r.tool_calls.push_back(std::move(call));
    }
  }
  return r;
}

core::Result<FakeScript> ParseFakeScript(const Json& j) {
  if (!j.is_object()) return core::InvalidArgument("a fake model script must be a JSON object");
  AGENTD_RETURN_IF_ERROR(CheckKeys(j,
                                   {"model", "mode", "whenExhausted", "textChunkBytes",
                                    "argumentChunkBytes", "chunkDelayMs", "responses"},
                                   "script"));
  FakeScript s;
  AGENTD_RETURN_IF_ERROR(ReadField(j, "model", s.options.model, "script"));
  int64_t chunk_delay_ms = 0;
  AGENTD_RETURN_IF_ERROR(ReadField(j, "chunkDelayMs", chunk_delay_ms, "script"));
  s.options.chunk_delay = std::chrono::milliseconds(chunk_delay_ms);
  AGENTD_RETURN_IF_ERROR(ReadField(j, "textChunkBytes", s.options.text_chunk_bytes, "script"));
  AGENTD_RETURN_IF_ERROR(
      ReadField(j, "argumentChunkBytes", s.options.argument_chunk_bytes, "script"));
  std::string mode = "script";
  AGENTD_RETURN_IF_ERROR(ReadField(j, "mode", mode, "script"));
  if (mode == "script") {
    s.options.mode = FakeMode::kScript;
  } else if (mode == "echo") {
    s.options.mode = FakeMode::kEcho;
  } else if (mode == "developer" || mode == "scripted-developer") {
    s.options.mode = FakeMode::kDeveloper;
  } else {
    return core::InvalidArgument("unknown mode \"" + mode +
                                 "\" in script (script, echo, developer)");
  }
  std::string when = "error";
  AGENTD_RETURN_IF_ERROR(ReadField(j, "whenExhausted", when, "script"));
  if (when == "error") {
    s.options.when_exhausted = WhenExhausted::kError;
  } else if (when == "repeat-last") {
    s.options.when_exhausted = WhenExhausted::kRepeatLast;
  } else if (when == "echo") {
    s.options.when_exhausted = WhenExhausted::kEcho;
  } else {
    return core::InvalidArgument("unknown whenExhausted \"" + when +
                                 "\" in script (error, repeat-last, echo)");
  }
  if (auto it = j.find("responses"); it != j.end()) {
    if (!it->is_array()) return core::InvalidArgument("responses must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      auto reply = ParseFakeReply((*it)[i]);
      if (!reply.ok()) return reply.error().Wrap("responses[" + std::to_string(i) + "]");
      s.replies.push_back(std::move(reply).value());
    }
  }
  return s;
}

FakeModelServer::FakeModelServer(FakeModelServerOptions options) : options_(std::move(options)) {}

FakeModelServer::~FakeModelServer() { Stop(); }

core::Status FakeModelServer::Start(int port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return core::Internal(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 512) != 0) {
    std::string why = std::strerror(errno);
    ::close(listen_fd_);
    listen_fd_ = -1;
    return core::Unavailable(
        "fake model server cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + why);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return core::Ok();
}

void FakeModelServer::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    cv_.notify_all();
  }
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return active_connections_ == 0; });
}

std::string FakeModelServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

void FakeModelServer::Enqueue(FakeReply reply) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(reply));
}

size_t FakeModelServer::pending_replies() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::vector<RecordedRequest> FakeModelServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<RecordedRequest> FakeModelServer::completion_requests() const {
  std::lock_guard lock(mu_);
  std::vector<RecordedRequest> out;
  for (const auto& r : requests_) {
    if (r.path.ends_with("/chat/completions")) out.push_back(r);
  }
  return out;
}

bool FakeModelServer::WaitForCompletionRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return completion_count_ >= n; });
}

bool FakeModelServer::Pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  if (d.count() <= 0) return !stopping_;
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

void FakeModelServer::AcceptLoop() {
  while (true) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    std::lock_guard lock(mu_);
    if (stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      return;
    }
    timeval tv{.tv_sec = 30, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ++active_connections_;
    open_fds_.push_back(fd);
    std::thread([this, fd] {
      ServeConnection(fd);
      std::lock_guard done_lock(mu_);
      open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
      ::close(fd);
      --active_connections_;
      cv_.notify_all();
    }).detach();
  }
}

FakeReply FakeModelServer::NextReply(const Json& request) {
  auto echo = [&] {
    const Json* user = LastMessage(request, "user");
    return FakeReply{.text = "echo: " + (user ? MessageText(*user) : std::string())};
  };
  if (options_.mode == FakeMode::kEcho) return echo();
  if (options_.mode == FakeMode::kDeveloper) {
    const Json& messages = request.contains("messages") ? request["messages"] : Json::array();
    bool after_tool = messages.is_array() && !messages.empty() && messages.back().is_object() &&
                      messages.back().value("role", "") == "tool";
    if (after_tool) return FakeReply{.text = "Done: I wrote README.md for the task."};
    const Json* user = LastMessage(request, "user");
    std::string task = user ? MessageText(*user) : "";
    Json args = {{"path", "README.md"},
                 {"content", "# README\n\nTask: " + task + "\n\nWritten by the fake developer.\n"}};
    return FakeReply{.text = "I will write README.md.",
                     .tool_calls = {{.id = "", .name = "write_file", .arguments = args.dump()}}};
  }
  std::lock_guard lock(mu_);
  if (!queue_.empty()) {
    FakeReply reply = std::move(queue_.front());
    queue_.pop_front();
    last_reply_ = reply;
    return reply;
  }
  switch (options_.when_exhausted) {
    case WhenExhausted::kRepeatLast:
      if (last_reply_) return *last_reply_;
      break;
    case WhenExhausted::kEcho:
      return echo();
    case WhenExhausted::kError:
      break;
  }
  return FakeReply{
      .status = 500,
      .error_body = ErrorDocument("fake model server: script exhausted", "server_error").dump()};
}

void FakeModelServer::ServeConnection(int fd) {
  // Read the head.
  std::string buffer;
  size_t head_end = std::string::npos;
  char chunk[16 * 1024];
  while (head_end == std::string::npos) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    buffer.append(chunk, static_cast<size_t>(n));
    head_end = buffer.find("\r\n\r\n");
    if (head_end == std::string::npos && buffer.size() > kMaxHeadBytes) {
      SendSimple(fd, 431, "text/plain", "request head too large\n");
      return;
    }
  }
  RecordedRequest request;
  std::string_view head(buffer.data(), head_end);
  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.find(' ', sp1 == std::string_view::npos ? 0 : sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
    SendSimple(fd, 400, "text/plain", "bad request line\n");
    return;
  }
  request.method = std::string(request_line.substr(0, sp1));
  request.path = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  request.path = request.path.substr(0, request.path.find('?'));
  size_t content_length = 0;
  std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
  while (!rest.empty()) {
    size_t eol = rest.find("\r\n");
    std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? "" : rest.substr(eol + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = Lowercase(Trim(line.substr(0, colon)));
    std::string value(Trim(line.substr(colon + 1)));
    if (name == "content-length") content_length = std::strtoull(value.c_str(), nullptr, 10);
    if (name == "transfer-encoding") {
      SendSimple(fd, 411, "text/plain", "chunked request bodies are not supported\n");
      return;
    }
    request.headers.emplace_back(std::move(name), std::move(value));
  }
  if (content_length > kMaxBodyBytes) {
    SendSimple(fd, 413, "text/plain", "body too large\n");
    return;
  }
  request.body = buffer.substr(head_end + 4);
  while (request.body.size() < content_length) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    request.body.append(chunk, static_cast<size_t>(n));
  }
  request.body.resize(content_length);

  bool is_completion = request.method == "POST" && request.path.ends_with("/chat/completions");
  Json body_json = request.BodyJson();
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (is_completion) ++completion_count_;
    cv_.notify_all();
  }

  if (request.method == "GET" && request.path.ends_with("/models")) {
    Json models = {{"object", "list"},
                   {"data",
                    {{{"id", options_.model},
                      {"object", "model"},
                      {"created", kCreated},
                      {"owned_by", "agentd-fake"}}}}};
    SendSimple(fd, 200, "application/json", models.dump());
    return;
  }
  if (!is_completion) {
    SendSimple(fd, 404, "application/json",
               core::DumpJson(ErrorDocument("no route for " + request.method + " " + request.path,
                                            "invalid_request_error")));
    return;
  }
  if (!body_json.is_object()) {
    SendSimple(fd, 400, "application/json",
               ErrorDocument("request body is not a JSON object", "invalid_request_error").dump());
    return;
  }

  FakeReply reply = NextReply(body_json);
  if (reply.chunk_delay.count() == 0) reply.chunk_delay = options_.chunk_delay;
  if (!Pause(reply.delay)) return;
  if (reply.status != 200) {
    std::vector<std::pair<std::string, std::string>> extra;
    if (!reply.retry_after.empty()) extra.emplace_back("Retry-After", reply.retry_after);
    std::string error_body = reply.error_body;
    if (error_body.empty()) {
      error_body = ErrorDocument("fake error " + std::to_string(reply.status),
                                 reply.status == 429 ? "rate_limit_exceeded" : "server_error")
                       .dump();
    }
    SendSimple(fd, reply.status, "application/json", error_body, extra);
    return;
  }

  size_t args_bytes = 0;
  for (auto& call : reply.tool_calls) {
    if (call.id.empty()) call.id = "call_" + std::to_string(next_id_.fetch_add(1));
    args_bytes += call.arguments.size();
  }
  FakeUsage usage = reply.usage.value_or(FakeUsage{
      .prompt_tokens = std::max<int64_t>(1, static_cast<int64_t>(request.body.size() / 4)),
      .completion_tokens =
          std::max<int64_t>(1, static_cast<int64_t>((reply.text.size() + args_bytes) / 4)),
      .cached_tokens = 0});
  std::string finish = reply.finish_reason;
  if (finish.empty()) finish = reply.tool_calls.empty() ? "stop" : "tool_calls";
  std::string id = "chatcmpl-fake-" + std::to_string(next_id_.fetch_add(1));
  std::string model = body_json.value("model", options_.model);

  bool stream = body_json.contains("stream") && body_json["stream"].is_boolean() &&
                body_json["stream"].get<bool>();
  if (!stream) {
    Json message = {
        {"role", "assistant"},
        {"content",
         reply.text.empty() && !reply.tool_calls.empty() ? Json(nullptr) : Json(reply.text)}};
    if (!reply.tool_calls.empty()) {
      Json calls = Json::array();
      for (const auto& c : reply.tool_calls) {
        calls.push_back({{"id", c.id},
                         {"type", "function"},
                         {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
      }
      message["tool_calls"] = calls;
    }
    Json doc = {
        {"id", id},
        {"object", "chat.completion"},
        {"created", kCreated},
        {"model", model},
        {"choices",
         {{{"index", 0}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", finish}}}},
        {"usage", UsageJson(usage)}};
    SendSimple(fd, 200, "application/json", core::DumpJson(doc));
    return;
  }

  bool include_usage = false;
  if (auto so = body_json.find("stream_options"); so != body_json.end() && so->is_object()) {
    include_usage = so->value("include_usage", false);
  }
  auto make_chunk = [&](Json delta, Json finish_reason) {
    Json c = {{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", kCreated},
              {"model", model},
              {"system_fingerprint", "fp_fake"},
              {"choices",
               {{{"index", 0},
                 {"delta", std::move(delta)},
                 {"logprobs", nullptr},
                 {"finish_reason", std::move(finish_reason)}}}}};
    if (include_usage) c["usage"] = nullptr;
    return c;
  };
  std::vector<std::string> events;
  events.push_back(core::DumpJson(make_chunk({{"role", "assistant"}, {"content", ""}}, nullptr)));
  for (auto& piece : SplitUtf8(reply.text, options_.text_chunk_bytes)) {
    events.push_back(core::DumpJson(make_chunk({{"content", piece}}, nullptr)));
  }
  for (size_t i = 0; i < reply.tool_calls.size(); ++i) {
    const auto& c = reply.tool_calls[i];
    Json first = {{"index", i},
                  {"id", c.id},
                  {"type", "function"},
                  {"function", {{"name", c.name}, {"arguments", ""}}}};
    events.push_back(core::DumpJson(make_chunk({{"tool_calls", {first}}}, nullptr)));
    for (auto& frag : SplitUtf8(c.arguments, options_.argument_chunk_bytes)) {
      Json next = {{"index", i}, {"function", {{"arguments", frag}}}};
      events.push_back(core::DumpJson(make_chunk({{"tool_calls", {next}}}, nullptr)));
    }
  }
  events.push_back(core::DumpJson(make_chunk(Json::object(), finish)));
  if (include_usage) {
    Json u = {{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", kCreated},
              {"model", model},
              {"system_fingerprint", "fp_fake"},
              {"choices", Json::array()},
              {"usage", UsageJson(usage)}};
    events.push_back(core::DumpJson(u));
  }

  std::string head_out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  if (!SendAll(fd, head_out)) return;
  auto send_chunk = [&](const std::string& payload) {
    std::string frame = "data: " + payload + "\n\n";
    char size_line[32];
    std::snprintf(size_line, sizeof(size_line), "%zx\r\n", frame.size());
    return SendAll(fd, size_line) && SendAll(fd, frame) && SendAll(fd, "\r\n");
  };
  for (size_t i = 0; i < events.size(); ++i) {
    if (reply.cut_after_chunks && static_cast<size_t>(*reply.cut_after_chunks) <= i) {
      if (reply.clean_cut) SendAll(fd, "0\r\n\r\n");
      return;  // the caller closes the socket
    }
    if (i > 0 && !Pause(reply.chunk_delay)) return;
    if (!send_chunk(events[i])) return;
  }
  if (reply.cut_after_chunks) {
    if (reply.clean_cut) SendAll(fd, "0\r\n\r\n");
    return;
  }
  if (!send_chunk("[DONE]")) return;
  SendAll(fd, "0\r\n\r\n");
}

}  // namespace agentd::testing
