#include "cli/output.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/time.h"

namespace agentd::cli {
namespace {

using core::Json;

// Reads YAML back the way a YAML 1.1 loader resolves plain scalars (stricter than 1.2: yes/no/on/
// off are booleans there), so a string that comes back as a string is safe for both.
Json YamlToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(YamlToJson(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& item : node) out[item.first.as<std::string>()] = YamlToJson(item.second);
      return out;
    }
    case YAML::NodeType::Scalar:
      break;
  }
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted or block scalar: always a string
  if (text == "null" || text == "Null" || text == "NULL" || text == "~") return nullptr;
  bool b = false;
  if (YAML::convert<bool>::decode(node, b)) return b;
  int64_t i = 0;
  if (YAML::convert<int64_t>::decode(node, i)) return i;
  double d = 0;
  if (YAML::convert<double>::decode(node, d)) return d;
  return text;
}

Json RoundTrip(const Json& value) { return YamlToJson(YAML::Load(FormatYaml(value))); }

TEST(FormatYamlTest, StringsThatLookLikeOtherTypesComeBackAsStrings) {
  for (const char* s : {"",     "true", "False", "no",         "YES",
                        "on",   "off",  "y",     "n",          "null",
                        "~",    "123",  "-7",    "1.5",        "1e3",
                        ".5",   ".inf", "0x1F",  "2026-11-21", "2026-11-21T19:36:22.123Z",
                        "1:20", "=",    "<<"}) {
    Json value = {{"v", s}};
    EXPECT_EQ(RoundTrip(value), value) << "for " << s << ":\n" << FormatYaml(value);
  }
}

TEST(FormatYamlTest, StringsWithIndicatorsAndSpecialCharactersRoundTrip) {
  for (const char* s : {"- item",
                        "a: b",
                        "key:",
                        "#comment",
                        "a #b",
                        "[x]",
                        "{y}",
                        "&anchor",
                        "*alias",
                        "!tag",
                        "|pipe",
                        ">fold",
                        "'single'",
                        "\"double\"",
                        "%directive",
                        "@at",
                        "`tick",
                        " leading",
                        "trailing ",
                        "tab\there",
                        "back\\slash",
                        "bell\x07",
                        "del\x7F",
                        "cr\rhere",
                        "crlf\r\nline",
                        "unicode é ✓",
                        "line\xE2\x80\xA8sep",
                        "nel\xC2\x85x",
                        "\xEF\xBB\xBF"
                        "bom",
                        "a, b",
                        "ok: fine?",
                        "plain text with spaces",
                        "run-01jd3k"}) {
    Json value = {{"v", s}, {s, "as key"}};
    EXPECT_EQ(RoundTrip(value), value) << "for " << s << ":\n" << FormatYaml(value);
  }
}

TEST(FormatYamlTest, MultiLineTextIsALiteralBlockThatKeepsItsNewlines) {
  for (const char* s : {"two\nlines", "ends\nwith newline\n", "keeps\ntwo\n\n", "a\n\nb",
                        "code:\n  indented\n    more\n", "tabs\n\tinside"}) {
    Json value = {{"text", s}, {"list", {s, 1}}};
    EXPECT_EQ(RoundTrip(value), value) << "for " << s << ":\n" << FormatYaml(value);
  }
  EXPECT_EQ(FormatYaml(Json{{"text", "a\nb\n"}}), "text: |\n  a\n  b\n");
  EXPECT_EQ(FormatYaml(Json{{"text", "a\nb"}}), "text: |-\n  a\n  b\n");
}

TEST(FormatYamlTest, MultiLineTextThatCannotBeABlockIsQuoted) {
  Json value = {{"text", "  indented first\nline"}, {"other", "\nleading newline"}};
  EXPECT_EQ(RoundTrip(value), value) << FormatYaml(value);
  EXPECT_NE(FormatYaml(value).find("\"  indented first\\nline\""), std::string::npos);
}

