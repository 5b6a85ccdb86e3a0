// DeltaCoalescer: batches streamed model text into few `delta` events — at most one per
// `interval`, or sooner once `max_bytes` are waiting. The first delta of a call goes out at
// once so people see the model start. Pure (time is passed in); not thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace agentd::runner {

class DeltaCoalescer {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit DeltaCoalescer(std::chrono::milliseconds interval = std::chrono::milliseconds(50),
                          size_t max_bytes = 1024)
      : interval_(interval), max_bytes_(max_bytes) {}

  // Adds `delta`; returns the text to emit now (empty when it is held back).
  std::string Add(std::string_view delta, TimePoint now);
  // Returns all held-back text (at the end of a call).
  std::string Flush(TimePoint now);

 private:
  const std::chrono::milliseconds interval_;
  const size_t max_bytes_;
  std::string pending_;
  std::optional<TimePoint> last_emit_;
};

}  // namespace agentd::runner
