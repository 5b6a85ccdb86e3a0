// Following a run: turning its event stream into terminal output, and keeping the stream alive
// across dropped connections.
//
// EventRenderer is pure output logic over event JSON ({"runId","seq","type","time","data"}, the
// shape of runs::EventToJson). FollowRun drives an ApiClient's SSE stream into a renderer,
// reconnecting with Last-Event-ID so that every event is rendered exactly once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/api_client.h"
#include "core/json.h"
#include "core/money.h"
#include "core/result.h"
#include "runs/run.h"

namespace agentd::cli {

enum class RenderMode {
  kHuman,       // live text: deltas as they come, tool calls/results, phases, errors on stderr
  kJsonLines,   // each event as one compact JSON line on stdout
  kYamlStream,  // each event as one YAML document ("---" first) on stdout
  kSilent,      // nothing (--wait): only the outcome is tracked
};

// The exit code of a terminal phase: 0 Succeeded, 1 Failed, 3 TimedOut, 4 Cancelled,
// 5 Rejected; non-terminal phases give 1.
int ExitCodeForPhase(runs::Phase phase);

// Renders one run's events in order. Not thread-safe.
class EventRenderer {
 public:
  EventRenderer(std::ostream& out, std::ostream& err, RenderMode mode);

  // Renders one event. Events must come in sequence order and each only once (FollowRun
  // guarantees both); malformed data is shown as far as it goes, never fatal.
  void Render(const core::Json& event);

  // Ends the output (human mode): finishes a line left open by deltas and prints the usage
  // line, from `run` (the run object, authoritative) when given, else from the usage events seen.
  void Finish(const core::Json* run);

  // Finishes a line left open by deltas (human mode).
  void EndLine() { CloseOpenLine(); }

  // The last phase an event reported, if any.
  std::optional<runs::Phase> phase() const { return phase_; }
  bool terminal() const { return phase_ && runs::IsTerminal(*phase_); }

 private:
  void Line(std::string_view text);  // a whole line on out, after closing an open one
  void CloseOpenLine();
  void RenderHuman(std::string_view type, const core::Json& data);

  std::ostream& out_;
  std::ostream& err_;
  RenderMode mode_;
  std::optional<runs::Phase> phase_;
  bool line_open_ = false;     // deltas left the cursor mid-line
  bool answer_shown_ = false;  // model text since the last tool call was printed
  std::string last_error_;     // the last error printed, so a result does not repeat it
  runs::Usage usage_;          // summed from usage events, for when no run object is given
};

struct FollowOptions {
  // Consecutive reconnects allowed without receiving a new event; then FollowRun gives up with
  // the last error.
  int max_reconnects = 8;
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{5'000};
  // Waits between reconnects; tests inject one that records instead of sleeping.
  std::function<void(std::chrono::milliseconds)> sleep;  // empty: std::this_thread::sleep_for
};

struct FollowResult {
  runs::Phase phase = runs::Phase::kFailed;  // terminal
  core::Json run;  // the run as fetched after its end (null when that fetch failed)
};

// Follows run `run_id` until it reaches a terminal phase, rendering each event once. A stream
// that drops (transport error) or ends before the terminal phase is resumed with Last-Event-ID
// after a backoff (doubling from initial_backoff up to max_backoff); when the stream ends and the
// run is already terminal, the events still missing are read from the JSON event log instead.
// Errors: the server's error for the run (kNotFound, kUnauthenticated, ...) at once; the last
// transport error after max_reconnects attempts without progress.
core::Result<FollowResult> FollowRun(ApiClient& client, std::string_view run_id,
                                     EventRenderer& renderer, const FollowOptions& options);

// Reads the JSON event log of a run after sequence number `after`, page by page, to its end.
core::Result<std::vector<core::Json>> FetchEventLog(ApiClient& client, std::string_view run_id,
                                                    int64_t after = 0);

// Converts one SSE event into event JSON. The data may be the whole event object (with "seq",
// "type", "data") or only its "data"; either way the result has runId/seq/type/data, with seq
// from the SSE id when the data lacks it. Malformed data is kept as a string.
core::Json SseToEventJson(const httpclient::SseEvent& sse, std::string_view run_id);

}  // namespace agentd::cli
