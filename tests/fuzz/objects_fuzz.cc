// libFuzzer target for the object parser: YAML text -> Model / Instruction / Agent with
// validation. Must return errors, never crash, throw or trip a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "resources/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto objects = agentd::resources::ParseObjects(text, "fuzz.yaml");
  if (objects.ok()) {
    for (const auto& object : *objects) (void)agentd::resources::ToJson(object);
  }
  return 0;
}
