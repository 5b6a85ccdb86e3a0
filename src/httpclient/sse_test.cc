#include "httpclient/sse.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace agentd::httpclient {
namespace {

std::vector<SseEvent> ParseAll(SseParser& parser, std::string_view text) {
  std::vector<SseEvent> events;
  auto status = parser.Feed(text, [&](const SseEvent& e) { events.push_back(e); });
  EXPECT_TRUE(status.ok()) << status.error().message;
  return events;
}

std::vector<SseEvent> ParseAll(std::string_view text) {
  SseParser parser;
  return ParseAll(parser, text);
}

TEST(SseParserTest, ParsesDataEventsSeparatedByBlankLines) {
  auto events = ParseAll("data: one\n\ndata: two\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "one");
  EXPECT_EQ(events[1].data, "two");
  EXPECT_EQ(events[0].event, "");
}

TEST(SseParserTest, JoinsMultipleDataLinesWithNewlines) {
  auto events = ParseAll("data: first\ndata:second\ndata\ndata:  indented\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "first\nsecond\n\n indented");
}

TEST(SseParserTest, AcceptsCrLfAndLoneCrLineEndings) {
  auto events = ParseAll("data: a\r\n\r\ndata: b\r\rdata: c\n\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].data, "a");
  EXPECT_EQ(events[1].data, "b");
  EXPECT_EQ(events[2].data, "c");
}

TEST(SseParserTest, IgnoresCommentsAndUnknownFields) {
  auto events = ParseAll(": keep-alive\n\n:another\nfoo: bar\ndata: x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "x");
}

TEST(SseParserTest, DoesNotDispatchEventsWithoutData) {
  auto events = ParseAll("event: ping\n\nid: 7\n\ndata: real\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "");  // the type of the data-less event does not carry over
  EXPECT_EQ(events[0].id, "7");
}

TEST(SseParserTest, KeepsEventTypeAndPersistsLastEventId) {
  auto events = ParseAll("id: 42\nevent: delta\ndata: {}\n\ndata: next\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "delta");
  EXPECT_EQ(events[0].id, "42");
  EXPECT_EQ(events[1].event, "");
  EXPECT_EQ(events[1].id, "42");
}

TEST(SseParserTest, IgnoresIdsContainingNul) {
  SseParser parser;
  auto events = ParseAll(parser, std::string("id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n", 32));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].id, "1");
}

TEST(SseParserTest, TreatsLineWithoutColonAsFieldWithEmptyValue) {
  auto events = ParseAll("data\ndata\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "\n");
}

TEST(SseParserTest, ReadsRetryOnlyWhenAllDigits) {
  SseParser parser;
  ParseAll(parser, "retry: 1500\n\nretry: 12x\n\n");
  ASSERT_TRUE(parser.retry_ms().has_value());
  EXPECT_EQ(*parser.retry_ms(), 1500);
}

TEST(SseParserTest, SkipsLeadingByteOrderMark) {
  auto events = ParseAll(
      "\xEF\xBB\xBF"
      "data: bom\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].data, "bom");
}

TEST(SseParserTest, DiscardsUnterminatedEventAtEndOfInput) {
  auto events = ParseAll("data: done\n\ndata: partial\n");
  ASSERT_EQ(events.size(), 1u);
}

TEST(SseParserTest, GivesSameEventsWhenInputIsSplitAtEveryByteBoundary) {
  const std::string text =
      "\xEF\xBB\xBF: hello\r\nid: 1\r\nevent: a\r\ndata: x\r\ndata: y\r\n\r\n"
      "data: {\"k\":\"caf\xC3\xA9\"}\r\r"
      "data: lf\n\n"
      "data\n:c\ndata: last\r\n\r\n";
  auto expected = ParseAll(text);
  ASSERT_EQ(expected.size(), 4u);
  for (size_t split = 0; split <= text.size(); ++split) {
    SseParser parser;
    std::vector<SseEvent> got;
    auto add = [&](const SseEvent& e) { got.push_back(e); };
    ASSERT_TRUE(parser.Feed(std::string_view(text).substr(0, split), add).ok());
    ASSERT_TRUE(parser.Feed(std::string_view(text).substr(split), add).ok());
    ASSERT_EQ(got.size(), expected.size()) << "split at " << split;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].data, expected[i].data) << "split at " << split;
      EXPECT_EQ(got[i].event, expected[i].event) << "split at " << split;
      EXPECT_EQ(got[i].id, expected[i].id) << "split at " << split;
    }
  }
  // And one byte at a time.
  SseParser parser;
  std::vector<SseEvent> got;
  for (char c : text) {
    ASSERT_TRUE(
        parser.Feed(std::string_view(&c, 1), [&](const SseEvent& e) { got.push_back(e); }).ok());
  }
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(got[3].data, "\nlast");
}

TEST(SseParserTest, RejectsEventLargerThanLimitAndStaysFailed) {
  SseParser parser(64);
  std::string big = "data: " + std::string(100, 'x') + "\n\n";
  int count = 0;
  auto status = parser.Feed(big, [&](const SseEvent&) { ++count; });
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::ErrorCode::kResourceExhausted);
  EXPECT_EQ(count, 0);
  auto again = parser.Feed("data: small\n\n", [&](const SseEvent&) { ++count; });
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(count, 0);
}

TEST(SseParserTest, RejectsEndlessLineWithoutNewline) {
  SseParser parser(1024);
  core::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    status = parser.Feed(std::string(100, 'a'), [](const SseEvent&) {});
  }
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::ErrorCode::kResourceExhausted);
}

TEST(SseParserTest, LimitCountsAccumulatedDataLines) {
  SseParser parser(100);
  std::string text;
  for (int i = 0; i < 20; ++i) text += "data: 0123456789\n";
  auto status = parser.Feed(text, [](const SseEvent&) {});
  EXPECT_FALSE(status.ok());
}

TEST(SseParserTest, AcceptsEventsJustUnderTheLimit) {
  SseParser parser(64);
  std::vector<SseEvent> events;
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(parser
                    .Feed("data: " + std::string(50, 'y') + "\n\n",
                          [&](const SseEvent& e) { events.push_back(e); })
                    .ok());
  }
  EXPECT_EQ(events.size(), 10u);
}

}  // namespace
}  // namespace agentd::httpclient
