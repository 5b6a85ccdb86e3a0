#include "runner/event_writer.h"

#include <cerrno>
#include <cstring>

#include <poll.h>
#include <unistd.h>

#include "api/v1/runner_protocol.h"
#include "core/log.h"
#include "runner/text_limits.h"

namespace agentd::runner {

bool WriteLine(int fd, std::string_view line) {
  while (!line.empty()) {
    ssize_t n = ::write(fd, line.data(), line.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // a non-blocking pipe that is full: wait until it drains
        pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      return false;
    }
    line.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string FormatEventLine(api::v1::RunnerEvent event) {
  std::string line = api::v1::FormatRunnerEvent(event);
  // Leave room for the newline; cut long strings, then give up on the payload.
  for (size_t max_string : {size_t{16 * 1024}, size_t{1024}}) {
    if (line.size() < api::v1::kMaxRunnerEventBytes) break;
    event.data = BoundJsonStrings(event.data, max_string);
    line = api::v1::FormatRunnerEvent(event);
  }
  if (line.size() >= api::v1::kMaxRunnerEventBytes) {
    core::Json kept = {{"truncated", true}};
    for (const char* key : {"status", "reason", "id", "name", "ok"}) {
      if (event.data.contains(key)) kept[key] = event.data[key];
    }
    event.data = std::move(kept);
    line = api::v1::FormatRunnerEvent(event);
  }
  line.push_back('\n');
  return line;
}

EventWriter::EventWriter(int journal_fd, int events_fd, const core::Clock& clock)
    : journal_fd_(journal_fd), events_fd_(events_fd), clock_(clock) {}

void EventWriter::Emit(std::string_view type, core::Json data) {
  std::lock_guard lock(mu_);
  std::string line = FormatEventLine(
      {.seq = ++seq_, .type = std::string(type), .data = std::move(data), .time = clock_.Now()});

  if (journal_fd_ >= 0 && !WriteLine(journal_fd_, line) && !journal_failed_) {
    journal_failed_ = true;
    core::LogError("runner journal write failed", {{"error", std::strerror(errno)}});
  }
  if (events_fd_ >= 0 && !pipe_broken_ && !WriteLine(events_fd_, line)) {
    pipe_broken_ = true;
    core::LogWarn("runner events pipe closed; continuing with the journal only",
                  {{"error", std::strerror(errno)}});
  }
}

int64_t EventWriter::last_seq() const {
  std::lock_guard lock(mu_);
  return seq_;
}

bool EventWriter::events_pipe_broken() const {
  std::lock_guard lock(mu_);
  return pipe_broken_;
}

}  // namespace agentd::runner
