#include "core/json.h"

#include <gtest/gtest.h>

namespace agentd::core {
namespace {

TEST(JsonTest, ParsesValidDocuments) {
  auto v = ParseJson(R"({"agent":"dev","priority":3})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*RequiredString(*v, "agent", "run request"), "dev");
  EXPECT_EQ(**OptionalInt(*v, "priority", "run request"), 3);
}

TEST(JsonTest, RejectsMalformedOversizedAndDeepDocuments) {
  EXPECT_EQ(ParseJson("{").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseJson(std::string(100, ' '), {.max_bytes = 10}).error().code,
            ErrorCode::kResourceExhausted);
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto r = ParseJson(deep, {.max_depth = 32});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("deeper"), std::string::npos);
}

TEST(JsonTest, TypeErrorsNameTheField) {
  auto v = *ParseJson(R"({"agent":7,"priority":"high"})");
  auto a = RequiredString(v, "agent", "run request");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().message, "field \"agent\" in run request must be a string, not number");
  EXPECT_FALSE(OptionalInt(v, "priority", "run request").ok());
  EXPECT_EQ(RequiredString(v, "input", "run request").error().message,
            "missing field \"input\" in run request");
}

TEST(JsonTest, OutOfRangeNumbersAreTypeErrorsNotUndefinedBehaviour) {
  auto v = *ParseJson(R"({"a":1e300,"b":18446744073709551615,"c":2.0})");
  EXPECT_FALSE(OptionalInt(v, "a", "x").ok());
  EXPECT_FALSE(OptionalInt(v, "b", "x").ok());
  EXPECT_EQ(**OptionalInt(v, "c", "x"), 2);
}

TEST(JsonTest, DumpReplacesInvalidUtf8) {
  Json v = std::string("a\xff" "b");
  EXPECT_EQ(DumpJson(v), "\"a\xEF\xBF\xBD" "b\"");
}

}  // namespace
}  // namespace agentd::core
