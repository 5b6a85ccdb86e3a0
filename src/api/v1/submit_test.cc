#include "api/v1/submit.h"

#include <gtest/gtest.h>

#include "runs/run.h"

namespace agentd::api::v1 {
namespace {

// The error message of a parse that must fail.
std::string ErrorOf(std::string_view body) {
  auto result = ParseSubmitRequest(body);
  EXPECT_FALSE(result.ok()) << body;
  if (result.ok()) return "";
  EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidArgument) << body;
  return result.error().message;
}

TEST(ParseSubmitRequestTest, ParsesEveryField) {
  auto body = ParseSubmitRequest(R"({
    "agent": "triage-bot", "input": "look at issue 7", "parameters": {"repo": "x", "n": [1, 2]},
    "priority": -5, "deadlineSeconds": 600, "labels": {"team": "infra", "agentd.dev/tier": "2"}
  })");
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body->agent, "triage-bot");
  EXPECT_EQ(body->input, "look at issue 7");
  EXPECT_EQ(body->parameters["repo"], "x");
  EXPECT_EQ(body->priority, -5);
  ASSERT_TRUE(body->deadline);
  EXPECT_EQ(body->deadline->count(), 600);
  EXPECT_EQ(body->labels.at("agentd.dev/tier"), "2");
}

TEST(ParseSubmitRequestTest, OnlyTheAgentIsRequired) {
  auto body = ParseSubmitRequest(R"({"agent": "dev", "deadlineSeconds": 0, "labels": null})");
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body->input, "");
  EXPECT_TRUE(body->parameters.is_object());
  EXPECT_TRUE(body->parameters.empty());
  EXPECT_EQ(body->priority, 0);
  EXPECT_FALSE(body->deadline);
  EXPECT_TRUE(body->labels.empty());
}

TEST(ParseSubmitRequestTest, RejectsMalformedJsonSayingWhere) {
  EXPECT_NE(ErrorOf(R"({"agent": "dev",)").find("malformed JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("malformed JSON"), std::string::npos);
  EXPECT_NE(ErrorOf("[1,2]").find("must be a JSON object, got array"), std::string::npos);
  EXPECT_NE(ErrorOf("\"dev\"").find("got string"), std::string::npos);
}

TEST(ParseSubmitRequestTest, NamesUnknownFieldsAndSuggestsTheIntendedOne) {
  std::string message = ErrorOf(R"({"agnet": "dev"})");
  EXPECT_NE(message.find("unknown field \"agnet\""), std::string::npos);
  EXPECT_NE(message.find("did you mean \"agent\"?"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "colour": "red"})").find("\"colour\""), std::string::npos);
}

TEST(ParseSubmitRequestTest, NamesTheFieldAndTheTypeItExpected) {
  EXPECT_EQ(ErrorOf(R"({"agent": 7})"), "field \"agent\" must be a string, got integer");
  EXPECT_EQ(ErrorOf(R"({"agent": "dev", "input": ["a"]})"),
            "field \"input\" must be a string, got array");
  EXPECT_EQ(ErrorOf(R"({"agent": "dev", "priority": "high"})"),
            "field \"priority\" must be an integer, got string");
  EXPECT_EQ(ErrorOf(R"({"agent": "dev", "priority": 1.5})"),
            "field \"priority\" must be an integer, got number");
  EXPECT_EQ(ErrorOf(R"({"agent": "dev", "parameters": [1]})"),
            "field \"parameters\" must be an object, got array");
  EXPECT_EQ(ErrorOf(R"({"agent": "dev", "labels": {"team": 3}})"),
            "field \"labels.team\" must be a string, got integer");
  EXPECT_NE(ErrorOf(R"({"input": "x"})").find("missing field \"agent\""), std::string::npos);
}

TEST(ParseSubmitRequestTest, EnforcesRanges) {
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "priority": 1001})").find("between -1000 and 1000"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "priority": -1e300})").find("between"), std::string::npos);
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "priority": 18446744073709551615})").find("between"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "deadlineSeconds": -1})").find("between 0 and 604800"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "deadlineSeconds": 604801})").find("604800"),
            std::string::npos);
  auto integral_float = ParseSubmitRequest(R"({"agent": "dev", "priority": 3.0})");
  ASSERT_TRUE(integral_float.ok());
  EXPECT_EQ(integral_float->priority, 3);
}

TEST(ParseSubmitRequestTest, RejectsAgentNamesThatAreNotDns1123Labels) {
  for (const char* name : {"", "Dev", "dev_bot", "-dev", "dev-", "dev.bot", "a b"}) {
    std::string body = std::string(R"({"agent": ")") + name + "\"}";
    EXPECT_NE(ErrorOf(body).find("field \"agent\" must be an agent name"), std::string::npos)
        << name;
  }
  EXPECT_TRUE(ParseSubmitRequest(R"({"agent": ")" + std::string(63, 'a') + "\"}").ok());
  ErrorOf(R"({"agent": ")" + std::string(64, 'a') + "\"}");
}

TEST(ParseSubmitRequestTest, BoundsInputSize) {
  std::string ok = R"({"agent": "dev", "input": ")" + std::string(kMaxInputBytes, 'x') + "\"}";
  EXPECT_TRUE(ParseSubmitRequest(ok).ok());
  std::string big = R"({"agent": "dev", "input": ")" + std::string(kMaxInputBytes + 1, 'x') + "\"}";
  EXPECT_NE(ErrorOf(big).find("\"input\" is 262145 bytes"), std::string::npos);
}

