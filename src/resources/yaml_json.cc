#include "resources/yaml_json.h"

#include <charconv>
#include <string>

#include <yaml-cpp/yaml.h>

namespace agentd::resources {

using core::Error;
using core::InvalidArgument;
using core::Json;
using core::Result;

int LineMap::Find(std::string_view path) const {
  std::string key(path);
  while (true) {
    if (auto it = lines_.find(key); it != lines_.end()) return it->second;
    if (key.empty()) return 0;
    size_t cut = key.find_last_of(".[");
    key.resize(cut == std::string::npos ? 0 : cut);
  }
}

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// [-+]?[0-9]+
bool LooksLikeInt(std::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    size_t exponent = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exponent;
    if (exponent == 0) return false;
  }
  return i == s.size();
}

// The YAML 1.2 core schema resolution of a scalar.
Json ResolveScalar(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  // "!" marks a quoted or block scalar: always a string.
  if (tag == "!" || tag == "tag:yaml.org,2002:str") return text;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  if (LooksLikeInt(text)) {
    std::string_view digits = text;
    if (digits.front() == '+') digits.remove_prefix(1);
    int64_t value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec == std::errc() && end == digits.data() + digits.size()) return value;
    return text;  // out of range: left as text, the decoder reports the type
  }
  if (LooksLikeFloat(text)) {
    double value = 0;
    auto [end, ec] = std::from_chars(text.data() + (text.front() == '+' ? 1 : 0),
                                     text.data() + text.size(), value);
    if (ec == std::errc() && end == text.data() + text.size()) return value;
  }
  return text;
}

class Converter {
 public:
  // `node_count` is shared by all documents of a stream, so the limit bounds the whole file.
  Converter(std::string_view file_name, const YamlLimits& limits, size_t* node_count,
            LineMap* lines)
      : file_name_(file_name), limits_(limits), node_count_(node_count), lines_(lines) {}

  Result<Json> Convert(const YAML::Node& node, const std::string& path, int depth) {
    if (++*node_count_ > limits_.max_nodes) {
      return Fail(node, "more than " + std::to_string(limits_.max_nodes) +
                            " YAML nodes (after expanding aliases)");
    }
    expanded_bytes_ += path.size() + (node.IsScalar() ? node.Scalar().size() : 0);
    if (expanded_bytes_ > limits_.max_expanded_bytes) {
      return Fail(node, "more than " + std::to_string(limits_.max_expanded_bytes) +
                            " bytes of YAML text (after expanding aliases)");
    }
    if (depth > limits_.max_depth) {
      return Fail(node, "YAML nested deeper than " + std::to_string(limits_.max_depth));
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return Json(nullptr);
      case YAML::NodeType::Scalar:
        return ResolveScalar(node);
      case YAML::NodeType::Sequence: {
        Json out = Json::array();
        size_t index = 0;
        for (YAML::Node item : node) {
          std::string item_path = path + "[" + std::to_string(index++) + "]";
          lines_->Set(item_path, Line(item));
          AGENTD_ASSIGN_OR_RETURN(Json value, Convert(item, item_path, depth + 1));
          out.push_back(std::move(value));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        Json out = Json::object();
        // yaml-cpp iterators yield temporaries: copy the (cheap, shared) node handles.
        for (const auto& entry : node) {
          YAML::Node key = entry.first;
          YAML::Node value_node = entry.second;
          if (!key.IsScalar()) return Fail(key, "mapping keys must be scalars");
          const std::string& name = key.Scalar();
          if (out.contains(name)) return Fail(key, "duplicate key \"" + name + "\"");
          std::string child_path = path.empty() ? name : path + "." + name;
          lines_->Set(child_path, Line(key));
          AGENTD_ASSIGN_OR_RETURN(Json value, Convert(value_node, child_path, depth + 1));
          out[name] = std::move(value);
        }
        return out;
      }
    }
    return Json(nullptr);
  }

 private:
  static int Line(const YAML::Node& node) { return node.Mark().line + 1; }

  Error Fail(const YAML::Node& node, std::string_view message) const {
    return InvalidArgument(std::string(file_name_) + ":" + std::to_string(Line(node)) + ": " +
                           std::string(message));
  }

  std::string_view file_name_;
  const YamlLimits& limits_;
  size_t* node_count_;
  size_t expanded_bytes_ = 0;  // per document
  LineMap* lines_;
};

}  // namespace

Result<std::vector<YamlDocument>> ParseYamlDocuments(std::string_view text,
                                                     std::string_view file_name,
                                                     YamlLimits limits) {
  if (text.size() > limits.max_bytes) {
    return InvalidArgument(std::string(file_name) + ": file is " + std::to_string(text.size()) +
                           " bytes, over the limit of " + std::to_string(limits.max_bytes));
  }
  std::vector<YAML::Node> roots;
  try {
    roots = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(std::string(file_name) + ":" + std::to_string(e.mark.line + 1) +
                           ": invalid YAML: " + e.msg);
  }
  std::vector<YamlDocument> documents;
  size_t node_count = 0;
  for (const YAML::Node& root : roots) {
    if (root.IsNull()) continue;  // an empty document, e.g. after a trailing `---`
    YamlDocument doc;
    doc.line = root.Mark().line + 1;
    doc.lines.Set("", doc.line);
    Converter converter(file_name, limits, &node_count, &doc.lines);
    AGENTD_ASSIGN_OR_RETURN(doc.value, converter.Convert(root, "", 0));
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace agentd::resources
