// YAML text -> JSON values, remembering the line of every field so that errors found later by
// the typed decoder can point at the line of the file. YAML and JSON input then share one
// decoding path (codec.h).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json.h"
#include "core/result.h"

namespace agentd::resources {

// The 1-based line of each field, keyed by its path as the decoder spells it: "spec",
// "spec.limits.maxTurns", "spec.tools[2]", "metadata.labels.team".
class LineMap {
 public:
  void Set(std::string path, int line) { lines_[std::move(path)] = line; }
  // The line of `path`, else of its nearest recorded ancestor ("spec.a.b" -> "spec.a" ->
  // "spec" -> ""); 0 when nothing is known.
  int Find(std::string_view path) const;

 private:
  std::unordered_map<std::string, int> lines_;
};

struct YamlDocument {
  core::Json value;
  int line = 0;  // 1-based line where the document's root node starts
  LineMap lines;
};

struct YamlLimits {
  size_t max_bytes = 1 << 20;  // per stream (file)
  int max_depth = 32;
  size_t max_nodes = 100'000;  // per stream, counted after aliases are expanded
  // Scalar text plus field paths, after aliases are expanded: bounds what a small file with
  // aliases of long strings (a "YAML bomb") can make us build.
  size_t max_expanded_bytes = 16 << 20;
};

// Parses every document of a (multi-document, `---`) YAML stream; empty documents are skipped.
// Scalars get types as in the YAML 1.2 core schema: quoted and block scalars and those tagged
// !!str are strings; plain scalars are null (~, null), booleans (true, false), integers or
// floats when they look like one, and strings otherwise ("yes" stays a string). Anchors and
// aliases are expanded; an alias inside the node of its own anchor ("&a [*a]") is an error.
// Mapping keys must be scalars and unique.
// Errors are kInvalidArgument, start with "<file_name>:<line>: " and say what is wrong.
core::Result<std::vector<YamlDocument>> ParseYamlDocuments(std::string_view text,
                                                           std::string_view file_name,
                                                           YamlLimits limits = {});

}  // namespace agentd::resources