TEST(FormatYamlTest, NestedContainersAndScalarsKeepTheirTypes) {
  Json value = Json::parse(R"({
    "id": "run-1", "priority": 3, "ratio": 0.25, "ok": true, "none": null,
    "labels": {}, "tags": [], "usage": {"inputTokens": 10, "costUsd": "0.0001"},
    "items": [{"a": 1, "b": [1, 2]}, [3, [4]], "x", {}, []],
    "conditions": [{"type": "Running", "status": "True", "reason": "", "message": "x: y"}]
  })");
  EXPECT_EQ(RoundTrip(value), value) << FormatYaml(value);
}

TEST(FormatYamlTest, EmitsBlockStyleWithSequenceItemsInline) {
  Json value = Json::parse(R"({"a": {"b": 1}, "c": [{"d": "e", "f": [1]}, 2], "g": {}})");
  EXPECT_EQ(FormatYaml(value),
            "a:\n"
            "  b: 1\n"
            "c:\n"
            "  - d: e\n"
            "    f:\n"
            "      - 1\n"
            "  - 2\n"
            "g: {}\n");
}

TEST(FormatYamlTest, TopLevelScalarsAndEmptyContainers) {
  EXPECT_EQ(FormatYaml(Json("hello")), "hello\n");
  EXPECT_EQ(FormatYaml(Json(42)), "42\n");
  EXPECT_EQ(FormatYaml(Json::object()), "{}\n");
  EXPECT_EQ(FormatYaml(Json::array()), "[]\n");
  EXPECT_EQ(RoundTrip(Json("multi\nline\n")), Json("multi\nline\n"));
}

TEST(FormatJsonTest, IsPrettyWithATrailingNewline) {
  EXPECT_EQ(FormatJson(Json{{"a", 1}}), "{\n  \"a\": 1\n}\n");
}

TEST(FormatTableTest, AlignsColumnsWithoutTrailingSpaces) {
  EXPECT_EQ(
      FormatTable({"ID", "AGENT", "PHASE"},
                  {{"run-1", "developer", "Running"}, {"run-22", "qa", "Queued"}, {"run-3", "x"}}),
      "ID       AGENT       PHASE\n"
      "run-1    developer   Running\n"
      "run-22   qa          Queued\n"
      "run-3    x\n");
}

