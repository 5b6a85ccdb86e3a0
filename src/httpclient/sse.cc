#include "httpclient/sse.h"

#include <cstring>

namespace agentd::httpclient {

SseParser::SseParser(size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

core::Status SseParser::CheckSize() {
  if (line_.size() + data_.size() + event_.size() > max_event_bytes_) {
    failed_ = core::ResourceExhausted("server-sent event exceeds " +
                                      std::to_string(max_event_bytes_) + " bytes");
    return *failed_;
  }
  return core::Ok();
}

core::Status SseParser::Feed(std::string_view chunk,
                             const std::function<void(const SseEvent&)>& on_event) {
  if (failed_) return *failed_;
  size_t i = 0;
  if (skip_lf_ && !chunk.empty()) {
    if (chunk[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < chunk.size()) {
    const char* start = chunk.data() + i;
    size_t rest = chunk.size() - i;
    const void* cr = std::memchr(start, '\r', rest);
    const void* lf = std::memchr(start, '\n', rest);
    const char* end = nullptr;
    if (cr != nullptr && lf != nullptr) {
      end = std::min(static_cast<const char*>(cr), static_cast<const char*>(lf));
    } else {
      end = static_cast<const char*>(cr != nullptr ? cr : lf);
    }
    if (end == nullptr) {
      line_.append(start, rest);
      return CheckSize();
    }
    line_.append(start, static_cast<size_t>(end - start));
    AGENTD_RETURN_IF_ERROR(CheckSize());
    i = static_cast<size_t>(end - chunk.data()) + 1;
    if (*end == '\r') {
      if (i < chunk.size()) {
        if (chunk[i] == '\n') ++i;
      } else {
        skip_lf_ = true;
      }
    }
    std::string line = std::move(line_);
    line_.clear();
    ProcessLine(line, on_event);
    AGENTD_RETURN_IF_ERROR(CheckSize());
  }
  return core::Ok();
}

void SseParser::ProcessLine(std::string_view line,
                            const std::function<void(const SseEvent&)>& on_event) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {
    if (data_.empty()) {
      event_.clear();
      return;
    }
    data_.pop_back();  // the '\n' after the last data line
    SseEvent event{last_event_id_, std::move(event_), std::move(data_)};
    data_.clear();
    event_.clear();
    on_event(event);
    return;
  }
  if (line[0] == ':') return;
  std::string_view field = line;
  std::string_view value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    event_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_event_id_ = std::string(value);
  } else if (field == "retry") {
    if (!value.empty() && value.size() <= 18 &&
        value.find_first_not_of("0123456789") == std::string_view::npos) {
      retry_ms_ = std::stoll(std::string(value));
    }
  }
}

}  // namespace agentd::httpclient
