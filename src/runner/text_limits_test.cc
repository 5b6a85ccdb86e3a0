#include "runner/text_limits.h"

#include <gtest/gtest.h>

namespace agentd::runner {
namespace {

TEST(TextLimitsTest, PrefixNeverCutsAMultiByteCharacter) {
  std::string text =
      "ab\xE2\x82\xAC"
      "cd";  // "ab€cd", the euro sign is 3 bytes
  EXPECT_EQ(Utf8Prefix(text, 2), "ab");
  EXPECT_EQ(Utf8Prefix(text, 3), "ab");
  EXPECT_EQ(Utf8Prefix(text, 4), "ab");
  EXPECT_EQ(Utf8Prefix(text, 5), "ab\xE2\x82\xAC");
  EXPECT_EQ(Utf8Prefix(text, 100), text);
}

TEST(TextLimitsTest, SuffixNeverStartsInsideACharacter) {
  std::string text =
      "ab\xE2\x82\xAC"
      "cd";
  EXPECT_EQ(Utf8Suffix(text, 2), "cd");
  EXPECT_EQ(Utf8Suffix(text, 4), "cd");
  EXPECT_EQ(Utf8Suffix(text, 5),
            "\xE2\x82\xAC"
            "cd");
}

TEST(TextLimitsTest, TruncateTextSaysHowMuchWasCut) {
  auto short_text = TruncateText("hello", 10);
  EXPECT_FALSE(short_text.truncated);
  EXPECT_EQ(short_text.text, "hello");
  auto cut = TruncateText(std::string(100, 'x'), 10);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.text.substr(0, 10), std::string(10, 'x'));
  EXPECT_NE(cut.text.find("90 more bytes"), std::string::npos);
}

TEST(TextLimitsTest, SplitKeepsAllBytesInOrder) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "\xC3\xA9x";  // "éx"
  auto pieces = SplitUtf8(text, 7);
  std::string joined;
  for (auto p : pieces) {
    EXPECT_LE(p.size(), 7u);
    EXPECT_NE(static_cast<unsigned char>(p[0]) & 0xC0, 0x80);
    joined += p;
  }
  EXPECT_EQ(joined, text);
}

TEST(TextLimitsTest, BoundJsonStringsCutsNestedLongStrings) {
  core::Json value = {{"path", "a.txt"},
                      {"content", std::string(5000, 'z')},
                      {"list", {std::string(3000, 'q'), 1}}};
  core::Json bounded = BoundJsonStrings(value, 100);
  EXPECT_EQ(bounded["path"], "a.txt");
  EXPECT_LT(bounded["content"].get<std::string>().size(), 200u);
  EXPECT_LT(bounded["list"][0].get<std::string>().size(), 200u);
  EXPECT_EQ(bounded["list"][1], 1);
}

}  // namespace
}  // namespace agentd::runner
