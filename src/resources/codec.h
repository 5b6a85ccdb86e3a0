// The codec of the object kinds: YAML or JSON text -> typed, validated objects with defaults
// applied, and objects -> their JSON form (the REST API's `GET /api/v1/{kind}/{name}`).
//
// YAML and JSON share one path: YAML documents are converted to JSON (yaml_json.h, keeping the
// line of every field), then decoded field by field. Decoding validates as it goes and stops at
// the first problem, with an error (kInvalidArgument) that names the file and line, the object
// and the field:
//   examples/agents.yaml:14: Agent "developer": spec.limits.maxTurns must be between 1 and
//   1000, got 0
// Unknown fields are errors (a typo must not pass silently); server-populated Kubernetes
// metadata (creationTimestamp, managedFields, ...) and `status` are accepted and ignored.
// Cross-object checks (an Agent's model exists) live in catalog/references.h.
//
// The rules and defaults of every field are listed in docs/objects.md. All functions are pure
// and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/json.h"
#include "core/result.h"
#include "resources/types.h"

namespace agentd::resources {

using AnyObject = std::variant<Model, Instruction, Agent, Budget, TierPolicy>;

// Size limits of the input and of the larger fields.
inline constexpr size_t kMaxFileBytes = 1 << 20;    // per YAML/JSON file or request body
inline constexpr size_t kMaxTextBytes = 64 * 1024;  // Instruction text, Agent systemPrompt

// "Model", "Instruction", "Agent", "Budget" or "TierPolicy".
std::string_view KindOf(const AnyObject& object);
const ObjectMeta& MetaOf(const AnyObject& object);

// Parses every document of a YAML (or JSON: it is YAML too) file. `file_name` is used only in
// error messages. Empty documents are skipped; a file without objects gives an empty vector.
core::Result<std::vector<AnyObject>> ParseObjects(std::string_view yaml_text,
                                                  std::string_view file_name);

// The same, keeping where each object starts ("examples/agents.yaml:12") for later messages.
struct LocatedObject {
  AnyObject object;
  std::string location;
};
core::Result<std::vector<LocatedObject>> ParseLocatedObjects(std::string_view yaml_text,
                                                             std::string_view file_name);

// For tools that report every problem at once (agentctl validate): each document is decoded on
// its own, so one invalid object does not hide the others. `errors` holds one error per invalid
// document (in file order, with the same messages as ParseLocatedObjects); a file that is not
// YAML at all (syntax error, too large) gives a single error and no objects.
struct ParseReport {
  std::vector<LocatedObject> objects;
  std::vector<core::Error> errors;
  size_t documents = 0;  // non-empty documents in the file, valid or not (0 when not YAML)
};
ParseReport ParseLocatedObjectsReportingAll(std::string_view yaml_text, std::string_view file_name);

// Decodes one object from its JSON form. `where` (e.g. "request body") prefixes error messages
// and may be empty. The typed forms also fail when the document is of another kind.
core::Result<AnyObject> FromJson(const core::Json& doc, std::string_view where = {});
core::Result<Model> ModelFromJson(const core::Json& doc, std::string_view where = {});
core::Result<Instruction> InstructionFromJson(const core::Json& doc, std::string_view where = {});
core::Result<Agent> AgentFromJson(const core::Json& doc, std::string_view where = {});
core::Result<Budget> BudgetFromJson(const core::Json& doc, std::string_view where = {});
core::Result<TierPolicy> TierPolicyFromJson(const core::Json& doc, std::string_view where = {});

// The JSON form with every defaulted field written out; FromJson(ToJson(x)) == x. Secrets are
// never values here, only references (apiKey.env / apiKey.secretRef).
core::Json ToJson(const Model& model);
core::Json ToJson(const Instruction& instruction);
core::Json ToJson(const Agent& agent);
core::Json ToJson(const Budget& budget);
core::Json ToJson(const TierPolicy& policy);
core::Json ToJson(const AnyObject& object);

// The wire form of a budget action: "reject", "requireApproval" or "allow".
std::string_view BudgetActionName(BudgetAction action);

}  // namespace agentd::resources
