// EventWriter: numbers runner events (seq from 1), formats them as runner_protocol.h JSON lines
// and writes each line first to the journal file (one write(2), the file opened with O_APPEND)
// and then to the events pipe (the local executor; a runner in a Kubernetes pod posts its events
// with HttpEventSink instead). If the pipe breaks (the control plane went away) it keeps writing
// the journal only, so a restarted control plane can read what it missed. A line that would
// exceed api::v1::kMaxRunnerEventBytes has its long strings cut. Thread-safe. Does not own the
// file descriptors.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "api/v1/runner_protocol.h"
#include "core/clock.h"
#include "runner/event_sink.h"

namespace agentd::runner {

// One runner_protocol.h line for `event`, with the trailing newline. A line that would exceed
// api::v1::kMaxRunnerEventBytes has its long strings cut (16 KiB, then 1 KiB), and as a last
// resort keeps only a few identifying fields of its data plus "truncated": true.
std::string FormatEventLine(api::v1::RunnerEvent event);

// Writes all of `line` to `fd` (retrying EINTR, waiting out EAGAIN on a non-blocking pipe);
// false on any other error, with errno kept.
bool WriteLine(int fd, std::string_view line);

class EventWriter final : public EventSink {
 public:
  // Either fd may be -1 (not written).
  EventWriter(int journal_fd, int events_fd, const core::Clock& clock);

  void Emit(std::string_view type, core::Json data) override;

  int64_t last_seq() const;
  bool events_pipe_broken() const;

 private:
  const int journal_fd_;
  const int events_fd_;
  const core::Clock& clock_;
  mutable std::mutex mu_;
  int64_t seq_ = 0;
  bool pipe_broken_ = false;
  bool journal_failed_ = false;
};

}  // namespace agentd::runner
