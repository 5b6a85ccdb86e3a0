#include "core/clock.h"

namespace agentd::core {

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

}  // namespace agentd::core
