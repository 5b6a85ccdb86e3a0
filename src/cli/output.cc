#include "cli/output.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <sstream>

#include "core/time.h"

namespace agentd::cli {

namespace {

using core::Json;

// String field of a JSON object, or "" when missing or not a string.
std::string Str(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// ---- YAML ----------------------------------------------------------------------------------

// Unicode characters YAML treats as line breaks or byte-order marks; a string holding one is
// always double-quoted and the character escaped.
bool StartsWithSpecialUnicode(std::string_view s, size_t i, std::string* escape) {
  static const std::pair<std::string_view, std::string_view> kSpecial[] = {
      {"\xC2\x85", "\\u0085"},
      {"\xE2\x80\xA8", "\\u2028"},
      {"\xE2\x80\xA9", "\\u2029"},
      {"\xEF\xBB\xBF", "\\uFEFF"},
  };
  for (const auto& [seq, esc] : kSpecial) {
    if (s.substr(i, seq.size()) == seq) {
      *escape = esc;
      return true;
    }
  }
  return false;
}

bool HasSpecialChars(std::string_view s, bool allow_newline) {
  std::string ignored;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n' && allow_newline) continue;
    if (c < 0x20 || c == 0x7F) return true;
    if (c >= 0x80 && StartsWithSpecialUnicode(s, i, &ignored)) return true;
  }
  return false;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// True when `s` may be written as a plain scalar and read back as the same string by YAML 1.1
// and 1.2 parsers. Conservative: anything that might be a number, bool, null, timestamp or an
// indicator is quoted.
bool CanBePlain(std::string_view s) {
  if (s.empty()) return false;
  if (HasSpecialChars(s, /*allow_newline=*/false)) return false;
  if (s.front() == ' ' || s.back() == ' ') return false;
  constexpr std::string_view kIndicators = "-?:,[]{}#&*!|>'\"%@`~=<.+";
  if (kIndicators.find(s.front()) != std::string_view::npos) return false;
  if (s.front() >= '0' && s.front() <= '9') return false;
  if (s.back() == ':') return false;
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) {
    return false;
  }
  static const char* const kReserved[] = {"null", "true", "false", "yes", "no", "on",
                                          "off",  "y",    "n",     "nan", "inf"};
  std::string lower = Lower(s);
  for (const char* word : kReserved) {
    if (lower == word) return false;
  }
  return true;
}

std::string DoubleQuoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::string escape;
    if (c >= 0x80 && StartsWithSpecialUnicode(s, i, &escape)) {
      out += escape;
      i += (escape == "\\u0085") ? 1 : 2;  // skip the rest of the 2- or 3-byte sequence
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          static const char kHex[] = "0123456789ABCDEF";
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

// A literal block keeps multi-line text (model answers, tool output) readable. Only used when
// every character is printable and the first line does not start with whitespace (which would
// need an explicit indentation indicator).
bool CanBeLiteralBlock(std::string_view s) {
  if (s.find('\n') == std::string_view::npos) return false;
  if (HasSpecialChars(s, /*allow_newline=*/true)) return false;
  if (s.front() == ' ' || s.front() == '\t' || s.front() == '\n') return false;
  return true;
}

std::string LiteralBlock(std::string_view s, int indent) {
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  std::string out = trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
  std::string_view body = s.substr(0, s.size() - trailing);
  std::string pad(indent, ' ');
  size_t start = 0;
  while (start <= body.size()) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(start, end - start);
    out += '\n';
    if (!line.empty()) out += pad + std::string(line);
    start = end + 1;
  }
  // Kept trailing newlines beyond the one that ends the last line become empty lines.
  for (size_t i = 1; i < trailing; ++i) out += '\n';
  return out;
}

// A scalar as it follows "key: " or "- "; `indent` is where a literal block's lines go.
std::string YamlScalar(const Json& value, int indent) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      if (CanBePlain(s)) return s;
      if (CanBeLiteralBlock(s)) return LiteralBlock(s, indent);
      return DoubleQuoted(s);
    }
    case Json::value_t::object:
      return "{}";  // only reached for empty containers
    case Json::value_t::array:
      return "[]";
    default:
      return value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

std::string YamlKey(const std::string& key) { return CanBePlain(key) ? key : DoubleQuoted(key); }

bool IsNonEmptyContainer(const Json& value) {
  return (value.is_object() || value.is_array()) && !value.empty();
}

void EmitYaml(const Json& value, int indent, std::string& out);

// Emits a non-empty container that starts on the current line after "- ".
void EmitInlineAfterDash(const Json& value, int indent, std::string& out) {
  std::string nested;
  EmitYaml(value, indent, nested);
  out += nested.substr(static_cast<size_t>(indent));
}

void EmitYaml(const Json& value, int indent, std::string& out) {
  std::string pad(indent, ' ');
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) {
      out += pad + YamlKey(key) + ":";
      if (IsNonEmptyContainer(item)) {
        out += '\n';
        EmitYaml(item, indent + 2, out);
      } else {
        out += ' ' + YamlScalar(item, indent + 2) + '\n';
      }
    }
  } else if (value.is_array()) {
    for (const auto& item : value) {
      out += pad + "- ";
      if (IsNonEmptyContainer(item)) {
        EmitInlineAfterDash(item, indent + 2, out);
      } else {
        out += YamlScalar(item, indent + 2) + '\n';
      }
    }
  } else {
    out += pad + YamlScalar(value, indent + 2) + '\n';
  }
}

