#include "exec/executor.h"

namespace agentd::exec {

std::string_view StopReasonName(StopReason reason) {
  switch (reason) {
    case StopReason::kCancelled: return "Cancelled";
    case StopReason::kDeadlineExceeded: return "DeadlineExceeded";
    case StopReason::kShutdown: return "Shutdown";
  }
  return "Unknown";
}

}  // namespace agentd::exec
