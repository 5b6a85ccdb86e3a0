#include "core/json.h"

namespace agentd::core {

Result<Json> ParseJson(std::string_view text, JsonLimits limits) {
  if (text.size() > limits.max_bytes) {
    return ResourceExhausted("JSON document of " + std::to_string(text.size()) +
                             " bytes exceeds the limit of " + std::to_string(limits.max_bytes));
  }
  bool too_deep = false;
  auto callback = [&](int depth, Json::parse_event_t, Json&) {
    if (depth > limits.max_depth) too_deep = true;
    return !too_deep;
  };
  try {
    Json value = Json::parse(text.begin(), text.end(), callback);
    if (too_deep) {
      return InvalidArgument("JSON nested deeper than " + std::to_string(limits.max_depth));
    }
    return value;
  } catch (const Json::exception& e) {
    if (too_deep) {
      return InvalidArgument("JSON nested deeper than " + std::to_string(limits.max_depth));
    }
    return InvalidArgument(std::string("malformed JSON: ") + e.what());
  }
}

namespace {

Error WrongType(std::string_view key, std::string_view where, std::string_view want,
                const Json& got) {
  return InvalidArgument("field \"" + std::string(key) + "\" in " + std::string(where) +
                         " must be " + std::string(want) + ", not " + got.type_name());
}

}  // namespace

Result<std::optional<std::string>> OptionalString(const Json& obj, std::string_view key,
                                                  std::string_view where) {
  if (!obj.is_object()) return InvalidArgument(std::string(where) + " must be a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return WrongType(key, where, "a string", *it);
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::string> RequiredString(const Json& obj, std::string_view key, std::string_view where) {
  AGENTD_ASSIGN_OR_RETURN(auto value, OptionalString(obj, key, where));
  if (!value) {
    return InvalidArgument("missing field \"" + std::string(key) + "\" in " + std::string(where));
  }
  return *value;
}

Result<std::optional<int64_t>> OptionalInt(const Json& obj, std::string_view key,
                                           std::string_view where) {
  if (!obj.is_object()) return InvalidArgument(std::string(where) + " must be a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return WrongType(key, where, "an integer in range", *it);
  }
  if (it->is_number_integer()) return std::optional<int64_t>(it->get<int64_t>());
  if (it->is_number_float()) {
    // Only whole numbers inside int64's range: converting anything else is undefined.
    double d = it->get<double>();
    if (d >= -9.2e18 && d <= 9.2e18 && d == static_cast<double>(static_cast<int64_t>(d))) {
      return std::optional<int64_t>(static_cast<int64_t>(d));
    }
  }
  return WrongType(key, where, "an integer", *it);
}

Result<std::optional<bool>> OptionalBool(const Json& obj, std::string_view key,
                                         std::string_view where) {
  if (!obj.is_object()) return InvalidArgument(std::string(where) + " must be a JSON object");
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return WrongType(key, where, "a boolean", *it);
  return std::optional<bool>(it->get<bool>());
}

std::string DumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace agentd::core
