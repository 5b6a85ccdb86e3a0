#include "core/time.h"

#include <gtest/gtest.h>

namespace agentd::core {
namespace {

TEST(TimeTest, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(FromUnixMillis(1795289782123)), "2026-11-21T19:36:22.123Z");
}

TEST(TimeTest, ParsesWhatItFormatsAndOffsets) {
  auto t = FromUnixMillis(1795289782123);
  EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t);
  EXPECT_EQ(*ParseRfc3339("2026-11-21T20:36:22.123+01:00"), t);
  EXPECT_EQ(ToUnixMillis(*ParseRfc3339("1970-01-01T00:00:01Z")), 1000);
}

TEST(TimeTest, RejectsMalformedTimestamps) {
  EXPECT_FALSE(ParseRfc3339("").ok());
  EXPECT_FALSE(ParseRfc3339("2026-13-01T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-11-21 19:36:22Z").ok());
  EXPECT_FALSE(ParseRfc3339("2026-11-21T19:36:22").ok());
  EXPECT_FALSE(ParseRfc3339("2026-11-21T19:36:22Zjunk").ok());
}

}  // namespace
}  // namespace agentd::core
