#include "governance/budget_period.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "core/time.h"

namespace agentd::governance {
namespace {

using std::chrono::hours;

core::TimePoint At(std::string_view rfc3339) {
  auto t = core::ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.value_or(core::TimePoint{});
}

std::string Format(core::TimePoint t) { return core::FormatRfc3339(t); }

PeriodWindow Window(std::string_view t, BudgetPeriod period, const TimeZone& tz) {
  auto window = WindowContaining(At(t), period, tz);
  EXPECT_TRUE(window.ok()) << window.error().message;
  return window.value_or(PeriodWindow{});
}

// Zone files come from Debian's tzdata; without them the zone tests cannot say anything.
#define LOAD_ZONE_OR_SKIP(var, name)                                                        \
  if (!std::filesystem::exists(std::string("/usr/share/zoneinfo/") + name)) {               \
    GTEST_SKIP() << "/usr/share/zoneinfo/" << name << " is missing (tzdata not installed)"; \
  }                                                                                         \
  auto var##_result = TimeZone::Load(name);                                                 \
  ASSERT_TRUE(var##_result.ok()) << var##_result.error().message;                           \
  const TimeZone& var = *var##_result

TEST(BudgetPeriodTest, UtcDayRunsFromMidnightToMidnight) {
  PeriodWindow w = Window("2026-11-21T13:45:00Z", BudgetPeriod::kDay, TimeZone::Utc());

  EXPECT_EQ(Format(w.start), Format(At("2026-11-21T00:00:00Z")));
  EXPECT_EQ(Format(w.end), Format(At("2026-11-22T00:00:00Z")));
}

TEST(BudgetPeriodTest, TheBoundaryInstantBelongsToTheNewPeriod) {
  const TimeZone utc = TimeZone::Utc();

  PeriodWindow at_midnight = Window("2026-11-22T00:00:00Z", BudgetPeriod::kDay, utc);
  auto just_before = WindowContaining(At("2026-11-22T00:00:00Z") - std::chrono::milliseconds(1),
                                      BudgetPeriod::kDay, utc);

  EXPECT_EQ(Format(at_midnight.start), Format(At("2026-11-22T00:00:00Z")));
  ASSERT_TRUE(just_before.ok());
  EXPECT_EQ(Format(just_before->start), Format(At("2026-11-21T00:00:00Z")));
  EXPECT_EQ(just_before->end, at_midnight.start);
}

TEST(BudgetPeriodTest, UtcWeekStartsOnMonday) {
  const TimeZone utc = TimeZone::Utc();

  PeriodWindow saturday = Window("2026-11-21T10:00:00Z", BudgetPeriod::kWeek, utc);
  PeriodWindow sunday_night = Window("2026-11-22T23:59:59Z", BudgetPeriod::kWeek, utc);
  PeriodWindow monday = Window("2026-11-23T00:00:00Z", BudgetPeriod::kWeek, utc);

  EXPECT_EQ(Format(saturday.start), Format(At("2026-11-16T00:00:00Z")));
  EXPECT_EQ(Format(saturday.end), Format(At("2026-11-23T00:00:00Z")));
  EXPECT_EQ(sunday_night.start, saturday.start);
  EXPECT_EQ(Format(monday.start), Format(At("2026-11-23T00:00:00Z")));
  EXPECT_EQ(Format(monday.end), Format(At("2026-11-30T00:00:00Z")));
}

TEST(BudgetPeriodTest, UtcWeekSpansTheTurnOfTheYear) {
  PeriodWindow w = Window("2027-01-01T12:00:00Z", BudgetPeriod::kWeek, TimeZone::Utc());

  EXPECT_EQ(Format(w.start), Format(At("2026-12-28T00:00:00Z")));
  EXPECT_EQ(Format(w.end), Format(At("2027-01-04T00:00:00Z")));
}

TEST(BudgetPeriodTest, UtcMonthEndsAtTheFirstOfTheNextMonthAcrossTheYear) {
  const TimeZone utc = TimeZone::Utc();

  PeriodWindow december = Window("2026-12-31T23:59:59Z", BudgetPeriod::kMonth, utc);
  PeriodWindow january = Window("2027-01-01T00:00:00Z", BudgetPeriod::kMonth, utc);

  EXPECT_EQ(Format(december.start), Format(At("2026-12-01T00:00:00Z")));
  EXPECT_EQ(Format(december.end), Format(At("2027-01-01T00:00:00Z")));
  EXPECT_EQ(Format(january.start), Format(At("2027-01-01T00:00:00Z")));
  EXPECT_EQ(Format(january.end), Format(At("2027-02-01T00:00:00Z")));
}

TEST(BudgetPeriodTest, LeapDay2028IsItsOwnDayAndFebruaryHas29Days) {
  const TimeZone utc = TimeZone::Utc();

  PeriodWindow day = Window("2028-02-29T12:00:00Z", BudgetPeriod::kDay, utc);
  PeriodWindow month = Window("2028-02-29T12:00:00Z", BudgetPeriod::kMonth, utc);
  PeriodWindow feb_2027 = Window("2027-02-10T12:00:00Z", BudgetPeriod::kMonth, utc);

  EXPECT_EQ(Format(day.start), Format(At("2028-02-29T00:00:00Z")));
  EXPECT_EQ(Format(day.end), Format(At("2028-03-01T00:00:00Z")));
  EXPECT_EQ(Format(month.start), Format(At("2028-02-01T00:00:00Z")));
  EXPECT_EQ(month.end - month.start, hours(29 * 24));
  EXPECT_EQ(feb_2027.end - feb_2027.start, hours(28 * 24));
}

TEST(BudgetPeriodTest, BerlinDayOfTheMarchSwitchLasts23Hours) {
  LOAD_ZONE_OR_SKIP(berlin, "Europe/Berlin");

  PeriodWindow w = Window("2026-03-29T10:00:00Z", BudgetPeriod::kDay, berlin);

  EXPECT_EQ(Format(w.start), Format(At("2026-03-28T23:00:00Z")));
  EXPECT_EQ(Format(w.end), Format(At("2026-03-29T22:00:00Z")));
  EXPECT_EQ(w.end - w.start, hours(23));
}

TEST(BudgetPeriodTest, BerlinDayOfTheOctoberSwitchLasts25Hours) {
  LOAD_ZONE_OR_SKIP(berlin, "Europe/Berlin");

  PeriodWindow w = Window("2026-10-25T01:30:00Z", BudgetPeriod::kDay, berlin);

  EXPECT_EQ(Format(w.start), Format(At("2026-10-24T22:00:00Z")));
  EXPECT_EQ(Format(w.end), Format(At("2026-10-25T23:00:00Z")));
  EXPECT_EQ(w.end - w.start, hours(25));
}

TEST(BudgetPeriodTest, BerlinLocalMidnightIsTheUtcBoundary) {
  LOAD_ZONE_OR_SKIP(berlin, "Europe/Berlin");

  // 23:30 UTC on the 20th is already 00:30 on the 21st in Berlin (UTC+1 in November).
  PeriodWindow w = Window("2026-11-20T23:30:00Z", BudgetPeriod::kDay, berlin);
  PeriodWindow month = Window("2026-10-31T23:00:00Z", BudgetPeriod::kMonth, berlin);

  EXPECT_EQ(Format(w.start), Format(At("2026-11-20T23:00:00Z")));
  EXPECT_EQ(Format(month.start), Format(At("2026-10-31T23:00:00Z")));
  EXPECT_EQ(Format(month.end), Format(At("2026-11-30T23:00:00Z")));
}

TEST(BudgetPeriodTest, BerlinBeyondTheLastTransitionFollowsTheTzFooterRule) {
  LOAD_ZONE_OR_SKIP(berlin, "Europe/Berlin");

  PeriodWindow w = Window("2040-03-25T10:00:00Z", BudgetPeriod::kDay, berlin);

  EXPECT_EQ(Format(w.start), Format(At("2040-03-24T23:00:00Z")));
  EXPECT_EQ(Format(w.end), Format(At("2040-03-25T22:00:00Z")));
  EXPECT_EQ(berlin.OffsetSecondsAt(At("2040-07-01T00:00:00Z")), 7200);
  EXPECT_EQ(berlin.OffsetSecondsAt(At("2040-12-01T00:00:00Z")), 3600);
}

TEST(BudgetPeriodTest, NewYorkNovemberStartsInDaylightTimeAndEndsInStandardTime) {
  LOAD_ZONE_OR_SKIP(new_york, "America/New_York");

  PeriodWindow w = Window("2026-11-15T12:00:00Z", BudgetPeriod::kMonth, new_york);

  EXPECT_EQ(Format(w.start), Format(At("2026-11-01T04:00:00Z")));
  EXPECT_EQ(Format(w.end), Format(At("2026-12-01T05:00:00Z")));
  EXPECT_EQ(w.end - w.start, hours(30 * 24 + 1));
}

TEST(BudgetPeriodTest, DayWhoseMidnightIsSkippedStartsWhenTheGapEnds) {
  LOAD_ZONE_OR_SKIP(santiago, "America/Santiago");

  // Santiago springs forward from 24:00 Saturday straight to 01:00 Sunday.
  PeriodWindow w = Window("2026-09-06T12:00:00Z", BudgetPeriod::kDay, santiago);

  EXPECT_EQ(Format(w.start), Format(At("2026-09-06T04:00:00Z")));
  EXPECT_EQ(Format(w.end), Format(At("2026-09-07T03:00:00Z")));
}

TEST(BudgetPeriodTest, UnknownZoneIsNotFound) {
  auto tz = TimeZone::Load("Mars/Olympus_Mons");

  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(tz.error().message.find("Mars/Olympus_Mons"), std::string::npos);
}

TEST(BudgetPeriodTest, ZoneNamesThatCouldEscapeTheZoneinfoDirAreRejected) {
  for (std::string_view name :
       {"../../etc/passwd", "/etc/passwd", "Europe/../../etc/passwd", ".", "..", "Europe//Berlin",
        "Europe/Berlin/", "Europe/Ber lin", "", "Europe\\Berlin", "UTC\n"}) {
    auto tz = TimeZone::Load(name);

    ASSERT_FALSE(tz.ok()) << name;
    EXPECT_EQ(tz.error().code, core::ErrorCode::kInvalidArgument) << name;
  }
}

TEST(BudgetPeriodTest, UtcNeedsNoZoneFiles) {
  auto tz = TimeZone::Load("UTC", "/nonexistent-zoneinfo");

  ASSERT_TRUE(tz.ok()) << tz.error().message;
  EXPECT_EQ(tz->OffsetSecondsAt(At("2026-07-01T00:00:00Z")), 0);
}

TEST(BudgetPeriodTest, AFileThatIsNotTzifIsRejected) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("budget_period_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "Fake");
  std::ofstream(dir / "Fake" / "Zone") << "hello, not a zone";

  auto tz = TimeZone::Load("Fake/Zone", dir.string());
  std::filesystem::remove_all(dir);

  ASSERT_FALSE(tz.ok());
  EXPECT_EQ(tz.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(tz.error().message.find("not a TZif file"), std::string::npos);
}

TEST(BudgetPeriodTest, ParsesTheCommonPosixFooterForms) {
  auto berlin = TimeZone::ParsePosixRule("t", "CET-1CEST,M3.5.0,M10.5.0/3");
  auto new_york = TimeZone::ParsePosixRule("t", "EST5EDT,M3.2.0,M11.1.0");
  auto fixed = TimeZone::ParsePosixRule("t", "<+0330>-3:30");

  ASSERT_TRUE(berlin.ok()) << berlin.error().message;
  EXPECT_EQ(berlin->std_offset, 3600);
  EXPECT_EQ(berlin->dst_offset, 7200);
  EXPECT_EQ(berlin->dst_start.month, 3);
  EXPECT_EQ(berlin->dst_start.week, 5);
  EXPECT_EQ(berlin->dst_start.time, 7200);
  EXPECT_EQ(berlin->dst_end.month, 10);
  EXPECT_EQ(berlin->dst_end.time, 10800);
  ASSERT_TRUE(new_york.ok()) << new_york.error().message;
  EXPECT_EQ(new_york->std_offset, -18000);
  EXPECT_EQ(new_york->dst_offset, -14400);
  ASSERT_TRUE(fixed.ok()) << fixed.error().message;
  EXPECT_FALSE(fixed->has_dst);
  EXPECT_EQ(fixed->std_offset, 3 * 3600 + 30 * 60);
}

TEST(BudgetPeriodTest, FootersTooComplexToTrustAreRefusedWithAReason) {
  auto julian = TimeZone::ParsePosixRule("t", "EST5EDT4,0/0,J365/25");
  auto no_rules = TimeZone::ParsePosixRule("t", "EST5EDT");
  auto garbage = TimeZone::ParsePosixRule("t", "CET-1CEST,M13.5.0,M10.5.0");

  ASSERT_FALSE(julian.ok());
  EXPECT_NE(julian.error().message.find("Julian"), std::string::npos);
  ASSERT_FALSE(no_rules.ok());
  EXPECT_NE(no_rules.error().message.find("without transition rules"), std::string::npos);
  ASSERT_FALSE(garbage.ok());
}

TEST(BudgetPeriodTest, PeriodNamesRoundTrip) {
  for (BudgetPeriod p : {BudgetPeriod::kDay, BudgetPeriod::kWeek, BudgetPeriod::kMonth}) {
    auto parsed = ParseBudgetPeriod(BudgetPeriodName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_FALSE(ParseBudgetPeriod("fortnight").ok());
}

}  // namespace
}  // namespace agentd::governance
