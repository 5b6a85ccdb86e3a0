// SseParser: an incremental text/event-stream parser following the WHATWG HTML rules
// ("Interpreting an event stream"), for model streams and the agentd event API.
//
//  * Lines end in CRLF, LF or a lone CR (a CR at the end of one chunk and an LF at the start of
//    the next are one line break).
//  * An empty line dispatches the event. Events without data are not dispatched.
//  * "data" lines are joined with "\n"; "event" sets the type (empty = the default "message");
//    "id" sets the last event id, which persists across events (ids containing NUL are ignored);
//    "retry" with only ASCII digits sets retry_ms(); other fields are ignored.
//  * Lines starting with ':' are comments (keep-alives) and ignored. A line without a colon is a
//    field name with an empty value. One space after the colon is removed.
//  * A UTF-8 BOM at the start of the stream is skipped. An unterminated event at the end of the
//    stream is discarded (call nothing: just stop feeding).
//
// Bounded: an event (its pending line plus the data and type gathered so far) larger than
// max_event_bytes makes Feed return kResourceExhausted, and every later Feed returns the same
// error. Not thread-safe: one parser per stream.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace agentd::httpclient {

struct SseEvent {
  std::string id;     // the last event id in effect when the event was dispatched
  std::string event;  // empty means "message"
  std::string data;
};

class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes = 1 << 20);

  // Feeds bytes; calls on_event for each complete event, in order, before returning.
  core::Status Feed(std::string_view chunk, const std::function<void(const SseEvent&)>& on_event);

  // The last "retry" value seen, in milliseconds.
  std::optional<int64_t> retry_ms() const { return retry_ms_; }
  const std::string& last_event_id() const { return last_event_id_; }

 private:
  core::Status CheckSize();
  void ProcessLine(std::string_view line, const std::function<void(const SseEvent&)>& on_event);

  size_t max_event_bytes_;
  std::string line_;   // the line being assembled across chunks
  std::string data_;   // data lines of the current event, each followed by '\n'
  std::string event_;  // type of the current event
  std::string last_event_id_;
  std::optional<int64_t> retry_ms_;
  bool skip_lf_ = false;  // the previous chunk ended in CR
  bool first_line_ = true;
  std::optional<core::Error> failed_;
};

}  // namespace agentd::httpclient
