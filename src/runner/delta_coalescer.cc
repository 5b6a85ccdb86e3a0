#include "runner/delta_coalescer.h"

namespace agentd::runner {

std::string DeltaCoalescer::Add(std::string_view delta, TimePoint now) {
  pending_.append(delta);
  if (pending_.empty()) return {};
  if (!last_emit_ || now - *last_emit_ >= interval_ || pending_.size() >= max_bytes_) {
    return Flush(now);
  }
  return {};
}

std::string DeltaCoalescer::Flush(TimePoint now) {
  if (pending_.empty()) return {};
  last_emit_ = now;
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

}  // namespace agentd::runner