// ---- runs ----------------------------------------------------------------------------------

std::string AgeSince(const Json& run, std::string_view field, core::TimePoint now) {
  std::string text = Str(run, field);
  if (text.empty()) return "-";
  auto t = core::ParseRfc3339(text);
  if (!t.ok()) return "-";
  return FormatAge(std::chrono::duration_cast<std::chrono::milliseconds>(now - *t));
}

std::string Cost(const Json& run) {
  if (!run.contains("usage")) return "-";
  std::string cost = Str(run["usage"], "costUsd");
  return cost.empty() ? "-" : "$" + cost;
}

int64_t IntField(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return 0;
  return it->get<int64_t>();
}

// Any JSON value as a table cell: strings as they are, numbers and bools as JSON, "-" for
// missing, null or empty.
std::string Cell(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return "-";
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "-";
  std::string text = it->is_string() ? it->get<std::string>() : core::DumpJson(*it);
  return text.empty() ? "-" : text;
}

std::string Dollars(const Json& obj, std::string_view key) {
  std::string amount = Str(obj, key);
  return amount.empty() ? "-" : "$" + amount;
}

// "costCenter" -> "COST CENTER".
std::string ColumnName(std::string_view camel) {
  std::string out;
  for (char c : camel) {
    if (std::isupper(static_cast<unsigned char>(c)) && !out.empty()) out += ' ';
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::vector<std::string> UsageFigures(const Json& row) {
  return {std::to_string(IntField(row, "runs")), std::to_string(IntField(row, "modelCalls")),
          std::to_string(IntField(row, "inputTokens")),
          std::to_string(IntField(row, "outputTokens")), Dollars(row, "costUsd")};
}

}  // namespace

core::Result<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  if (text == "yaml") return OutputFormat::kYaml;
  return core::InvalidArgument("unknown output format \"" + std::string(text.substr(0, 40)) +
                               "\" (use table, json or yaml)");
}

std::string FormatJson(const Json& value) {
  return value.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string FormatYaml(const Json& value) {
  std::string out;
  if (IsNonEmptyContainer(value)) {
    EmitYaml(value, 0, out);
  } else {
    out = YamlScalar(value, 2) + "\n";
  }
  return out;
}

std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size(), 0);
  for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < header.size() && i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < header.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      line += cell;
      if (i + 1 < header.size()) line += std::string(widths[i] - cell.size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  };
  emit(header);
  for (const auto& row : rows) emit(row);
  return out;
}

