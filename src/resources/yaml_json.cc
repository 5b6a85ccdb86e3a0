#include "resources/yaml_json.h"

#include <charconv>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/eventhandler.h>
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
Json ResolveScalar(const std::string& text, const std::string& tag) {
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

// A YAML node as the parser reported it, before types are resolved. Aliases share the node of
// their anchor (as yaml-cpp's own nodes do), so the tree stays as small as the text; the
// Converter expands them within the limits.
struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  int line = 0;      // 1-based
  std::string tag;   // "!" for quoted and block scalars, "?" for plain ones, else the tag
  std::string text;  // kScalar
  // kSequence: the items; kMap: key, value, key, value, ...
  std::vector<std::shared_ptr<const YamlNode>> children;
};
using NodePtr = std::shared_ptr<const YamlNode>;

// Builds the YamlNode tree of one document from yaml-cpp's parser events. We drive
// YAML::Parser ourselves instead of calling YAML::LoadAll: in yaml-cpp 0.7 LoadAll never
// returns on some invalid input (a "," outside a flow collection, e.g. the 1-byte file ","),
// appending empty documents until memory runs out (jbeder/yaml-cpp#1040).
class TreeBuilder : public YAML::EventHandler {
 public:
  NodePtr root() const { return root_; }
  const YAML::Mark& start() const { return start_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(NewNode(YamlNode::Kind::kNull, mark, ""), anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    // The parser rejects unknown anchor names before this; the check only keeps this safe.
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw YAML::ParserException(mark, "unknown anchor");
    // An anchor still open names a collection that contains this alias: "&a [*a]" would expand
    // without end (yaml-cpp's own nodes would form a cycle).
    if (it->second.open) throw YAML::ParserException(mark, "alias inside its own anchor's node");
    Add(it->second.node, YAML::NullAnchor);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    auto node = NewNode(YamlNode::Kind::kScalar, mark, tag);
    node->text = value;
    Add(std::move(node), anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(NewNode(YamlNode::Kind::kSequence, mark, tag), anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(NewNode(YamlNode::Kind::kMap, mark, tag), anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Anchored {
    NodePtr node;
    bool open = false;  // a collection whose end event has not come yet
  };

  static std::shared_ptr<YamlNode> NewNode(YamlNode::Kind kind, const YAML::Mark& mark,
                                           const std::string& tag) {
    auto node = std::make_shared<YamlNode>();
    node->kind = kind;
    node->line = mark.line + 1;
    node->tag = tag;
    return node;
  }

  void Add(NodePtr node, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {node, false};
    if (open_.empty()) {
      root_ = std::move(node);
    } else {
      open_.back()->children.push_back(std::move(node));
    }
  }
  void Open(std::shared_ptr<YamlNode> node, YAML::anchor_t anchor) {
    Add(node, YAML::NullAnchor);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = {node, true};
    open_.push_back(std::move(node));
    open_anchors_.push_back(anchor);
  }
  void Close() {
    if (open_.empty()) return;
    // Anchor ids are unique within a document (a redefined name gets a new id).
    if (open_anchors_.back() != YAML::NullAnchor) anchors_[open_anchors_.back()].open = false;
    open_.pop_back();
    open_anchors_.pop_back();
  }

  YAML::Mark start_;
  NodePtr root_;
  std::vector<std::shared_ptr<YamlNode>> open_;  // the collections being filled, innermost last
  std::vector<YAML::anchor_t> open_anchors_;     // their anchors, parallel to open_
  std::unordered_map<YAML::anchor_t, Anchored> anchors_;
};

class Converter {
 public:
  // `node_count` is shared by all documents of a stream, so the limit bounds the whole file.
  Converter(std::string_view file_name, const YamlLimits& limits, size_t* node_count,
            LineMap* lines)
      : file_name_(file_name), limits_(limits), node_count_(node_count), lines_(lines) {}

  Result<Json> Convert(const YamlNode& node, const std::string& path, int depth) {
    if (++*node_count_ > limits_.max_nodes) {
      return Fail(node, "more than " + std::to_string(limits_.max_nodes) +
                            " YAML nodes (after expanding aliases)");
    }
    const bool scalar = node.kind == YamlNode::Kind::kScalar;
    expanded_bytes_ += path.size() + (scalar ? node.text.size() : 0);
    if (expanded_bytes_ > limits_.max_expanded_bytes) {
      return Fail(node, "more than " + std::to_string(limits_.max_expanded_bytes) +
                            " bytes of YAML text (after expanding aliases)");
    }
    if (depth > limits_.max_depth) {
      return Fail(node, "YAML nested deeper than " + std::to_string(limits_.max_depth));
    }
    switch (node.kind) {
      case YamlNode::Kind::kNull:
        return Json(nullptr);
      case YamlNode::Kind::kScalar:
        return ResolveScalar(node.text, node.tag);
      case YamlNode::Kind::kSequence: {
        Json out = Json::array();
        size_t index = 0;
        for (const NodePtr& item : node.children) {
          std::string item_path = path + "[" + std::to_string(index++) + "]";
          lines_->Set(item_path, item->line);
          AGENTD_ASSIGN_OR_RETURN(Json value, Convert(*item, item_path, depth + 1));
          out.push_back(std::move(value));
        }
        return out;
      }
      case YamlNode::Kind::kMap: {
        Json out = Json::object();
        for (size_t i = 0; i + 1 < node.children.size(); i += 2) {
          const YamlNode& key = *node.children[i];
          const YamlNode& value_node = *node.children[i + 1];
          if (key.kind != YamlNode::Kind::kScalar) {
            return Fail(key, "mapping keys must be scalars");
          }
          const std::string& name = key.text;
          if (out.contains(name)) return Fail(key, "duplicate key \"" + name + "\"");
          std::string child_path = path.empty() ? name : path + "." + name;
          lines_->Set(child_path, key.line);
          AGENTD_ASSIGN_OR_RETURN(Json value, Convert(value_node, child_path, depth + 1));
          out[name] = std::move(value);
        }
        return out;
      }
    }
    return Json(nullptr);
  }

 private:
  Error Fail(const YamlNode& node, std::string_view message) const {
    return InvalidArgument(std::string(file_name_) + ":" + std::to_string(node.line) + ": " +
                           std::string(message));
  }

  std::string_view file_name_;
  const YamlLimits& limits_;
  size_t* node_count_;
  size_t expanded_bytes_ = 0;  // per document
  LineMap* lines_;
};

// The character at `mark` quoted ("\",\""), for messages; "token" when it is not printable ASCII
// or cannot be located. yaml-cpp counts positions in bytes of UTF-8 text after a byte order mark;
// UTF-16 and UTF-32 input (a BOM of FE FF / FF FE, or zero bytes at the start) it converts first.
std::string DescribeAt(std::string_view text, const YAML::Mark& mark) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::string_view head = text.substr(0, 4);
  if (head.find('\0') != std::string_view::npos ||
      (!head.empty() && static_cast<unsigned char>(head[0]) >= 0xFE)) {
    return "token";
  }
  if (mark.pos < 0 || static_cast<size_t>(mark.pos) >= text.size()) return "token";
  char c = text[mark.pos];
  if (c <= ' ' || c > '~') return "token";
  return std::string("\"") + c + "\"";
}

}  // namespace

Result<std::vector<YamlDocument>> ParseYamlDocuments(std::string_view text,
                                                     std::string_view file_name,
                                                     YamlLimits limits) {
  if (text.size() > limits.max_bytes) {
    return InvalidArgument(std::string(file_name) + ": file is " + std::to_string(text.size()) +
                           " bytes, over the limit of " + std::to_string(limits.max_bytes));
  }
  // The whole stream is parsed before any document is converted, so that a syntax error
  // anywhere in the file is the error reported.
  std::vector<NodePtr> roots;
  std::istringstream stream{std::string(text)};
  YAML::Parser parser(stream);
  std::optional<size_t> previous_start;
  while (true) {
    TreeBuilder builder;
    try {
      if (!parser.HandleNextDocument(builder)) break;
    } catch (const YAML::Exception& e) {
      return InvalidArgument(std::string(file_name) + ":" + std::to_string(e.mark.line + 1) +
                             ": invalid YAML: " + e.msg);
    }
    // A document consumes at least one token, so one that starts where the previous one did
    // consumed nothing: the parser is stuck on a token it cannot place (see TreeBuilder).
    const YAML::Mark& start = builder.start();
    if (previous_start == static_cast<size_t>(start.pos)) {
      return InvalidArgument(std::string(file_name) + ":" + std::to_string(start.line + 1) +
                             ": invalid YAML: unexpected " + DescribeAt(text, start) +
                             " at column " + std::to_string(start.column + 1));
    }
    previous_start = start.pos;
    NodePtr root = builder.root();
    // Skips empty documents, e.g. after a trailing `---`.
    if (root != nullptr && root->kind != YamlNode::Kind::kNull) roots.push_back(std::move(root));
  }
  std::vector<YamlDocument> documents;
  size_t node_count = 0;
  for (const NodePtr& root : roots) {
    YamlDocument doc;
    doc.line = root->line;
    doc.lines.Set("", doc.line);
    Converter converter(file_name, limits, &node_count, &doc.lines);
    AGENTD_ASSIGN_OR_RETURN(doc.value, converter.Convert(*root, "", 0));
    documents.push_back(std::move(doc));
  }
  return documents;
}

}  // namespace agentd::resources
