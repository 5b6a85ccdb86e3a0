#include "cli/follow.h"

#include <algorithm>
#include <thread>
#include <utility>

#include "cli/output.h"
#include "core/env.h"
#include "core/time.h"

namespace agentd::cli {

namespace {

using core::Json;

constexpr size_t kMaxArgumentsShown = 200;
constexpr size_t kPreviewLines = 3;
constexpr size_t kPreviewLineChars = 120;
// A bound on event-log pages read in one go, so a misbehaving server cannot loop us forever.
constexpr int kMaxEventPages = 100'000;

std::string Str(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

int64_t Int(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

int64_t SeqOf(const Json& event) { return Int(event, "seq"); }

// Cuts `text` to `max` bytes without splitting a UTF-8 sequence, marking the cut with "…".
std::string Shorten(std::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "…";
}

// "1 line", "2 lines".
std::string Count(int64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

size_t CountLines(std::string_view text) {
  if (text.empty()) return 0;
  size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  return text.back() == '\n' ? lines : lines + 1;
}

runs::Usage UsageFromJson(const Json& usage) {
  runs::Usage u;
  u.input_tokens = Int(usage, "inputTokens");
  u.cached_input_tokens = Int(usage, "cachedInputTokens");
  u.output_tokens = Int(usage, "outputTokens");
  u.model_calls = Int(usage, "modelCalls");
  if (usage.contains("costMicros")) {
    u.cost_micros = Int(usage, "costMicros");
  } else if (auto cost = core::ParseUsd(Str(usage, "costUsd")); cost.ok()) {
    u.cost_micros = *cost;
  }
  return u;
}

std::string FormatSeconds(std::chrono::milliseconds d) {
  int64_t tenths = std::max<int64_t>(0, d.count() / 100);
  return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "s";
}

}  // namespace

int ExitCodeForPhase(runs::Phase phase) {
  switch (phase) {
    case runs::Phase::kSucceeded:
      return 0;
    case runs::Phase::kFailed:
      return 1;
    case runs::Phase::kTimedOut:
      return 3;
    case runs::Phase::kCancelled:
      return 4;
    case runs::Phase::kRejected:
      return 5;
    default:
      return 1;
  }
}

EventRenderer::EventRenderer(std::ostream& out, std::ostream& err, RenderMode mode)
    : out_(out), err_(err), mode_(mode) {}

void EventRenderer::CloseOpenLine() {
  if (line_open_) {
    out_ << '\n';
    line_open_ = false;
  }
}

void EventRenderer::Line(std::string_view text) {
  CloseOpenLine();
  out_ << text;
  if (text.empty() || text.back() != '\n') out_ << '\n';
  out_.flush();
}

void EventRenderer::Render(const Json& event) {
  std::string type = Str(event, "type");
  static const Json kEmpty = Json::object();
  const Json& data = event.is_object() && event.contains("data") ? event["data"] : kEmpty;
  if (type == "phase") {
    if (auto phase = runs::ParsePhase(Str(data, "phase")); phase.ok()) phase_ = *phase;
  } else if (type == "usage") {
    runs::Usage u = UsageFromJson(data);
    if (u.model_calls == 0) u.model_calls = 1;  // one usage event per model call
    usage_ += u;
  }
  switch (mode_) {
    case RenderMode::kSilent:
      return;
    case RenderMode::kJsonLines:
      out_ << core::DumpJson(event) << '\n';
      out_.flush();
      return;
    case RenderMode::kYamlStream:
      out_ << "---\n" << FormatYaml(event);
      out_.flush();
      return;
    case RenderMode::kHuman:
      RenderHuman(type, data);
      return;
  }
}

void EventRenderer::RenderHuman(std::string_view type, const Json& data) {
  if (type == "phase") {
    std::string line = "[" + Str(data, "phase") + "]";
    std::string reason = Str(data, "reason");
    std::string message = Str(data, "message");
    if (!reason.empty()) line += " " + reason;
    if (!message.empty()) line += (reason.empty() ? " " : ": ") + message;
    Line(line);
  } else if (type == "delta") {
    std::string content = Str(data, "content");
    if (content.empty()) return;
    out_ << content;
    out_.flush();
    line_open_ = content.back() != '\n';
    answer_shown_ = true;
  } else if (type == "message") {
    // Streamed turns already showed their text as deltas; only unstreamed text is printed.
    std::string role = Str(data, "role");
    std::string content = Str(data, "content");
    if ((role.empty() || role == "assistant") && !content.empty() && !answer_shown_) {
      Line(content);
      answer_shown_ = true;
    }
    CloseOpenLine();
  } else if (type == "tool_call") {
    const Json& args = data.is_object() && data.contains("arguments") ? data["arguments"] : Json();
    std::string shown = args.is_string() ? args.get<std::string>()
                        : args.is_null() ? ""
                                         : core::DumpJson(args);
    std::string line = "→ " + Str(data, "name");
    if (!shown.empty()) line += " " + Shorten(shown, kMaxArgumentsShown);
    Line(line);
    answer_shown_ = false;
  } else if (type == "tool_result") {
    bool ok = data.is_object() && data.value("ok", false);
    std::string output = Str(data, "output");
    size_t lines = CountLines(output);
    std::string line = std::string("← ") + (ok ? "ok" : "error") + " (" +
                       Count(static_cast<int64_t>(lines), "line");
    if (data.is_object() && data.value("truncated", false)) line += ", truncated";
    Line(line + ")");
    size_t start = 0;
    for (size_t shown = 0; shown < kPreviewLines && start < output.size(); ++shown) {
      size_t end = output.find('\n', start);
      if (end == std::string::npos) end = output.size();
      Line("    " +
           Shorten(std::string_view(output).substr(start, end - start), kPreviewLineChars));
      start = end + 1;
    }
    if (lines > kPreviewLines) {
      Line("    … " + Count(static_cast<int64_t>(lines - kPreviewLines), "more line"));
    }
    answer_shown_ = false;
  } else if (type == "log") {
    CloseOpenLine();
    std::string stream = Str(data, "stream");
    err_ << "[" << (stream.empty() ? "log" : stream) << "] " << Str(data, "line") << '\n';
    err_.flush();
  } else if (type == "error") {
    CloseOpenLine();
    last_error_ = Str(data, "message");
    err_ << "error: " << last_error_ << '\n';
    err_.flush();
  } else if (type == "violation") {
    CloseOpenLine();
    err_ << "policy: " << Str(data, "rule") << ": " << Str(data, "message") << '\n';
    err_.flush();
  } else if (type == "budget") {
    CloseOpenLine();
    err_ << "budget " << Str(data, "budget") << " " << Str(data, "state") << ": spent $"
         << Str(data, "spentUsd") << " of $" << Str(data, "limitUsd") << '\n';
    err_.flush();
  } else if (type == "result") {
    std::string result = Str(data, "result");
    if (!result.empty() && !answer_shown_) {
      Line(result);
      answer_shown_ = true;
    }
    std::string error = Str(data, "error");
    if (!error.empty() && error != last_error_) {
      CloseOpenLine();
      last_error_ = error;
      err_ << "error: " << error << '\n';
      err_.flush();
    }
  }
  // usage is summed in Render; unknown types are skipped so newer servers work with older CLIs.
}

void EventRenderer::Finish(const Json* run) {
  if (mode_ != RenderMode::kHuman) return;
  CloseOpenLine();
  runs::Usage usage = usage_;
  std::string took;
  if (run != nullptr && run->is_object()) {
    if (run->contains("usage") && (*run)["usage"].is_object()) {
      usage = UsageFromJson((*run)["usage"]);
    }
    auto started = core::ParseRfc3339(Str(*run, "startedAt"));
    auto finished = core::ParseRfc3339(Str(*run, "finishedAt"));
    if (started.ok() && finished.ok()) {
      took = ", took " + FormatSeconds(std::chrono::duration_cast<std::chrono::milliseconds>(
                             *finished - *started));
    }
  }
  Line("usage: " + Count(usage.input_tokens, "input token") + " (" +
       std::to_string(usage.cached_input_tokens) + " cached), " +
       Count(usage.output_tokens, "output token") + ", " + Count(usage.model_calls, "model call") +
       ", $" + core::FormatUsd(usage.cost_micros) + took);
}

Json SseToEventJson(const httpclient::SseEvent& sse, std::string_view run_id) {
  auto parsed = core::ParseJson(sse.data, {.max_bytes = 16 << 20, .max_depth = 64});
  Json event;
  if (parsed.ok() && parsed->is_object() && parsed->contains("type") && parsed->contains("data") &&
      parsed->contains("seq")) {
    event = std::move(parsed).value();
  } else {
    event = {{"type", sse.event.empty() ? "message" : sse.event},
             {"data", parsed.ok() ? std::move(parsed).value() : Json(sse.data)}};
  }
  if (!event.contains("runId")) event["runId"] = run_id;
  if (!event.contains("seq") || !event["seq"].is_number_integer()) {
    auto seq = core::ParseInt(sse.id, 0, INT64_MAX, "SSE id");
    event["seq"] = seq.ok() ? *seq : 0;
  }
  return event;
}

core::Result<std::vector<Json>> FetchEventLog(ApiClient& client, std::string_view run_id,
                                              int64_t after) {
  std::vector<Json> events;
  for (int page = 0; page < kMaxEventPages; ++page) {
    AGENTD_ASSIGN_OR_RETURN(EventPage events_page, client.ListEvents(run_id, after));
    for (auto& event : events_page.items) {
      int64_t seq = SeqOf(event);
      if (seq > after) after = seq;
      events.push_back(std::move(event));
    }
    if (events_page.items.empty() || events_page.next_after <= 0) return events;
    after = std::max(after, events_page.next_after);
  }
  return core::Internal("event log of run " + std::string(run_id) + " has more than " +
                        std::to_string(kMaxEventPages) + " pages");
}

core::Result<FollowResult> FollowRun(ApiClient& client, std::string_view run_id,
                                     EventRenderer& renderer, const FollowOptions& options) {
  auto sleep = options.sleep ? options.sleep
                             : [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  int64_t last_seq = 0;
  int attempts_without_progress = 0;
  std::chrono::milliseconds backoff = options.initial_backoff;
  // Renders an event unless it was already rendered (a resumed stream may repeat the boundary).
  auto deliver = [&](const Json& event) {
    int64_t seq = SeqOf(event);
    if (seq > 0 && seq <= last_seq) return false;
    renderer.Render(event);
    if (seq > 0) last_seq = seq;
    return true;
  };

  std::optional<runs::Phase> ended_phase;
  while (!renderer.terminal() && !ended_phase) {
    bool progressed = false;
    core::Status status = client.StreamEvents(run_id, last_seq, [&](const auto& sse) {
      if (deliver(SseToEventJson(sse, run_id))) progressed = true;
      return !renderer.terminal();
    });
    if (renderer.terminal()) break;

    core::Error error;
    if (!status.ok()) {
      if (!core::IsRetryable(status.error().code)) return status.error();
      error = status.error();
    } else {
      // The stream ended before the terminal phase event: either the run is over and the
      // stream was cut at the end, or the connection was closed early.
      auto run = client.GetRun(run_id);
      if (!run.ok()) {
        if (!core::IsRetryable(run.error().code)) return run.error();
        error = run.error();
      } else if (auto phase = runs::ParsePhase(Str(*run, "phase"));
                 phase.ok() && runs::IsTerminal(*phase)) {
        AGENTD_ASSIGN_OR_RETURN(auto rest, FetchEventLog(client, run_id, last_seq));
        for (const auto& event : rest) deliver(event);
        ended_phase = *phase;
        break;
      } else {
        error = core::Unavailable("the event stream of run " + std::string(run_id) +
                                  " ended before the run did");
      }
    }
    if (progressed) {
      attempts_without_progress = 0;
      backoff = options.initial_backoff;
    }
    if (++attempts_without_progress > options.max_reconnects) {
      return error.Wrap("following run " + std::string(run_id) + ": gave up after " +
                        std::to_string(options.max_reconnects) + " reconnects");
    }
    sleep(backoff);
    backoff = std::min(backoff * 2, options.max_backoff);
  }

  FollowResult result;
  auto run = client.GetRun(run_id);
  if (run.ok()) result.run = std::move(run).value();
  if (renderer.terminal()) {
    result.phase = *renderer.phase();
  } else if (ended_phase) {
    result.phase = *ended_phase;
  }
  return result;
}

}  // namespace agentd::cli
