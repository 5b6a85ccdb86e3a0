#include "core/money.h"

#include <algorithm>

namespace agentd::core {

__extension__ using Int128 = __int128;

Result<MicroUsd> ParseUsd(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return InvalidArgument("invalid USD amount \"" + std::string(text.substr(0, 40)) +
                           "\": " + std::string(why));
  };
  if (text.empty()) return bad("empty");
  size_t pos = 0;
  MicroUsd whole = 0;
  int whole_digits = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
    whole = whole * 10 + (text[pos] - '0');
    if (++whole_digits > 12) return bad("too large");
    ++pos;
  }
  MicroUsd frac = 0;
  int frac_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (++frac_digits > 6) return bad("more than 6 decimal places");
      frac = frac * 10 + (text[pos] - '0');
      ++pos;
    }
    if (frac_digits == 0) return bad("no digits after the decimal point");
  }
  if (whole_digits == 0 && frac_digits == 0) return bad("not a number");
  if (pos != text.size()) return bad("unexpected character");
  for (int i = frac_digits; i < 6; ++i) frac *= 10;
  return whole * kMicrosPerUsd + frac;
}

std::string FormatUsd(MicroUsd micros) {
  std::string sign;
  if (micros < 0) {
    sign = "-";
    micros = -micros;
  }
  std::string out = sign + std::to_string(micros / kMicrosPerUsd);
  MicroUsd frac = micros % kMicrosPerUsd;
  if (frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 6 - digits.size(), '0');
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    out += "." + digits;
  }
  return out;
}

double ToUsdDouble(MicroUsd micros) { return static_cast<double>(micros) / kMicrosPerUsd; }

MicroUsd CostOfTokens(int64_t tokens, MicroUsd price_per_million) {
  if (tokens <= 0 || price_per_million <= 0) return 0;
  Int128 product = static_cast<Int128>(tokens) * price_per_million;
  return static_cast<MicroUsd>((product + 999'999) / 1'000'000);
}

MicroUsd CostOfCall(int64_t input_tokens, int64_t cached_input_tokens, int64_t output_tokens,
                    MicroUsd input_per_million, MicroUsd cached_input_per_million,
                    MicroUsd output_per_million) {
  const int64_t input = std::max<int64_t>(0, input_tokens);
  const int64_t cached = std::clamp<int64_t>(cached_input_tokens, 0, input);
  return CostOfTokens(input - cached, input_per_million) +
         CostOfTokens(cached, cached_input_per_million) +
         CostOfTokens(output_tokens, output_per_million);
}

}  // namespace agentd::core