std::string FormatAge(std::chrono::milliseconds age) {
  int64_t s = std::max<int64_t>(0, age.count() / 1000);
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 86400) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string FormatRunTable(const std::vector<Json>& runs, core::TimePoint now) {
  std::vector<std::vector<std::string>> rows;
  rows.reserve(runs.size());
  for (const auto& run : runs) {
    auto or_dash = [](std::string s) { return s.empty() ? std::string("-") : s; };
    rows.push_back({or_dash(Str(run, "id")), or_dash(Str(run, "agent")), or_dash(Str(run, "phase")),
                    AgeSince(run, "createdAt", now), Cost(run)});
  }
  return FormatTable({"ID", "AGENT", "PHASE", "AGE", "COST"}, rows);
}

std::string FormatRunDetails(const Json& run, core::TimePoint now) {
  std::vector<std::pair<std::string, std::string>> lines;
  auto add = [&](std::string key, std::string value) {
    if (!value.empty()) lines.emplace_back(std::move(key), std::move(value));
  };
  add("ID", Str(run, "id"));
  add("Agent", Str(run, "agent"));
  std::string phase = Str(run, "phase");
  if (run.contains("conditions") && run["conditions"].is_array() && !run["conditions"].empty()) {
    const Json& condition = run["conditions"][0];
    std::string why = Str(condition, "reason");
    std::string message = Str(condition, "message");
    if (!message.empty()) why += why.empty() ? message : ": " + message;
    if (!why.empty()) phase += " (" + why + ")";
  }
  add("Phase", phase);
  for (auto [label, field] : {std::pair{"Created", "createdAt"}, std::pair{"Started", "startedAt"},
                              std::pair{"Finished", "finishedAt"}}) {
    std::string at = Str(run, field);
    if (!at.empty()) add(label, at + " (" + AgeSince(run, field, now) + " ago)");
  }
  if (run.contains("attempts")) add("Attempts", std::to_string(IntField(run, "attempts")));
  if (run.contains("usage") && run["usage"].is_object()) {
    const Json& usage = run["usage"];
    int64_t calls = IntField(usage, "modelCalls");
    add("Tokens", std::to_string(IntField(usage, "inputTokens")) + " input (" +
                      std::to_string(IntField(usage, "cachedInputTokens")) + " cached), " +
                      std::to_string(IntField(usage, "outputTokens")) + " output, " +
                      std::to_string(calls) + (calls == 1 ? " model call" : " model calls"));
    add("Cost", Cost(run));
  }
  if (run.contains("labels") && run["labels"].is_object() && !run["labels"].empty()) {
    std::string labels;
    for (const auto& [k, v] : run["labels"].items()) {
      if (!labels.empty()) labels += ", ";
      labels += k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
    }
    add("Labels", labels);
  }
  if (run.contains("governance") && run["governance"].is_object()) {
    const Json& governance = run["governance"];
    add("Team", Str(governance, "team"));
    if (governance.contains("tier") && governance["tier"].is_number_integer()) {
      add("Tier", std::to_string(governance["tier"].get<int64_t>()));
    }
    std::string cap = Str(governance, "allowanceUsd");
    if (!cap.empty()) add("Max cost", "$" + cap);
    if (governance.contains("budgets") && governance["budgets"].is_array()) {
      std::string budgets;
      for (const auto& budget : governance["budgets"]) {
        if (!budget.is_string()) continue;
        if (!budgets.empty()) budgets += ", ";
        budgets += budget.get<std::string>();
      }
      add("Budgets", budgets);
    }
    std::string expires = Str(governance, "approvalExpiresAt");
    if (!expires.empty()) {
      auto at = core::ParseRfc3339(expires);
      std::string in;
      if (at.ok()) {
        in = *at > now
                 ? " (in " +
                       FormatAge(std::chrono::duration_cast<std::chrono::milliseconds>(*at - now)) +
                       ")"
                 : " (expired)";
      }
      add("Approval", "expires " + expires + in);
    }
  }
  add("Input", Str(run, "input"));

  size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : lines) {
    out += key + ":" + std::string(width - key.size() + 2, ' ');
    // Continuation lines of multi-line values line up under the first one.
    std::string indent(width + 3, ' ');
    for (char c : value) {
      out += c;
      if (c == '\n') out += indent;
    }
    out += '\n';
  }
  for (auto [label, field] : {std::pair{"Result", "result"}, std::pair{"Error", "error"}}) {
    std::string text = Str(run, field);
    if (text.empty()) continue;
    out += std::string(label) + ":\n";
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) out += line.empty() ? "\n" : "  " + line + "\n";
  }
  return out;
}

