// Bounding text for events and tool output without cutting UTF-8 sequences in half. Event lines
// are limited (api::v1::kMaxRunnerEventBytes), model and tool text is not, so everything that
// goes into an event passes through here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace agentd::runner {

// The longest prefix of `text` of at most `max_bytes` that does not end inside a UTF-8 sequence.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

// The longest suffix of at most `max_bytes` that does not start inside a UTF-8 sequence.
std::string_view Utf8Suffix(std::string_view text, size_t max_bytes);

struct BoundedText {
  std::string text;
  bool truncated = false;
};

// `text` if it fits in `max_bytes`, else its UTF-8-safe prefix followed by
// "\n[... N more bytes truncated]".
BoundedText TruncateText(std::string_view text, size_t max_bytes);

// Splits `text` into pieces of at most `max_bytes` (>= 4) at UTF-8 boundaries.
std::vector<std::string_view> SplitUtf8(std::string_view text, size_t max_bytes);

// A copy of `value` where every string longer than `max_string_bytes` is truncated as by
// TruncateText (for tool arguments shown in events).
core::Json BoundJsonStrings(const core::Json& value, size_t max_string_bytes);

}  // namespace agentd::runner
