#include "runner/retry_policy.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace agentd::runner {
namespace {

std::optional<int> ParseDigits(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  int value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 IMF-fixdate).
std::optional<core::TimePoint> ParseImfFixdate(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() != 29 || s.substr(3, 2) != ", " || s.substr(25) != " GMT") return std::nullopt;
  auto day = ParseDigits(s.substr(5, 2));
  auto year = ParseDigits(s.substr(12, 4));
  auto hour = ParseDigits(s.substr(17, 2));
  auto minute = ParseDigits(s.substr(20, 2));
  auto second = ParseDigits(s.substr(23, 2));
  if (!day || !year || !hour || !minute || !second || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':') {
    return std::nullopt;
  }
  auto month_it = std::find(kMonths.begin(), kMonths.end(), s.substr(8, 3));
  if (month_it == kMonths.end() || *hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  unsigned month = static_cast<unsigned>(month_it - kMonths.begin()) + 1;
  std::chrono::year_month_day ymd{std::chrono::year(*year), std::chrono::month(month),
                                  std::chrono::day(static_cast<unsigned>(*day))};
  if (!ymd.ok()) return std::nullopt;
  return core::TimePoint(std::chrono::sys_days(ymd)) + std::chrono::hours(*hour) +
         std::chrono::minutes(*minute) + std::chrono::seconds(*second);
}

}  // namespace

bool IsRetryableStatus(int http_status) {
  return http_status == 0 || http_status == 408 || http_status == 429 ||
         (http_status >= 500 && http_status <= 599);
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         core::TimePoint now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (auto seconds = ParseDigits(value)) return std::chrono::seconds(*seconds);
  if (auto date = ParseImfFixdate(value)) {
    auto delta = std::chrono::duration_cast<std::chrono::milliseconds>(*date - now);
    return std::max(delta, std::chrono::milliseconds(0));
  }
  return std::nullopt;
}

RetryDecision DecideRetry(const RetryPolicy& policy, const RetryInput& input) {
  if (!IsRetryableStatus(input.http_status) || input.attempt > policy.max_retries) return {};
  if (input.retry_after) {
    if (auto after = ParseRetryAfter(*input.retry_after, input.now)) {
      return {true, std::min(*after, policy.max_retry_after)};
    }
  }
  // base * 2^(attempt-1), computed in double to avoid overflow, then capped.
  double exponent = std::min(input.attempt - 1, 40);
  double backoff = static_cast<double>(policy.base_delay.count()) * std::pow(2.0, exponent);
  backoff = std::min(backoff, static_cast<double>(policy.max_delay.count()));
  double jitter = std::clamp(input.jitter, 0.0, 1.0);
  auto delay = static_cast<int64_t>(backoff * (0.5 + jitter / 2.0));
  return {true, std::chrono::milliseconds(delay)};
}

}  // namespace agentd::runner
