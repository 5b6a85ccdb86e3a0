// Building blocks of the codec (codec.cc): typed, bounded access to the fields of one JSON
// document, with errors that name where the document came from, the object and the field:
//   examples/agents.yaml:14: Agent "developer": spec.limits.maxTurns must be between 1 and
//   1000, got 0
// Not thread-safe; one DocContext per document being decoded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/money.h"
#include "core/result.h"
#include "resources/yaml_json.h"

namespace agentd::resources {

class DocContext {
 public:
  // `origin` is a file name or a description such as "request body" (may be empty); `line` is
  // the document's first line (0 when unknown); `lines` (may be null) gives field lines.
  DocContext(std::string origin, int line, const LineMap* lines)
      : origin_(std::move(origin)), line_(line), lines_(lines) {}

  // Names the object in later errors, as soon as its kind and name are known.
  void SetObject(std::string_view kind, std::string_view name) {
    kind_ = kind;
    name_ = name;
  }

  // "<origin>:<line of path>: <Kind> "<name>": <path> <message>"; parts that are unknown are
  // left out.
  core::Error Fail(std::string_view path, std::string_view message) const;

  // "<origin>:<line>" of the document, or just "<origin>" when the line is unknown.
  std::string Location() const;

 private:
  std::string origin_;
  int line_;
  const LineMap* lines_;
  std::string kind_;
  std::string name_;
};

// One field of the document: its value (null when absent) and its path ("spec.limits").
// Accessors accept an absent or null field (giving nullopt or the fallback) unless they are
// called Required; a present field of the wrong type or out of bounds is an error.
class Field {
 public:
  Field(const DocContext& ctx, const core::Json* value, std::string path)
      : ctx_(&ctx), value_(value), path_(std::move(path)) {}

  bool present() const { return value_ != nullptr && !value_->is_null(); }
  const core::Json& json() const { return *value_; }
  const std::string& path() const { return path_; }
  core::Error Fail(std::string_view message) const { return ctx_->Fail(path_, message); }

  // The member `key` of this object (absent if this is not an object or has no such key).
  Field operator[](std::string_view key) const;
  // The element `index` of this list (absent if this is not a list or is shorter).
  Field Item(size_t index) const;

  // Fails unless this is absent or an object whose keys are all in `known`; an unknown key is
  // reported with the closest known one when it looks like a typo.
  core::Status ExpectObject(std::initializer_list<std::string_view> known) const;
  core::Status RequireObject(std::initializer_list<std::string_view> known) const;

  core::Result<std::optional<std::string>> OptionalString(size_t max_bytes) const;
  // Present and non-empty.
  core::Result<std::string> RequiredString(size_t max_bytes) const;
  core::Result<int64_t> Int(int64_t min, int64_t max, int64_t fallback) const;
  core::Result<std::optional<int64_t>> OptionalInt(int64_t min, int64_t max) const;
  // true or false (a YAML 1.2 boolean; "yes" is a string and an error).
  core::Result<bool> Bool(bool fallback) const;
  // A decimal USD amount: a string such as "0.50" (or a plain number), at most 6 decimals.
  core::Result<std::optional<core::MicroUsd>> OptionalUsd() const;
  // A list of non-empty strings, each at most `max_bytes`.
  core::Result<std::vector<std::string>> StringList(size_t max_items, size_t max_bytes) const;
  // An object of scalar values; numbers and booleans become their text.
  core::Result<std::map<std::string, std::string>> StringMap(size_t max_items,
                                                             size_t max_value_bytes) const;

 private:
  core::Error WrongType(std::string_view want) const;

  const DocContext* ctx_;
  const core::Json* value_;
  std::string path_;
};

// "a string", "an integer", "an object", ... for messages.
std::string_view JsonTypeWord(const core::Json& value);

}  // namespace agentd::resources
