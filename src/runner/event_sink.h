// EventSink: where the agent loop reports what happens (runner_protocol.h event types and data
// shapes). EventWriter (event_writer.h) is the production sink; tests collect into a vector.
#pragma once

#include <string_view>

#include "core/json.h"

namespace agentd::runner {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Records one event of `type` with `data` (an object). Never fails: I/O trouble is the sink's
  // to handle. Thread-safe in every implementation.
  virtual void Emit(std::string_view type, core::Json data) = 0;
};

}  // namespace agentd::runner
