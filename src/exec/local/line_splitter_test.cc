#include "exec/local/line_splitter.h"

#include <gtest/gtest.h>

namespace agentd::exec::local {
namespace {

std::vector<std::string> Texts(const std::vector<Line>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.text);
  return out;
}

TEST(LineSplitterTest, JoinsLinesSplitAcrossReads) {
  LineSplitter splitter(100);
  std::vector<Line> lines;
  splitter.Append("one\ntw", lines);
  splitter.Append("o\nthr", lines);
  EXPECT_EQ(Texts(lines), (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(splitter.pending_bytes(), 3u);
  auto rest = splitter.Flush();
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->text, "thr");
  EXPECT_FALSE(splitter.Flush().has_value());
}

TEST(LineSplitterTest, KeepsEmptyLinesAndStripsCarriageReturn) {
  LineSplitter splitter(100);
  std::vector<Line> lines;
  splitter.Append("a\r\n\nb\n", lines);
  EXPECT_EQ(Texts(lines), (std::vector<std::string>{"a", "", "b"}));
}

TEST(LineSplitterTest, TruncatesLongLinesAndDiscardsTheirRest) {
  LineSplitter splitter(4);
  std::vector<Line> lines;
  splitter.Append("abcdefg", lines);
  EXPECT_TRUE(lines.empty());
  EXPECT_EQ(splitter.pending_bytes(), 4u);
  splitter.Append("hij\nok\n", lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "abcd");
  EXPECT_TRUE(lines[0].truncated);
  EXPECT_EQ(lines[1].text, "ok");
  EXPECT_FALSE(lines[1].truncated);
}

TEST(LineSplitterTest, LineOfExactlyTheLimitIsNotTruncated) {
  LineSplitter splitter(4);
  std::vector<Line> lines;
  splitter.Append("abcd\n", lines);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].text, "abcd");
  EXPECT_FALSE(lines[0].truncated);
}

TEST(LineSplitterTest, FlushReportsATruncatedPartialLine) {
  LineSplitter splitter(2);
  std::vector<Line> lines;
  splitter.Append("xyz", lines);
  auto rest = splitter.Flush();
  ASSERT_TRUE(rest.has_value());
  EXPECT_EQ(rest->text, "xy");
  EXPECT_TRUE(rest->truncated);
}

}  // namespace
}  // namespace agentd::exec::local
