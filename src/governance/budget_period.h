// Budget periods: the local day, ISO week or month that contains an instant, in a time zone.
//
// Pure arithmetic over values except `TimeZone::Load`, which reads one TZif file (RFC 8536) from
// the system's zoneinfo directory. A budget resets at local midnight of its zone, so a period
// window is computed in local civil time and converted back to UTC: a local day can last 23 or
// 25 hours across a DST switch, a month 28 to 31 days.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace agentd::governance {

enum class BudgetPeriod { kDay, kWeek, kMonth };  // weeks start on Monday (ISO 8601)

// "day" | "week" | "month" (the wire form in Budget objects).
core::Result<BudgetPeriod> ParseBudgetPeriod(std::string_view text);
std::string_view BudgetPeriodName(BudgetPeriod period);

// A time zone: UTC offsets over time, from a TZif v2+ file. Immutable after Load, so it is safe
// to share between threads; cheap enough to copy.
class TimeZone {
 public:
  // Loads `name` ("UTC", "Europe/Berlin") from `zoneinfo_dir`/`name`. "UTC" needs no file.
  // Errors: kInvalidArgument for a name outside [A-Za-z0-9_+-/] (so "..", "." and absolute paths
  // are refused and no file outside `zoneinfo_dir` is read), for a malformed or v1-only file, for
  // leap-second ("right/") zones, and for a POSIX TZ footer this parser does not understand
  // (Julian-day rules, DST without rules) rather than guessing; kNotFound when the file is missing.
  static core::Result<TimeZone> Load(std::string_view name,
                                     std::string_view zoneinfo_dir = "/usr/share/zoneinfo");
  // Parses the bytes of a TZif file; `name` is only used in messages and name().
  static core::Result<TimeZone> FromTzif(std::string_view name, std::string_view bytes);
  static TimeZone Utc();

  const std::string& name() const { return name_; }

  // Seconds east of UTC at `utc` (Berlin in summer: 7200; New York in winter: -18000).
  int64_t OffsetSecondsAt(core::TimePoint utc) const;

  // The first instant at which the local date is y-m-d: local midnight, or the end of the DST gap
  // when midnight is skipped; the earlier instant when midnight happens twice. Requires 1 <= m <=
  // 12 and 1 <= d <= 31 (d past the month's end rolls into the next month).
  core::TimePoint LocalMidnightToUtc(int y, int m, int d) const;

  // A rule from the POSIX TZ footer, "M.m.w.d/time": day d (0 = Sunday) of week w (5 = last) of
  // month m, at `time` seconds of local time then in effect. Public for tests.
  struct DateRule {
    int month = 0;
    int week = 0;
    int weekday = 0;
    int64_t time = 7200;
  };
  struct PosixRule {
    int64_t std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int64_t dst_offset = 0;
    DateRule dst_start;
    DateRule dst_end;
  };
  // Parses the common footer forms: "CET-1CEST,M3.5.0,M10.5.0/3", "EST5EDT,M3.2.0,M11.1.0",
  // "<+03>-3", "UTC0". `zone` is only used in messages.
  static core::Result<PosixRule> ParsePosixRule(std::string_view zone, std::string_view text);

 private:
  int64_t OffsetAtSeconds(int64_t utc_seconds) const;

  std::string name_;
  std::vector<int64_t> transition_times_;  // UTC seconds, strictly ascending
  std::vector<uint8_t> transition_types_;  // index into type_offsets_
  std::vector<int64_t> type_offsets_{0};   // seconds east of UTC; [0] applies before the first
  std::optional<PosixRule> footer_;        // after the last transition, when present
};

// [start, end) in UTC.
struct PeriodWindow {
  core::TimePoint start;
  core::TimePoint end;
};

// The local day, ISO week (Monday 00:00 to Monday 00:00) or calendar month of `tz` that contains
// `t`. The boundary instant itself belongs to the new period. Errors: kInvalidArgument for an
// instant outside years 1..9999; kInternal if the zone data yields a window not containing `t`.
core::Result<PeriodWindow> WindowContaining(core::TimePoint t, BudgetPeriod period,
                                            const TimeZone& tz);

}  // namespace agentd::governance