TEST(ParseSubmitRequestTest, BodiesAboveTheLimitAreResourceExhausted) {
  std::string huge =
      R"({"agent": "dev", "parameters": {"x": ")" + std::string(kMaxSubmitBodyBytes, 'x') + "\"}}";
  auto result = ParseSubmitRequest(huge);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, core::ErrorCode::kResourceExhausted);
}

TEST(ParseSubmitRequestTest, RejectsInvalidUtf8) {
  std::string body = std::string(R"({"agent": "dev", "input": "caf)") + "\xC3\x28" + "\"}";
  auto result = ParseSubmitRequest(body);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, core::ErrorCode::kInvalidArgument);
}

TEST(ParseSubmitRequestTest, BoundsParameterNesting) {
  auto nested = [](int depth) {
    std::string value = "1";
    for (int i = 0; i < depth - 1; ++i) value = R"({"a": )" + value + "}";
    return R"({"agent": "dev", "parameters": )" + (depth > 0 ? "{\"a\": " + value + "}" : "{}") +
           "}";
  };
  EXPECT_TRUE(ParseSubmitRequest(nested(8)).ok()) << nested(8);
  EXPECT_NE(ErrorOf(nested(9)).find("nested deeper than 8"), std::string::npos);
  EXPECT_NE(ErrorOf(nested(40)).find("nested deeper"), std::string::npos);
}

TEST(ParseSubmitRequestTest, ChecksLabelSyntaxAndCount) {
  EXPECT_NE(
      ErrorOf(R"({"agent": "dev", "labels": {"bad key": "v"}})").find("label key \"bad key\""),
      std::string::npos);
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "labels": {"Bad.Prefix/k": "v"}})").find("label key"),
            std::string::npos);
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "labels": {"k": "-v"}})").find("invalid value \"-v\""),
            std::string::npos);
  EXPECT_TRUE(ParseSubmitRequest(
                  R"({"agent": "dev", "labels": {"example.com/Some_Key.1": "", "a": "B-2"}})")
                  .ok());
  std::string many = R"({"agent": "dev", "labels": {)";
  for (int i = 0; i < 33; ++i)
    many += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\": \"v\"";
  many += "}}";
  EXPECT_NE(ErrorOf(many).find("at most 32"), std::string::npos);
}

TEST(ParseSubmitRequestTest, RefusesLabelsUnderThePrefixReservedForRunObjects) {
  EXPECT_EQ(ErrorOf(R"({"agent": "dev", "labels": {"k8s.agentd.dev/run-uid": "1234"}})"),
            "labels.k8s.agentd.dev/run-uid: the prefix k8s.agentd.dev/ is reserved for runs of "
            "Run objects");
  EXPECT_NE(ErrorOf(R"({"agent": "dev", "labels": {"team": "a", "k8s.agentd.dev/x": ""}})")
                .find("reserved"),
            std::string::npos);
  // Only that exact prefix: look-alikes are ordinary labels.
  EXPECT_TRUE(
      ParseSubmitRequest(
          R"({"agent": "dev", "labels": {"agentd.dev/run-name": "x", "x.k8s.agentd.dev/a": "b"}})")
          .ok());
  // Front ends that fill a SubmitBody themselves get the same answer.
  SubmitBody body{.agent = "dev"};
  body.labels[runs::kRunObjectNameLabel] = "fix-readme";
  auto status = ValidateSubmitBody(body);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(status.error().message.find(runs::kReservedLabelPrefix), std::string::npos);
}

TEST(CanonicalRequestHashTest, IgnoresKeyOrderAndSpellingOfDefaults) {
  auto a = ParseSubmitRequest(
      R"({"agent": "dev", "input": "x", "labels": {"b": "2", "a": "1"}, "parameters": {"z": 1, "y": {"q": 2, "p": 1}}})");
  auto b = ParseSubmitRequest(
      R"({"parameters": {"y": {"p": 1, "q": 2}, "z": 1}, "labels": {"a": "1", "b": "2"}, "priority": 0, "deadlineSeconds": 0, "input": "x", "agent": "dev"})");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(CanonicalRequestHash(*a), CanonicalRequestHash(*b));
  EXPECT_EQ(CanonicalRequestHash(*a).size(), 64u);
  EXPECT_EQ(CanonicalRequestJson(*a),
            R"({"agent":"dev","deadlineSeconds":0,"input":"x","labels":{"a":"1","b":"2"},)"
            R"("parameters":{"y":{"p":1,"q":2},"z":1},"priority":0})");
}

TEST(CanonicalRequestHashTest, DiffersWhenAnyFieldDiffers) {
  auto base = ParseSubmitRequest(R"({"agent": "dev", "input": "x"})");
  ASSERT_TRUE(base.ok());
  std::string hash = CanonicalRequestHash(*base);
  for (const char* other :
       {R"({"agent": "ops", "input": "x"})", R"({"agent": "dev", "input": "y"})",
        R"({"agent": "dev", "input": "x", "priority": 1})",
        R"({"agent": "dev", "input": "x", "deadlineSeconds": 5})",
        R"({"agent": "dev", "input": "x", "labels": {"a": "b"}})",
        R"({"agent": "dev", "input": "x", "parameters": {"a": 1}})"}) {
    auto body = ParseSubmitRequest(other);
    ASSERT_TRUE(body.ok()) << other;
    EXPECT_NE(CanonicalRequestHash(*body), hash) << other;
  }
}

TEST(Utf8Test, AcceptsValidAndRejectsInvalidSequences) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
}

}  // namespace
}  // namespace agentd::api::v1
