#include "api/v1/submit.h"

#include <array>
#include <cmath>
#include <limits>

#include <openssl/evp.h>

#include "core/hash.h"
#include "core/text.h"
#include "runs/run.h"

namespace agentd::api::v1 {

namespace {

constexpr std::string_view kWhere = "run request";
constexpr std::array<std::string_view, 6> kFields = {"agent",    "input",           "parameters",
                                                     "priority", "deadlineSeconds", "labels"};

std::string TypeName(const core::Json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) return "integer";
  if (value.is_number_float()) return "number";
  return value.type_name();  // "string", "object", "array", "boolean", "null"
}

core::Error WrongType(std::string_view field, std::string_view expected, const core::Json& got) {
  return core::InvalidArgument("field \"" + std::string(field) + "\" must be " +
                               std::string(expected) + ", got " + TypeName(got));
}

core::Error UnknownField(std::string_view name) {
  std::string message =
      "unknown field " + core::QuoteForMessage(name) + " in " + std::string(kWhere);
  if (name.size() <= 64) {
    std::string_view best;
    size_t best_distance = 3;
    for (std::string_view known : kFields) {
      size_t d = core::EditDistance(name, known);
      if (d < best_distance) {
        best = known;
        best_distance = d;
      }
    }
    if (!best.empty()) message += " (did you mean \"" + std::string(best) + "\"?)";
  }
  message += "; known fields are agent, input, parameters, priority, deadlineSeconds, labels";
  return core::InvalidArgument(message);
}

// An integer field in [min, max]. Accepts integral floats (1.0) within the range.
core::Result<int64_t> IntegerIn(const core::Json& value, std::string_view field, int64_t min,
                                int64_t max) {
  auto out_of_range = [&] {
    return core::InvalidArgument("field \"" + std::string(field) + "\" must be between " +
                                 std::to_string(min) + " and " + std::to_string(max) + ", got " +
                                 core::DumpJson(value));
  };
  if (value.is_number_unsigned()) {
    uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return out_of_range();
    return static_cast<int64_t>(u);
  }
  if (value.is_number_integer()) {
    int64_t i = value.get<int64_t>();
    if (i < min || i > max) return out_of_range();
    return i;
  }
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) return WrongType(field, "an integer", value);
    if (d < static_cast<double>(min) || d > static_cast<double>(max)) return out_of_range();
    return static_cast<int64_t>(d);
  }
  return WrongType(field, "an integer", value);
}

// Depth of nested containers: a scalar is 0, {} or [] is 1, {"a": {}} is 2.
int Depth(const core::Json& value, int limit) {
  if (!value.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : value) {
    deepest = std::max(deepest, Depth(child, limit));
    if (deepest >= limit) break;
  }
  return deepest + 1;
}

bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsLower(c) || IsDigit(c) || (c >= 'A' && c <= 'Z'); }

// A Kubernetes qualified-name part: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, <= 63.
bool IsLabelName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) return false;
  for (char c : name) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// A DNS-1123 subdomain: dot-separated DNS-1123 labels, <= 253.
bool IsDns1123Subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t dot = name.find('.', start);
    std::string_view part =
        name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!IsDns1123Label(part)) return false;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

}  // namespace

bool IsDns1123Label(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return IsLower(c) || IsDigit(c); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '-') return false;
  }
  return true;
}

bool IsLabelKey(std::string_view key) {
  size_t slash = key.find('/');
  if (slash == std::string_view::npos) return IsLabelName(key);
  return IsDns1123Subdomain(key.substr(0, slash)) && IsLabelName(key.substr(slash + 1));
}

