#include "resources/decoder.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

#include "core/text.h"

namespace agentd::resources {

using core::Error;
using core::Json;
using core::Result;
using core::Status;

namespace {

std::string JoinPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

}  // namespace

std::string_view JsonTypeWord(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "an integer";
    case Json::value_t::number_float:
      return "a number";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::array:
      return "a list";
    case Json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

Error DocContext::Fail(std::string_view path, std::string_view message) const {
  std::string out;
  if (!origin_.empty()) {
    out += origin_;
    int line = lines_ != nullptr ? lines_->Find(path) : 0;
    if (line == 0) line = line_;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  }
  if (!kind_.empty()) {
    out += kind_;
    if (!name_.empty()) out += " " + core::QuoteForMessage(name_);
    out += ": ";
  }
  if (!path.empty()) out += std::string(path) + " ";
  out += message;
  return core::InvalidArgument(std::move(out));
}

std::string DocContext::Location() const {
  if (line_ > 0) return origin_ + ":" + std::to_string(line_);
  return origin_;
}

Field Field::operator[](std::string_view key) const {
  const Json* child = nullptr;
  if (present() && value_->is_object()) {
    auto it = value_->find(key);
    if (it != value_->end()) child = &*it;
  }
  return Field(*ctx_, child, JoinPath(path_, key));
}

Field Field::Item(size_t index) const {
  const Json* child = nullptr;
  if (present() && value_->is_array() && index < value_->size()) child = &(*value_)[index];
  return Field(*ctx_, child, path_ + "[" + std::to_string(index) + "]");
}

Error Field::WrongType(std::string_view want) const {
  return Fail("must be " + std::string(want) + ", got " + std::string(JsonTypeWord(*value_)));
}

Status Field::ExpectObject(std::initializer_list<std::string_view> known) const {
  if (!present()) return core::Ok();
  if (!value_->is_object()) return WrongType("an object");
  for (const auto& [key, value] : value_->items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string_view closest;
    size_t best = std::numeric_limits<size_t>::max();
    for (std::string_view candidate : known) {
      size_t distance = core::EditDistance(key, candidate);
      if (distance < best) best = distance, closest = candidate;
    }
    std::string message = "is not a known field";
    if (best <= 2 && best < key.size()) {
      message += " (did you mean " + core::QuoteForMessage(closest) + "?)";
    } else {
      message += "; known fields:";
      for (std::string_view candidate : known) message += " " + std::string(candidate);
    }
    return ctx_->Fail(JoinPath(path_, key), message);
  }
  return core::Ok();
}

Status Field::RequireObject(std::initializer_list<std::string_view> known) const {
  if (!present()) return Fail("is required");
  return ExpectObject(known);
}

Result<std::optional<std::string>> Field::OptionalString(size_t max_bytes) const {
  if (!present()) return std::optional<std::string>();
  if (!value_->is_string()) return WrongType("a string");
  const auto& text = value_->get_ref<const std::string&>();
  if (text.size() > max_bytes) {
    return Fail("is " + std::to_string(text.size()) + " bytes long, over the limit of " +
                std::to_string(max_bytes));
  }
  return std::optional<std::string>(text);
}

Result<std::string> Field::RequiredString(size_t max_bytes) const {
  AGENTD_ASSIGN_OR_RETURN(auto text, OptionalString(max_bytes));
  if (!text || text->empty()) return Fail("is required");
  return *std::move(text);
}

Result<std::optional<int64_t>> Field::OptionalInt(int64_t min, int64_t max) const {
  if (!present()) return std::optional<int64_t>();
  bool in_range = true;
  int64_t value = 0;
  if (value_->is_number_unsigned()) {
    auto u = value_->get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    value = in_range ? static_cast<int64_t>(u) : max;
  } else if (value_->is_number_integer()) {
    value = value_->get<int64_t>();
  } else if (value_->is_number_float()) {
    double d = value_->get<double>();
    // Integral floats such as 1e3 are integers; the bounds check keeps the cast defined.
    if (d != d || d < -9.2e18 || d > 9.2e18 || d != static_cast<double>(static_cast<int64_t>(d))) {
      return WrongType("an integer");
    }
    value = static_cast<int64_t>(d);
  } else {
    return WrongType("an integer");
  }
  if (!in_range || value < min || value > max) {
    std::string got = in_range ? std::to_string(value) : value_->dump();
    return Fail("must be between " + std::to_string(min) + " and " + std::to_string(max) +
                ", got " + got);
  }
  return std::optional<int64_t>(value);
}

Result<int64_t> Field::Int(int64_t min, int64_t max, int64_t fallback) const {
  AGENTD_ASSIGN_OR_RETURN(auto value, OptionalInt(min, max));
  return value.value_or(fallback);
}

Result<bool> Field::Bool(bool fallback) const {
  if (!present()) return fallback;
  if (!value_->is_boolean()) return WrongType("true or false");
  return value_->get<bool>();
}

Result<std::optional<core::MicroUsd>> Field::OptionalUsd() const {
  if (!present()) return std::optional<core::MicroUsd>();
  std::string text;
  if (value_->is_string()) {
    text = value_->get<std::string>();
  } else if (value_->is_number_integer() || value_->is_number_unsigned()) {
    text = value_->dump();
  } else if (value_->is_number_float()) {
    // The shortest fixed-point text that reads back as the same double: 0.5 -> "0.5".
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value_->get<double>(),
                                   std::chars_format::fixed);
    if (ec != std::errc()) return WrongType("a USD amount such as \"0.50\"");
    text.assign(buffer, end);
  } else {
    return WrongType("a USD amount such as \"0.50\"");
  }
  auto micros = core::ParseUsd(text);
  if (!micros.ok()) return Fail("must be a USD amount such as \"0.50\": " + micros.error().message);
  return std::optional<core::MicroUsd>(*micros);
}

Result<std::vector<std::string>> Field::StringList(size_t max_items, size_t max_bytes) const {
  std::vector<std::string> out;
  if (!present()) return out;
  if (!value_->is_array()) return WrongType("a list");
  if (value_->size() > max_items) {
    return Fail("has " + std::to_string(value_->size()) + " items, over the limit of " +
                std::to_string(max_items));
  }
  for (size_t i = 0; i < value_->size(); ++i) {
    AGENTD_ASSIGN_OR_RETURN(std::string text, Item(i).RequiredString(max_bytes));
    out.push_back(std::move(text));
  }
  return out;
}

Result<std::map<std::string, std::string>> Field::StringMap(size_t max_items,
                                                            size_t max_value_bytes) const {
  std::map<std::string, std::string> out;
  if (!present()) return out;
  if (!value_->is_object()) return WrongType("an object");
  if (value_->size() > max_items) {
    return Fail("has " + std::to_string(value_->size()) + " entries, over the limit of " +
                std::to_string(max_items));
  }
  for (const auto& [key, value] : value_->items()) {
    Field entry(*ctx_, &value, JoinPath(path_, key));
    std::string text;
    if (value.is_string()) {
      text = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      text = value.dump();
    } else if (!value.is_null()) {
      return entry.WrongType("a string");
    }
    if (text.size() > max_value_bytes) {
      return entry.Fail("is " + std::to_string(text.size()) + " bytes long, over the limit of " +
                        std::to_string(max_value_bytes));
    }
    out.emplace(key, std::move(text));
  }
  return out;
}

}  // namespace agentd::resources
