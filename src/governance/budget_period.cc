#include "governance/budget_period.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <fstream>
#include <iterator>
#include <utility>

namespace agentd::governance {
namespace {

constexpr int64_t kSecondsPerDay = 86'400;
constexpr size_t kMaxTzifBytes = 1 << 20;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian, days since 1970-01-01).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + doe - 719'468;
}

struct Civil {
  int64_t y;
  int m;
  int d;
};

Civil CivilFromDays(int64_t z) {
  z += 719'468;
  const int64_t era = FloorDiv(z, 146'097);
  const int64_t doe = z - era * 146'097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

int WeekdayFromDays(int64_t days) {  // 0 = Sunday; 1970-01-01 was a Thursday
  return static_cast<int>(((days + 4) % 7 + 7) % 7);
}

int DaysInMonth(int64_t y, int m) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Days since the epoch of the date a "M.m.w.d" rule names in year y.
int64_t RuleDay(int64_t y, const TimeZone::DateRule& rule) {
  const int64_t first = DaysFromCivil(y, rule.month, 1);
  int day = 1 + (rule.weekday - WeekdayFromDays(first) + 7) % 7 + (rule.week - 1) * 7;
  while (day > DaysInMonth(y, rule.month)) day -= 7;
  return first + day - 1;
}

int64_t ToSeconds(core::TimePoint t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

core::TimePoint FromSeconds(int64_t s) { return core::TimePoint(std::chrono::seconds(s)); }

bool IsValidZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("//") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '+' || c == '-' || c == '/';
  });
}

// A cursor over the TZif bytes; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  bool Has(size_t n) const { return bytes_.size() - pos_ >= n; }
  size_t pos() const { return pos_; }
  void Skip(size_t n) { pos_ += n; }
  uint8_t U8() { return static_cast<uint8_t>(bytes_[pos_++]); }
  int64_t BigEndian(int width) {
    uint64_t v = 0;
    for (int i = 0; i < width; ++i) v = (v << 8) | U8();
    if (width == 4) return static_cast<int32_t>(static_cast<uint32_t>(v));
    return static_cast<int64_t>(v);
  }
  std::string_view Rest() const { return bytes_.substr(pos_); }

 private:
  std::string_view bytes_;
  size_t pos_ = 0;
};

struct TzifHeader {
  char version = 0;
  int64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

core::Result<TzifHeader> ReadHeader(std::string_view zone, Reader& r) {
  if (!r.Has(44) || r.Rest().substr(0, 4) != "TZif") {
    return core::InvalidArgument("time zone \"" + std::string(zone) + "\": not a TZif file");
  }
  TzifHeader h;
  r.Skip(4);
  h.version = static_cast<char>(r.U8());
  r.Skip(15);
  h.isutcnt = r.BigEndian(4);
  h.isstdcnt = r.BigEndian(4);
  h.leapcnt = r.BigEndian(4);
  h.timecnt = r.BigEndian(4);
  h.typecnt = r.BigEndian(4);
  h.charcnt = r.BigEndian(4);
  for (int64_t n : {h.isutcnt, h.isstdcnt, h.leapcnt, h.timecnt, h.typecnt, h.charcnt}) {
    if (n < 0 || n > 100'000) {
      return core::InvalidArgument("time zone \"" + std::string(zone) + "\": bad TZif counts");
    }
  }
  return h;
}

size_t DataSize(const TzifHeader& h, int time_width) {
  return static_cast<size_t>(h.timecnt * time_width + h.timecnt + h.typecnt * 6 + h.charcnt +
                             h.leapcnt * (time_width + 4) + h.isstdcnt + h.isutcnt);
}

// Parses [+-]hh[:mm[:ss]] at `pos`, advancing it; hours at most `max_hours`.
std::optional<int64_t> ParseHms(std::string_view s, size_t& pos, int max_hours) {
  int64_t sign = 1;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) sign = s[pos++] == '-' ? -1 : 1;
  std::array<int64_t, 3> parts = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (pos >= s.size() || s[pos] != ':') break;
      ++pos;
    }
    const size_t begin = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - begin < 3) {
      parts[i] = parts[i] * 10 + (s[pos++] - '0');
    }
    if (pos == begin) return std::nullopt;
  }
  if (parts[0] > max_hours || parts[1] > 59 || parts[2] > 59) return std::nullopt;
  return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
}

