// JSON helpers over nlohmann::json: bounded parsing and typed field access that returns errors
// naming the field, for untrusted input.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace agentd::core {

using Json = nlohmann::json;

struct JsonLimits {
  size_t max_bytes = 1 << 20;
  int max_depth = 32;
};

// Parses untrusted text. Errors are kInvalidArgument and say where parsing stopped.
Result<Json> ParseJson(std::string_view text, JsonLimits limits = {});

// Typed access for untrusted objects. `where` names the object in messages, e.g. "run request".
// Missing keys give std::nullopt from the Optional* forms and an error from the Required forms.
Result<std::optional<std::string>> OptionalString(const Json& obj, std::string_view key,
                                                  std::string_view where);
Result<std::string> RequiredString(const Json& obj, std::string_view key, std::string_view where);
Result<std::optional<int64_t>> OptionalInt(const Json& obj, std::string_view key,
                                           std::string_view where);
Result<std::optional<bool>> OptionalBool(const Json& obj, std::string_view key,
                                         std::string_view where);

// Serialises without throwing on invalid UTF-8 (replaces it), for text that came from outside.
std::string DumpJson(const Json& value);

}  // namespace agentd::core