std::string FormatUsageTable(const Json& usage) {
  std::vector<std::string> groups;
  if (usage.contains("groupBy") && usage["groupBy"].is_array()) {
    for (const auto& group : usage["groupBy"]) {
      if (group.is_string()) groups.push_back(group.get<std::string>());
    }
  }
  std::vector<std::string> header;
  for (const auto& group : groups) header.push_back(ColumnName(group));
  for (const char* column : {"RUNS", "CALLS", "INPUT", "OUTPUT", "COST"}) header.push_back(column);

  std::vector<std::vector<std::string>> rows;
  const Json total = usage.contains("total") ? usage["total"] : Json::object();
  if (groups.empty()) {
    rows.push_back(UsageFigures(total));
    return FormatTable(header, rows);
  }
  if (usage.contains("rows") && usage["rows"].is_array()) {
    for (const auto& row : usage["rows"]) {
      std::vector<std::string> cells;
      const Json group = row.contains("group") ? row["group"] : Json::object();
      for (const auto& name : groups) cells.push_back(Cell(group, name));
      for (auto& figure : UsageFigures(row)) cells.push_back(std::move(figure));
      rows.push_back(std::move(cells));
    }
  }
  std::vector<std::string> last(groups.size(), "");
  last[0] = "TOTAL";
  for (auto& figure : UsageFigures(total)) last.push_back(std::move(figure));
  rows.push_back(std::move(last));
  return FormatTable(header, rows);
}

std::string FormatBudgetTable(const std::vector<Json>& budgets) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& budget : budgets) {
    std::string scope;
    if (budget.contains("scope") && budget["scope"].is_object()) {
      for (const auto& [key, value] : budget["scope"].items()) {  // sorted by key
        if (!scope.empty()) scope += ",";
        scope += key + "=" + (value.is_string() ? value.get<std::string>() : core::DumpJson(value));
      }
    }
    rows.push_back({Cell(budget, "name"), scope.empty() ? "all" : scope, Cell(budget, "period"),
                    Dollars(budget, "spentUsd"), Dollars(budget, "reservedUsd"),
                    Dollars(budget, "limitUsd"), Cell(budget, "state")});
  }
  return FormatTable({"NAME", "SCOPE", "PERIOD", "SPENT", "RESERVED", "LIMIT", "STATE"}, rows);
}

std::string FormatAuditTable(const std::vector<Json>& entries) {
  constexpr size_t kMaxDetailBytes = 60;
  std::vector<std::vector<std::string>> rows;
  for (const auto& entry : entries) {
    std::string details;
    if (entry.contains("details") && !entry["details"].empty()) {
      details = Ellipsize(core::DumpJson(entry["details"]), kMaxDetailBytes);
    }
    rows.push_back({Cell(entry, "index"), Cell(entry, "time"), Cell(entry, "actor"),
                    Cell(entry, "action"), Cell(entry, "subject"), details});
  }
  return FormatTable({"INDEX", "TIME", "ACTOR", "ACTION", "SUBJECT", "DETAILS"}, rows);
}

std::string Ellipsize(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  // Back up over continuation bytes (10xxxxxx) so the cut falls before a sequence's lead byte.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "…";
}

}  // namespace agentd::cli