bool ParseAbbreviation(std::string_view s, size_t& pos) {
  const size_t begin = pos;
  if (pos < s.size() && s[pos] == '<') {
    const size_t close = s.find('>', pos);
    if (close == std::string_view::npos || close == pos + 1) return false;
    pos = close + 1;
    return true;
  }
  while (pos < s.size() && ((s[pos] >= 'A' && s[pos] <= 'Z') || (s[pos] >= 'a' && s[pos] <= 'z')))
    ++pos;
  return pos - begin >= 3;
}

bool ParseInt(std::string_view s, size_t& pos, int lo, int hi, int& out) {
  const size_t begin = pos;
  out = 0;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && pos - begin < 3) {
    out = out * 10 + (s[pos++] - '0');
  }
  return pos > begin && out >= lo && out <= hi;
}

}  // namespace

core::Result<BudgetPeriod> ParseBudgetPeriod(std::string_view text) {
  if (text == "day") return BudgetPeriod::kDay;
  if (text == "week") return BudgetPeriod::kWeek;
  if (text == "month") return BudgetPeriod::kMonth;
  return core::InvalidArgument("unknown budget period \"" + std::string(text) +
                               "\" (want day, week or month)");
}

std::string_view BudgetPeriodName(BudgetPeriod period) {
  switch (period) {
    case BudgetPeriod::kDay:
      return "day";
    case BudgetPeriod::kWeek:
      return "week";
    case BudgetPeriod::kMonth:
      return "month";
  }
  return "unknown";
}

core::Result<TimeZone::PosixRule> TimeZone::ParsePosixRule(std::string_view zone,
                                                           std::string_view text) {
  auto bad = [&](std::string_view why) {
    return core::InvalidArgument("time zone \"" + std::string(zone) + "\": TZ rule \"" +
                                 std::string(text) + "\" " + std::string(why));
  };
  PosixRule rule;
  size_t pos = 0;
  if (!ParseAbbreviation(text, pos)) return bad("has no valid standard-time name");
  std::optional<int64_t> std_west = ParseHms(text, pos, 24);
  if (!std_west) return bad("has no valid standard-time offset");
  rule.std_offset = -*std_west;  // POSIX offsets count hours west of Greenwich
  if (pos == text.size()) return rule;

  if (!ParseAbbreviation(text, pos)) return bad("has no valid daylight-time name");
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;
  if (pos < text.size() && text[pos] != ',') {
    std::optional<int64_t> dst_west = ParseHms(text, pos, 24);
    if (!dst_west) return bad("has no valid daylight-time offset");
    rule.dst_offset = -*dst_west;
  }
  if (pos == text.size()) {
    return bad("has daylight time without transition rules, which is not supported");
  }
  for (DateRule* date : {&rule.dst_start, &rule.dst_end}) {
    if (pos >= text.size() || text[pos] != ',') return bad("lacks a transition rule");
    ++pos;
    if (pos >= text.size() || text[pos] != 'M') {
      return bad("uses Julian-day transition rules, which are not supported");
    }
    ++pos;
    if (!ParseInt(text, pos, 1, 12, date->month) || pos >= text.size() || text[pos++] != '.' ||
        !ParseInt(text, pos, 1, 5, date->week) || pos >= text.size() || text[pos++] != '.' ||
        !ParseInt(text, pos, 0, 6, date->weekday)) {
      return bad("has a malformed M.m.w.d rule");
    }
    if (pos < text.size() && text[pos] == '/') {
      ++pos;
      std::optional<int64_t> time = ParseHms(text, pos, 167);  // RFC 8536 extension
      if (!time) return bad("has a malformed transition time");
      date->time = *time;
    }
  }
  if (pos != text.size()) return bad("has trailing text");
  return rule;
}

TimeZone TimeZone::Utc() {
  TimeZone tz;
  tz.name_ = "UTC";
  return tz;
}

