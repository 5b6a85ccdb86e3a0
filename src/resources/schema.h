// The schema of every object kind, written next to the codec, and the Kubernetes
// CustomResourceDefinitions generated from it (`agentd crds`, committed under deploy/crds/).
//
// One KindSchema per kind describes spec and status field by field: JSON name, type,
// description (what `kubectl explain` shows), default, bounds, pattern, enum and required
// fields, plus CEL rules (x-kubernetes-validations) for what one field alone cannot say (the
// `apiKey` union of a Model, `scope: global` vs `local` of an Instruction). The codec (codec.h)
// stays the authority: the API server checks what the schema can express cheaply, agentd checks
// everything when it decodes an object. schema_test.cc keeps the two in step (every field ToJson
// writes is declared with its type, every declared field is written, defaults and patterns agree
// with the codec), and the crds_drift test fails when deploy/crds/ differs from what this file
// generates (regenerate with scripts/gen-crds.sh).
//
// Kinds: Model, Instruction, Agent, Budget, TierPolicy (decoded by codec.h) and Run (a run
// submitted with kubectl; its spec mirrors the REST API's run request, api/v1/submit.h, and its
// status is written by the operator). All of them: group agentd.dev, version v1alpha1,
// namespaced, with the status subresource, short names and the category `agentd`.
//
// Everything here is immutable data built once and pure functions over it (thread-safe), except
// WriteCrdFiles.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "core/result.h"

namespace agentd::resources {

inline constexpr char kCrdGroup[] = "agentd.dev";
inline constexpr char kCrdVersion[] = "v1alpha1";

// JSON whose objects keep their keys in insertion order: generated documents read top-down
// (type, description, then properties) and are byte-for-byte stable.
using OrderedJson = nlohmann::ordered_json;

enum class SchemaType {
  kString,
  kInteger,
  kBoolean,
  kObject,    // `fields` are its properties
  kArray,     // `items[0]` is the item schema
  kMap,       // an object with arbitrary keys; `items[0]` is the value schema (labels, env)
  kUsd,       // a USD amount: a string such as "0.50", or an integer (x-kubernetes-int-or-string)
  kFreeform,  // any JSON object, kept as it is (x-kubernetes-preserve-unknown-fields)
};

// A CEL rule checked by the API server; `message` is what a rejected request says.
struct ValidationRule {
  std::string rule;
  std::string message;
};

struct FieldSchema {
  std::string name;  // JSON name; empty for array items and map values
  SchemaType type = SchemaType::kString;
  std::string description;
  bool required = false;
  std::optional<core::Json> default_value;
  // Integers: inclusive bounds.
  std::optional<int64_t> minimum;
  std::optional<int64_t> maximum;
  // Strings: length in characters (the API server counts Unicode characters, agentd bytes).
  std::optional<int64_t> min_length;
  std::optional<int64_t> max_length;
  std::string pattern;  // a regular expression both RE2 and ECMAScript read the same way
  std::vector<std::string> enum_values;
  std::string format;               // "date-time"
  std::vector<FieldSchema> fields;  // kObject
  std::vector<FieldSchema> items;   // kArray, kMap: exactly one
  std::optional<int64_t> min_items;
  std::optional<int64_t> max_items;
  std::optional<int64_t> max_properties;  // kMap
  std::string list_type;                  // kArray: "atomic", "set" or "map"
  std::vector<std::string> list_map_keys;
  std::vector<ValidationRule> rules;

  // The property `name` of an object, or nullptr.
  const FieldSchema* Find(std::string_view field_name) const;
};

// A column of `kubectl get`.
struct PrinterColumn {
  std::string name;  // "PHASE"
  std::string type;  // "string", "integer", "date"
  std::string json_path;
  std::string description;
};

struct KindSchema {
  std::string kind;      // "Agent"
  std::string plural;    // "agents"
  std::string singular;  // "agent"
  std::vector<std::string> short_names;
  std::string description;
  FieldSchema spec;    // kObject named "spec"
  FieldSchema status;  // kObject named "status"
  std::vector<PrinterColumn> columns;
  bool decoded_by_codec = true;  // false for Run (the operator reads it)

  std::string CrdName() const { return plural + "." + kCrdGroup; }  // "agents.agentd.dev"
};

// Every kind, in a fixed order: Model, Instruction, Agent, Budget, TierPolicy, Run.
const std::vector<KindSchema>& KindSchemas();
// The kind named `kind` ("Agent"), or nullptr.
const KindSchema* FindKindSchema(std::string_view kind);

// The OpenAPI v3 (structural) schema of one field, as the CRD carries it.
OrderedJson OpenApiSchema(const FieldSchema& field);
// The apiextensions.k8s.io/v1 CustomResourceDefinition of a kind.
OrderedJson CrdJson(const KindSchema& kind);
// The CRD as a YAML document, starting with a comment that says where it comes from.
std::string CrdYaml(const KindSchema& kind);
// Every CRD as one multi-document YAML stream ("---" between documents): `agentd crds`.
std::string CrdsYaml();
// The file under deploy/crds/ that holds a kind's CRD: "agentd.dev_agents.yaml".
std::string CrdFileName(const KindSchema& kind);

// Writes CrdYaml of every kind to `dir`/CrdFileName (creating `dir`), replacing existing files.
// kUnavailable naming the file when one cannot be written.
core::Status WriteCrdFiles(const std::string& dir);

// What the API server's schema validation would say about `value` as the field `schema` (types,
// required and unknown fields, bounds, lengths in Unicode characters, patterns, enums, item
// counts, set uniqueness, map sizes; not the CEL rules, and no defaulting), one message per
// problem naming the path below `path`: `spec.limits.maxTurns must be at most 1000, got 1001`.
// Empty when the value conforms. Patterns are compiled on every call: for tests and tools (the
// operator's tests check the status it writes, which the API server would otherwise prune or
// refuse), not for hot paths.
std::vector<std::string> SchemaViolations(const core::Json& value, const FieldSchema& schema,
                                          const std::string& path);

// A small YAML emitter for JSON values: block style, keys in the object's order, strings plain
// when that cannot change their meaning and double-quoted (JSON escapes) otherwise. Any YAML 1.2
// reader gives back the same JSON value. Ends with a newline.
std::string YamlText(const OrderedJson& value);

}  // namespace agentd::resources
