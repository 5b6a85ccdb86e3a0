// libFuzzer target for what crosses the runner -> control plane boundary: one event line
// (ParseRunnerEvent) and the SSE parser the runner and agentctl read streams with. Neither may
// crash, throw or trip a sanitizer on any input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/v1/runner_protocol.h"
#include "httpclient/sse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto event = agentd::api::v1::ParseRunnerEvent(text);
  if (event.ok()) (void)agentd::api::v1::FormatRunnerEvent(*event);

  agentd::httpclient::SseParser parser(4096);
  size_t half = size / 2;
  auto count = [](const agentd::httpclient::SseEvent&) {};
  if (parser.Feed(text.substr(0, half), count).ok()) (void)parser.Feed(text.substr(half), count);
  return 0;
}