core::Result<TimeZone> TimeZone::Load(std::string_view name, std::string_view zoneinfo_dir) {
  if (!IsValidZoneName(name)) {
    return core::InvalidArgument("invalid time zone name \"" + std::string(name) +
                                 "\" (want an IANA name such as Europe/Berlin)");
  }
  if (name == "UTC") return Utc();
  const std::string path = std::string(zoneinfo_dir) + "/" + std::string(name);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return core::NotFound("unknown time zone \"" + std::string(name) + "\" (no " + path + ")");
  std::string bytes;
  bytes.resize(kMaxTzifBytes + 1);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (in.bad()) {
    return core::InvalidArgument("time zone \"" + std::string(name) + "\": cannot read " + path);
  }
  bytes.resize(static_cast<size_t>(in.gcount()));
  if (bytes.size() > kMaxTzifBytes) {
    return core::InvalidArgument("time zone \"" + std::string(name) + "\": " + path +
                                 " is too large for a TZif file");
  }
  return FromTzif(name, bytes);
}

core::Result<TimeZone> TimeZone::FromTzif(std::string_view name, std::string_view bytes) {
  const std::string zone(name);
  auto bad = [&](std::string_view why) {
    return core::InvalidArgument("time zone \"" + zone + "\": " + std::string(why));
  };
  Reader r(bytes);
  AGENTD_ASSIGN_OR_RETURN(TzifHeader v1, ReadHeader(zone, r));
  if (v1.version < '2') return bad("TZif version 1 files are not supported");
  if (!r.Has(DataSize(v1, 4))) return bad("truncated TZif v1 data");
  r.Skip(DataSize(v1, 4));
  AGENTD_ASSIGN_OR_RETURN(TzifHeader h, ReadHeader(zone, r));
  if (h.leapcnt != 0) return bad("leap-second (\"right/\") zones are not supported");
  if (h.typecnt < 1) return bad("TZif file has no local time types");
  if (!r.Has(DataSize(h, 8))) return bad("truncated TZif v2 data");

  TimeZone tz;
  tz.name_ = zone;
  tz.transition_times_.reserve(static_cast<size_t>(h.timecnt));
  for (int64_t i = 0; i < h.timecnt; ++i) {
    const int64_t t = r.BigEndian(8);
    if (!tz.transition_times_.empty() && t <= tz.transition_times_.back()) {
      return bad("TZif transition times are not ascending");
    }
    tz.transition_times_.push_back(t);
  }
  for (int64_t i = 0; i < h.timecnt; ++i) {
    const uint8_t type = r.U8();
    if (type >= h.typecnt) return bad("TZif transition names an unknown local time type");
    tz.transition_types_.push_back(type);
  }
  tz.type_offsets_.clear();
  for (int64_t i = 0; i < h.typecnt; ++i) {
    const int64_t offset = r.BigEndian(4);
    r.Skip(2);  // isdst, abbreviation index: not needed for offsets
    if (offset < -25 * 3600 || offset > 26 * 3600) return bad("TZif UTC offset out of range");
    tz.type_offsets_.push_back(offset);
  }
  r.Skip(static_cast<size_t>(h.charcnt + h.isstdcnt + h.isutcnt));

  std::string_view footer = r.Rest();
  if (footer.size() < 2 || footer.front() != '\n') return bad("TZif v2+ footer is missing");
  const size_t end = footer.find('\n', 1);
  if (end == std::string_view::npos) return bad("TZif footer is not terminated");
  footer = footer.substr(1, end - 1);
  if (!footer.empty()) {
    AGENTD_ASSIGN_OR_RETURN(tz.footer_, ParsePosixRule(zone, footer));
  }
  return tz;
}

