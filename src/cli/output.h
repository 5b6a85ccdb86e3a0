// Output formatting for agentctl: `-o table|json|yaml`.
//
// Everything here is a pure function over JSON values (the server's own shapes, see
// runs::RunToJson / runs::EventToJson), so it is tested without a server.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"

namespace agentd::cli {

enum class OutputFormat { kTable, kJson, kYaml };

// "table" | "json" | "yaml"; anything else is kInvalidArgument naming the text.
core::Result<OutputFormat> ParseOutputFormat(std::string_view text);

// Pretty JSON (2-space indent), one trailing newline.
std::string FormatJson(const core::Json& value);

// Block-style YAML for any JSON value, one trailing newline. Strings are emitted plain when
// YAML would read them back as the same string, as a literal block (`|`) when they hold several
// printable lines, and double-quoted otherwise, so that a YAML 1.2 parser returns exactly the
// JSON value.
std::string FormatYaml(const core::Json& value);

// A column-aligned text table: the header row, then the rows, columns separated by at least
// three spaces, no trailing spaces. Rows shorter than the header are padded with "".
std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// A short age such as "42s", "7m", "3h", "12d" (the largest whole unit). Negative ages (clock
// skew) show as "0s".
std::string FormatAge(std::chrono::milliseconds age);

// The runs table: ID AGENT PHASE AGE COST, one row per run object. AGE is measured from the
// run's createdAt to `now`; unparseable fields show as "-". COST is "$" + usage.costUsd.
std::string FormatRunTable(const std::vector<core::Json>& runs, core::TimePoint now);

// A human "describe" view of one run: aligned `Key: value` lines (with the governance block:
// team, tier, per-run cost cap, budgets, approval expiry), then its result or error.
std::string FormatRunDetails(const core::Json& run, core::TimePoint now);

// The usage report (GET /api/v1/usage): one column per "groupBy" name (camelCase split into
// upper-case words: costCenter -> COST CENTER), then RUNS CALLS INPUT OUTPUT COST, a row per
// entry of "rows" and a last row "TOTAL" from "total". Without groups it is the one row of
// totals. Missing group values show as "-".
std::string FormatUsageTable(const core::Json& usage);

// The budgets table (GET /api/v1/budgets items): NAME SCOPE PERIOD SPENT RESERVED LIMIT STATE.
// SCOPE is "key=value" pairs joined by "," ("all" for the empty scope); amounts get a "$".
std::string FormatBudgetTable(const std::vector<core::Json>& budgets);

// The audit table (governance::EntryToJson items): INDEX TIME ACTOR ACTION SUBJECT DETAILS,
// DETAILS being the compact JSON of the details cut at 60 bytes (on a UTF-8 boundary) with "…".
std::string FormatAuditTable(const std::vector<core::Json>& entries);

// `text` cut to at most `max_bytes` bytes without splitting a UTF-8 sequence, with "…"
// appended when anything was cut.
std::string Ellipsize(std::string_view text, size_t max_bytes);

// Writes `value` in `format`; for kTable, `table` is called to produce the text instead.
template <typename TableFn>
void WriteValue(std::ostream& out, OutputFormat format, const core::Json& value, TableFn table) {
  switch (format) {
    case OutputFormat::kJson:
      out << FormatJson(value);
      break;
    case OutputFormat::kYaml:
      out << FormatYaml(value);
      break;
    case OutputFormat::kTable:
      out << table();
      break;
  }
}

}  // namespace agentd::cli