bool IsLabelValue(std::string_view value) { return value.empty() || IsLabelName(value); }

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t extra;
    uint32_t code;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= text.size()) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    // Overlong forms, surrogates and values above U+10FFFF are not UTF-8.
    if ((extra == 1 && code < 0x80) || (extra == 2 && code < 0x800) ||
        (extra == 3 && code < 0x10000) || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

core::Result<SubmitBody> ParseSubmitRequest(std::string_view text) {
  // Depth 16 keeps the parser's recursion bounded; parameters get their own, tighter check.
  AGENTD_ASSIGN_OR_RETURN(
      core::Json doc, core::ParseJson(text, {.max_bytes = kMaxSubmitBodyBytes, .max_depth = 16}));
  if (!doc.is_object()) {
    return core::InvalidArgument(std::string(kWhere) + " must be a JSON object, got " +
                                 TypeName(doc));
  }
  for (const auto& [key, value] : doc.items()) {
    bool known = false;
    for (std::string_view field : kFields) known = known || key == field;
    if (!known) return UnknownField(key);
  }

  SubmitBody body;
  auto agent = doc.find("agent");
  if (agent == doc.end() || agent->is_null()) {
    return core::InvalidArgument("missing field \"agent\" in " + std::string(kWhere) +
                                 ": the name of the agent to run");
  }
  if (!agent->is_string()) return WrongType("agent", "a string", *agent);
  body.agent = agent->get<std::string>();

  if (auto input = doc.find("input"); input != doc.end() && !input->is_null()) {
    if (!input->is_string()) return WrongType("input", "a string", *input);
    body.input = input->get<std::string>();
  }
  if (auto parameters = doc.find("parameters"); parameters != doc.end() && !parameters->is_null()) {
    if (!parameters->is_object()) return WrongType("parameters", "an object", *parameters);
    body.parameters = std::move(*parameters);
  }
  if (auto priority = doc.find("priority"); priority != doc.end() && !priority->is_null()) {
    AGENTD_ASSIGN_OR_RETURN(int64_t value,
                            IntegerIn(*priority, "priority", kMinPriority, kMaxPriority));
    body.priority = static_cast<int>(value);
  }
  if (auto deadline = doc.find("deadlineSeconds"); deadline != doc.end() && !deadline->is_null()) {
    AGENTD_ASSIGN_OR_RETURN(int64_t value,
                            IntegerIn(*deadline, "deadlineSeconds", 0, kMaxDeadline.count()));
    if (value > 0) body.deadline = std::chrono::seconds(value);
  }
  if (auto labels = doc.find("labels"); labels != doc.end() && !labels->is_null()) {
    if (!labels->is_object()) return WrongType("labels", "an object of strings", *labels);
    if (labels->size() > kMaxLabels) {
      return core::InvalidArgument("field \"labels\" has " + std::to_string(labels->size()) +
                                   " entries; at most " + std::to_string(kMaxLabels) +
                                   " are allowed");
    }
    for (const auto& [key, value] : labels->items()) {
      if (!value.is_string()) {
        return WrongType("labels." + key.substr(0, 64), "a string", value);
      }
      body.labels.emplace(key, value.get<std::string>());
    }
  }
  AGENTD_RETURN_IF_ERROR(ValidateSubmitBody(body));
  return body;
}

core::Status ValidateSubmitBody(const SubmitBody& body) {
  if (!IsDns1123Label(body.agent)) {
    return core::InvalidArgument(
        "field \"agent\" must be an agent name (1-63 lowercase letters, digits or '-', starting "
        "and ending with a letter or digit), got " +
        core::QuoteForMessage(body.agent));
  }
  if (body.input.size() > kMaxInputBytes) {
    return core::InvalidArgument("field \"input\" is " + std::to_string(body.input.size()) +
                                 " bytes; at most " + std::to_string(kMaxInputBytes) +
                                 " are allowed");
  }
  if (!IsValidUtf8(body.input)) {
    return core::InvalidArgument("field \"input\" is not valid UTF-8");
  }
  if (!body.parameters.is_object()) {
    return WrongType("parameters", "an object", body.parameters);
  }
  if (Depth(body.parameters, kMaxParametersDepth + 1) > kMaxParametersDepth) {
    return core::InvalidArgument("field \"parameters\" is nested deeper than " +
                                 std::to_string(kMaxParametersDepth) + " levels");
  }
  if (body.priority < kMinPriority || body.priority > kMaxPriority) {
    return core::InvalidArgument(
        "field \"priority\" must be between " + std::to_string(kMinPriority) + " and " +
        std::to_string(kMaxPriority) + ", got " + std::to_string(body.priority));
  }
  if (body.deadline && (body.deadline->count() <= 0 || *body.deadline > kMaxDeadline)) {
    return core::InvalidArgument("field \"deadlineSeconds\" must be between 1 and " +
                                 std::to_string(kMaxDeadline.count()) + " (or 0 for none)");
  }
  if (body.labels.size() > kMaxLabels) {
    return core::InvalidArgument("field \"labels\" has " + std::to_string(body.labels.size()) +
                                 " entries; at most " + std::to_string(kMaxLabels) +
                                 " are allowed");
  }
  for (const auto& [key, value] : body.labels) {
    if (!IsLabelKey(key)) {
      return core::InvalidArgument(
          "label key " + core::QuoteForMessage(key) +
          " is not valid: an optional DNS subdomain prefix and '/', then 1-63 letters, digits, "
          "'-', '_' or '.', starting and ending with a letter or digit");
    }
    if (key.starts_with(runs::kReservedLabelPrefix)) {
      return core::InvalidArgument("labels." + key + ": the prefix " + runs::kReservedLabelPrefix +
                                   " is reserved for runs of Run objects");
    }
    if (!IsLabelValue(value)) {
      return core::InvalidArgument(
          "label " + core::QuoteForMessage(key) + " has an invalid value " +
          core::QuoteForMessage(value) +
          ": at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or "
          "digit (or empty)");
    }
  }
  return core::Ok();
}

std::string CanonicalRequestJson(const SubmitBody& body) {
  // nlohmann's objects are std::maps, so keys come out sorted at every level.
  core::Json canonical = {
      {"agent", body.agent},
      {"input", body.input},
      {"parameters", body.parameters},
      {"priority", body.priority},
      {"deadlineSeconds", body.deadline ? body.deadline->count() : 0},
      {"labels", body.labels},
  };
  return core::DumpJson(canonical);
}

std::string CanonicalRequestHash(const SubmitBody& body) {
  return core::Sha256Hex(CanonicalRequestJson(body));
}

}  // namespace agentd::api::v1