int64_t TimeZone::OffsetAtSeconds(int64_t t) const {
  if (transition_times_.empty() || t < transition_times_.front()) {
    if (transition_times_.empty() && footer_) {
      // fall through to the footer below
    } else {
      return type_offsets_.front();
    }
  } else if (t < transition_times_.back() || !footer_) {
    const auto it = std::upper_bound(transition_times_.begin(), transition_times_.end(), t);
    const size_t i = static_cast<size_t>(std::distance(transition_times_.begin(), it)) - 1;
    return type_offsets_[transition_types_[i]];
  }
  const PosixRule& rule = *footer_;
  if (!rule.has_dst) return rule.std_offset;
  const int64_t year = CivilFromDays(FloorDiv(t + rule.std_offset, kSecondsPerDay)).y;
  // Each transition happens at a wall-clock time of the offset in effect just before it.
  const int64_t start =
      RuleDay(year, rule.dst_start) * kSecondsPerDay + rule.dst_start.time - rule.std_offset;
  const int64_t end =
      RuleDay(year, rule.dst_end) * kSecondsPerDay + rule.dst_end.time - rule.dst_offset;
  const bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? rule.dst_offset : rule.std_offset;
}

int64_t TimeZone::OffsetSecondsAt(core::TimePoint utc) const {
  return OffsetAtSeconds(ToSeconds(utc));
}

core::TimePoint TimeZone::LocalMidnightToUtc(int y, int m, int d) const {
  AGENTD_CHECK(m >= 1 && m <= 12 && d >= 1 && d <= 31)
      << "bad civil date " << y << "-" << m << "-" << d;
  const int64_t local = DaysFromCivil(y, m, d) * kSecondsPerDay;
  // Offsets never exceed 26 hours, so every candidate offset is one in effect within a day and a
  // bit of `local`; a candidate is right when the offset at its instant is itself.
  std::optional<int64_t> best;
  for (int64_t probe : {local - 93'600, local, local + 93'600}) {
    const int64_t offset = OffsetAtSeconds(probe);
    const int64_t t = local - offset;
    if (OffsetAtSeconds(t) == offset && (!best || t < *best)) best = t;
  }
  if (best) return FromSeconds(*best);
  // Midnight falls in a DST gap: the day starts at the first instant whose local time is at or
  // after it. Local time t + offset(t) only jumps forward inside [local - 26h, local + 26h] here.
  int64_t lo = local - 26 * 3600;  // local time before midnight
  int64_t hi = local + 26 * 3600;  // local time after midnight
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (mid + OffsetAtSeconds(mid) >= local) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return FromSeconds(hi);
}

core::Result<PeriodWindow> WindowContaining(core::TimePoint t, BudgetPeriod period,
                                            const TimeZone& tz) {
  const int64_t seconds = ToSeconds(t);
  // Years 1..9999 in seconds since the epoch, with a day of slack for offsets.
  constexpr int64_t kMin = -62'135'596'800 + kSecondsPerDay;
  constexpr int64_t kMax = 253'402'300'799 - kSecondsPerDay;
  if (seconds < kMin || seconds > kMax) {
    return core::InvalidArgument("instant " + std::to_string(seconds) +
                                 "s since the epoch is outside years 1..9999");
  }
  const int64_t local_days = FloorDiv(seconds + tz.OffsetSecondsAt(t), kSecondsPerDay);
  int64_t first_day = local_days;
  int64_t next_first_day = local_days + 1;
  switch (period) {
    case BudgetPeriod::kDay:
      break;
    case BudgetPeriod::kWeek: {
      const int iso_weekday = (WeekdayFromDays(local_days) + 6) % 7;  // 0 = Monday
      first_day = local_days - iso_weekday;
      next_first_day = first_day + 7;
      break;
    }
    case BudgetPeriod::kMonth: {
      const Civil c = CivilFromDays(local_days);
      first_day = DaysFromCivil(c.y, c.m, 1);
      next_first_day = first_day + DaysInMonth(c.y, c.m);
      break;
    }
  }
  const Civil a = CivilFromDays(first_day);
  const Civil b = CivilFromDays(next_first_day);
  PeriodWindow window{
      .start = tz.LocalMidnightToUtc(static_cast<int>(a.y), a.m, a.d),
      .end = tz.LocalMidnightToUtc(static_cast<int>(b.y), b.m, b.d),
  };
  if (!(window.start <= t && t < window.end)) {
    return core::Internal("time zone \"" + tz.name() + "\": the " +
                          std::string(BudgetPeriodName(period)) + " window computed for instant " +
                          std::to_string(seconds) + " does not contain it");
  }
  return window;
}

}  // namespace agentd::governance
