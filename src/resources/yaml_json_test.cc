#include "resources/yaml_json.h"

#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace agentd::resources {
namespace {

using core::Json;

TEST(YamlJsonTest, TypesScalarsAsTheYaml12CoreSchema) {
  auto docs = ParseYamlDocuments(R"(
int: 20
negative: -3
float: 0.50
quoted_int: "20"
single: '7'
yes_is_text: yes
on_is_text: on
bool: true
null_tilde: ~
null_word: null
empty:
str_tag: !!str 5
block: |
  line one
text: hello world
)",
                                 "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  ASSERT_EQ(docs->size(), 1u);
  const Json& v = (*docs)[0].value;
  EXPECT_EQ(v["int"], Json(20));
  EXPECT_EQ(v["negative"], Json(-3));
  EXPECT_EQ(v["float"], Json(0.5));
  EXPECT_EQ(v["quoted_int"], Json("20"));
  EXPECT_EQ(v["single"], Json("7"));
  EXPECT_EQ(v["yes_is_text"], Json("yes"));
  EXPECT_EQ(v["on_is_text"], Json("on"));
  EXPECT_EQ(v["bool"], Json(true));
  EXPECT_TRUE(v["null_tilde"].is_null());
  EXPECT_TRUE(v["null_word"].is_null());
  EXPECT_TRUE(v["empty"].is_null());
  EXPECT_EQ(v["str_tag"], Json("5"));
  EXPECT_EQ(v["block"], Json("line one\n"));
  EXPECT_EQ(v["text"], Json("hello world"));
}

TEST(YamlJsonTest, SplitsDocumentsAndSkipsEmptyOnes) {
  auto docs = ParseYamlDocuments("---\na: 1\n---\n# only a comment\n---\nb: 2\n---\n", "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].value, Json({{"a", 1}}));
  EXPECT_EQ((*docs)[0].line, 2);
  EXPECT_EQ((*docs)[1].value, Json({{"b", 2}}));
  EXPECT_EQ((*docs)[1].line, 6);
}

TEST(YamlJsonTest, RecordsTheLineOfEveryFieldAndListItem) {
  auto docs = ParseYamlDocuments(
      "kind: Agent\nspec:\n  limits:\n    maxTurns: 0\n  tools:\n"
      "    - read_file\n    - bash\n",
      "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  const LineMap& lines = (*docs)[0].lines;
  EXPECT_EQ(lines.Find("kind"), 1);
  EXPECT_EQ(lines.Find("spec.limits.maxTurns"), 4);
  EXPECT_EQ(lines.Find("spec.tools[1]"), 7);
  // Fields that are not in the document fall back to their nearest ancestor.
  EXPECT_EQ(lines.Find("spec.limits.timeoutSeconds"), 3);
  EXPECT_EQ(lines.Find("metadata.name"), 1);
}

TEST(YamlJsonTest, ParsesJsonIncludingTabIndentation) {
  auto docs = ParseYamlDocuments("{\n\t\"a\": {\n\t\t\"b\": [1, \"x\"]\n\t}\n}\n", "t.json");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  EXPECT_EQ((*docs)[0].value, Json::parse(R"({"a":{"b":[1,"x"]}})"));
  EXPECT_EQ((*docs)[0].lines.Find("a.b"), 3);
}

TEST(YamlJsonTest, RejectsDuplicateKeysNamingTheLine) {
  auto docs = ParseYamlDocuments("a: 1\nb: 2\na: 3\n", "dup.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.error().message, "dup.yaml:3: duplicate key \"a\"");
}

TEST(YamlJsonTest, ReportsSyntaxErrorsWithFileAndLine) {
  auto docs = ParseYamlDocuments("a: [1\nb: 2\n", "bad.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(docs.error().message.rfind("bad.yaml:", 0), 0u) << docs.error().message;
  EXPECT_NE(docs.error().message.find("invalid YAML"), std::string::npos);
}

// yaml-cpp 0.7's LoadAll never returns on a "," outside a flow collection: it appends empty
// documents until memory runs out (found by tests/fuzz/objects_fuzz with the 3-byte input
// ",\x02\x02"). Each of these must be a syntax error instead.
TEST(YamlJsonTest, RejectsACommaOutsideAFlowCollectionInsteadOfLoopingForever) {
  auto comma = ParseYamlDocuments(",", "c.yaml");
  ASSERT_FALSE(comma.ok());
  EXPECT_EQ(comma.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(comma.error().message, "c.yaml:1: invalid YAML: unexpected \",\" at column 1");

  auto after_bom = ParseYamlDocuments("\xEF\xBB\xBF,", "c.yaml");
  ASSERT_FALSE(after_bom.ok());
  EXPECT_EQ(after_bom.error().message, "c.yaml:1: invalid YAML: unexpected \",\" at column 1");

  auto second_document = ParseYamlDocuments("--- a\n--- ,\n", "c.yaml");
  ASSERT_FALSE(second_document.ok());
  EXPECT_EQ(second_document.error().message,
            "c.yaml:2: invalid YAML: unexpected \",\" at column 5");

  for (std::string_view text : {",\x02\x02", ", ", "[a],", "{a: 1},", "\"a\",", "&a ,", "!t ,",
                                "- a\n,", "|\n,", "... ,", "kind: Model\n---\n,\n"}) {
    auto docs = ParseYamlDocuments(text, "c.yaml");
    ASSERT_FALSE(docs.ok()) << testing::PrintToString(std::string(text));
    EXPECT_NE(docs.error().message.find(": invalid YAML: unexpected "), std::string::npos)
        << docs.error().message;
  }
}

TEST(YamlJsonTest, ExpandsAliasesWithTheLinesOfTheirAnchor) {
  auto docs = ParseYamlDocuments("base: &b\n  x: 1\n  y: [a, b]\nuse: *b\nname: &n hi\nagain: *n\n",
                                 "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.error().message;
  const Json& v = (*docs)[0].value;
  EXPECT_EQ(v["use"], Json::parse(R"({"x":1,"y":["a","b"]})"));
  EXPECT_EQ(v["again"], Json("hi"));
  EXPECT_EQ((*docs)[0].lines.Find("use"), 4);
  EXPECT_EQ((*docs)[0].lines.Find("use.y"), 3);
}

TEST(YamlJsonTest, RejectsAnAliasInsideItsOwnAnchor) {
  auto docs = ParseYamlDocuments("a: 1\nb: &loop [1, *loop]\n", "loop.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.error().message, "loop.yaml:2: invalid YAML: alias inside its own anchor's node");
}

TEST(YamlJsonTest, ReportsASyntaxErrorInALaterDocumentBeforeInvalidContent) {
  auto docs = ParseYamlDocuments("a: 1\na: 2\n---\nb: [1\n", "t.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.error().message.find("invalid YAML"), std::string::npos) << docs.error().message;
}

TEST(YamlJsonTest, BoundsAliasExpansion) {
  // Each level doubles the size: 2^30 nodes once expanded.
  std::string bomb = "a0: &a0 [x, x]\n";
  for (int i = 1; i <= 30; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) +
            ", *a" + std::to_string(i - 1) + "]\n";
  }
  auto docs = ParseYamlDocuments(bomb, "bomb.yaml", {.max_depth = 64});
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.error().message.find("YAML nodes"), std::string::npos) << docs.error().message;
}

TEST(YamlJsonTest, BoundsTheTextThatAliasesOfLongStringsExpandTo) {
  // Few nodes, but each alias repeats a 60 KB string: 2,000 copies would be 120 MB.
  std::string bomb = "big: &big \"" + std::string(60'000, 'x') + "\"\nlist: [";
  for (int i = 0; i < 2000; ++i) bomb += i == 0 ? "*big" : ", *big";
  bomb += "]\n";
  auto docs = ParseYamlDocuments(bomb, "bomb.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_NE(docs.error().message.find("bytes of YAML text"), std::string::npos)
      << docs.error().message;
}

TEST(YamlJsonTest, BoundsDepthAndSize) {
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += std::string(i * 2, ' ') + "k:\n";
  auto too_deep = ParseYamlDocuments(deep, "deep.yaml");
  ASSERT_FALSE(too_deep.ok());
  EXPECT_NE(too_deep.error().message.find("deeper"), std::string::npos);

  auto too_big = ParseYamlDocuments(std::string(100, '#'), "big.yaml", {.max_bytes = 10});
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().message, "big.yaml: file is 100 bytes, over the limit of 10");
}

}  // namespace
}  // namespace agentd::resources