TEST(FormatAgeTest, UsesTheLargestWholeUnit) {
  using std::chrono::milliseconds;
  EXPECT_EQ(FormatAge(milliseconds(-5000)), "0s");
  EXPECT_EQ(FormatAge(milliseconds(59'999)), "59s");
  EXPECT_EQ(FormatAge(milliseconds(60'000)), "1m");
  EXPECT_EQ(FormatAge(std::chrono::minutes(59)), "59m");
  EXPECT_EQ(FormatAge(std::chrono::hours(5)), "5h");
  EXPECT_EQ(FormatAge(std::chrono::hours(49)), "2d");
}

TEST(FormatRunTableTest, ShowsIdAgentPhaseAgeAndCost) {
  core::TimePoint now = *core::ParseRfc3339("2026-11-21T12:00:00Z");
  std::vector<Json> runs = {
      Json::parse(R"({"id":"run-b","agent":"developer","phase":"Running",
                      "createdAt":"2026-11-21T11:57:30Z","usage":{"costUsd":"0.0123"}})"),
      Json::parse(R"({"id":"run-a","agent":"qa","phase":"Succeeded",
                      "createdAt":"2026-11-19T12:00:00Z","usage":{"costUsd":"0"}})"),
      Json::parse(R"({"id":"run-c","agent":"qa","phase":"Queued","createdAt":"garbage"})"),
  };
  EXPECT_EQ(FormatRunTable(runs, now),
            "ID      AGENT       PHASE       AGE   COST\n"
            "run-b   developer   Running     2m    $0.0123\n"
            "run-a   qa          Succeeded   2d    $0\n"
            "run-c   qa          Queued      -     -\n");
}

TEST(FormatRunDetailsTest, ShowsPhaseReasonUsageAndResult) {
  core::TimePoint now = *core::ParseRfc3339("2026-11-21T12:00:00Z");
  Json run = Json::parse(R"({
    "id":"run-1","agent":"developer","phase":"Failed","input":"fix it",
    "conditions":[{"type":"Failed","status":"True","reason":"ProcessExited","message":"exit 1"}],
    "createdAt":"2026-11-21T11:00:00Z","startedAt":"2026-11-21T11:00:01Z","finishedAt":null,
    "attempts":1,"labels":{"team":"core"},
    "usage":{"inputTokens":10,"cachedInputTokens":2,"outputTokens":5,"modelCalls":1,
             "costUsd":"0.0001"},
    "result":null,"error":"the model gave up\nafter 3 tries"})");
  std::string text = FormatRunDetails(run, now);
  EXPECT_NE(text.find("Phase:     Failed (ProcessExited: exit 1)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Created:   2026-11-21T11:00:00Z (1h ago)\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("Finished"), std::string::npos) << text;
  EXPECT_NE(text.find("Tokens:    10 input (2 cached), 5 output, 1 model call\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Cost:      $0.0001\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Labels:    team=core\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Error:\n  the model gave up\n  after 3 tries\n"), std::string::npos) << text;
}

TEST(FormatRunDetailsTest, ShowsTheGovernanceBlock) {
  Json run = {{"id", "run-1"},
              {"agent", "developer"},
              {"phase", "AwaitingApproval"},
              {"governance",
               {{"team", "platform"},
                {"tier", 4},
                {"allowanceUsd", "10"},
                {"budgets", {"org", "platform-team"}},
                {"approvalExpiresAt", "2026-11-21T15:00:00.000Z"}}}};

  std::string text = FormatRunDetails(run, *core::ParseRfc3339("2026-11-21T12:00:00Z"));

  EXPECT_NE(text.find("Team:      platform\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Tier:      4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Max cost:  $10\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Budgets:   org, platform-team\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Approval:  expires 2026-11-21T15:00:00.000Z (in 3h)\n"), std::string::npos)
      << text;
}

TEST(FormatUsageTableTest, HasGroupColumnsFiguresAndATotalRow) {
  Json usage = Json::parse(R"({
    "from": "2026-11-01T00:00:00Z", "to": "2026-11-21T12:00:00Z",
    "groupBy": ["agent", "costCenter"],
    "rows": [
      {"group": {"agent": "developer", "costCenter": "cc-7"}, "runs": 3, "modelCalls": 5,
       "inputTokens": 1200, "cachedInputTokens": 100, "outputTokens": 300, "costUsd": "0.0123"},
      {"group": {"agent": "reviewer"}, "runs": 1, "modelCalls": 1,
       "inputTokens": 10, "cachedInputTokens": 0, "outputTokens": 2, "costUsd": "0"}],
    "total": {"runs": 4, "modelCalls": 6, "inputTokens": 1210, "cachedInputTokens": 100,
              "outputTokens": 302, "costUsd": "0.0123"}})");

  EXPECT_EQ(FormatUsageTable(usage),
            "AGENT       COST CENTER   RUNS   CALLS   INPUT   OUTPUT   COST\n"
            "developer   cc-7          3      5       1200    300      $0.0123\n"
            "reviewer    -             1      1       10      2        $0\n"
            "TOTAL                     4      6       1210    302      $0.0123\n");
}

TEST(FormatUsageTableTest, WithoutGroupsIsTheRowOfTotals) {
  Json usage = Json::parse(R"({"groupBy": [], "rows": [],
    "total": {"runs": 2, "modelCalls": 3, "inputTokens": 4, "outputTokens": 5, "costUsd": "1.5"}})");

  EXPECT_EQ(FormatUsageTable(usage),
            "RUNS   CALLS   INPUT   OUTPUT   COST\n"
            "2      3       4       5        $1.5\n");
}

TEST(FormatUsageTableTest, ShowsNumericGroupValuesAsNumbers) {
  Json usage = Json::parse(R"({"groupBy": ["tier"],
    "rows": [{"group": {"tier": 3}, "runs": 1, "modelCalls": 1, "inputTokens": 1,
              "outputTokens": 1, "costUsd": "0.01"}],
    "total": {"runs": 1, "modelCalls": 1, "inputTokens": 1, "outputTokens": 1,
              "costUsd": "0.01"}})");

  EXPECT_EQ(FormatUsageTable(usage),
            "TIER    RUNS   CALLS   INPUT   OUTPUT   COST\n"
            "3       1      1       1       1        $0.01\n"
            "TOTAL   1      1       1       1        $0.01\n");
}

TEST(FormatBudgetTableTest, ShowsScopeAmountsAndState) {
  std::vector<Json> budgets = {
      Json::parse(R"({"name": "platform-team", "scope": {"team": "platform", "tier": 3},
        "period": "month", "limitUsd": "150", "spentUsd": "120.5", "reservedUsd": "5",
        "state": "nearLimit"})"),
      Json::parse(R"({"name": "org", "scope": {}, "period": "day", "limitUsd": "1000",
        "spentUsd": "0", "reservedUsd": "0", "state": "ok"})")};

  EXPECT_EQ(
      FormatBudgetTable(budgets),
      "NAME            SCOPE                  PERIOD   SPENT    RESERVED   LIMIT   STATE\n"
      "platform-team   team=platform,tier=3   month    $120.5   $5         $150    nearLimit\n"
      "org             all                    day      $0       $0         $1000   ok\n");
}

TEST(FormatAuditTableTest, ShowsEntriesWithShortenedDetails) {
  std::vector<Json> entries = {
      Json::parse(R"({"index": 1, "time": "2026-11-21T12:00:00.000Z", "actor": "ci",
        "action": "run.submitted", "subject": "run-1", "details": {"agent": "developer"},
        "prev_hash": "0", "hash": "1"})"),
      Json::parse(R"({"index": 2, "time": "2026-11-21T12:00:01.000Z", "actor": "system",
        "action": "catalog.changed", "subject": "", "details": {}, "prev_hash": "1",
        "hash": "2"})")};
  entries[0]["details"]["input"] = std::string(100, 'x');

  std::string table = FormatAuditTable(entries);

  EXPECT_EQ(table.substr(0, table.find('\n')),
            "INDEX   TIME                       ACTOR    ACTION            SUBJECT   DETAILS");
  EXPECT_NE(table.find("1       2026-11-21T12:00:00.000Z   ci       run.submitted     run-1     "
                       "{\"agent\":\"developer\",\"input\":\"xxx"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("x…\n"), std::string::npos) << table;
  EXPECT_NE(table.find("2       2026-11-21T12:00:01.000Z   system   catalog.changed   -\n"),
            std::string::npos)
      << table;
}

TEST(EllipsizeTest, CutsOnAUtf8BoundaryAndMarksTheCut) {
  EXPECT_EQ(Ellipsize("short", 10), "short");
  EXPECT_EQ(Ellipsize("abcdef", 3), "abc…");
  // "é" is two bytes: a cut after its first byte backs up before it.
  EXPECT_EQ(Ellipsize("ab\xC3\xA9"
                      "cd",
                      3),
            "ab…");
  EXPECT_EQ(Ellipsize("ab\xC3\xA9"
                      "cd",
                      4),
            "ab\xC3\xA9"
            "…");
}

TEST(ParseOutputFormatTest, AcceptsTheThreeFormatsOnly) {
  EXPECT_EQ(*ParseOutputFormat("table"), OutputFormat::kTable);
  EXPECT_EQ(*ParseOutputFormat("json"), OutputFormat::kJson);
  EXPECT_EQ(*ParseOutputFormat("yaml"), OutputFormat::kYaml);
  auto bad = ParseOutputFormat("xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("\"xml\""), std::string::npos);
}

}  // namespace
}  // namespace agentd::cli
