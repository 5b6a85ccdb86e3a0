// libFuzzer target for the submission parser and the bounded JSON parser under it. Both must
// never crash, throw or trip a sanitizer on any input; a parsed body must validate and hash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/v1/submit.h"
#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto json = agentd::core::ParseJson(text, {.max_bytes = 1 << 20, .max_depth = 32});
  if (json.ok()) (void)agentd::core::DumpJson(*json);

  auto body = agentd::api::v1::ParseSubmitRequest(text);
  if (body.ok()) {
    if (!agentd::api::v1::ValidateSubmitBody(*body).ok()) __builtin_trap();
    (void)agentd::api::v1::CanonicalRequestHash(*body);
  }
  return 0;
}
