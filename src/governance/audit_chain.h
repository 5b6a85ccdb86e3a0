// The tamper-evident audit chain: pure functions over values, no I/O.
//
// Each AuditEntry holds the SHA-256 of the previous entry (`prev_hash`) and its own hash over
// `prev_hash + "\n" + CanonicalJson(entry without "hash")`. Changing, removing or reordering any
// entry breaks the chain at that entry, which VerifyChain finds. A chain whose tail was cut off
// still verifies on its own; signed checkpoints (checkpoint.h) close that gap.
//
// Entries are numbered from 1; the first entry's prev_hash is kGenesisHash (64 zeros). Times are
// hashed as RFC 3339 with millisecond precision, and NextEntry truncates the draft's time to
// milliseconds so an entry read back from storage hashes the same as the one written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"

namespace agentd::governance {

// prev_hash of the first entry.
inline constexpr std::string_view kGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

struct AuditEntry {
  int64_t index = 0;      // 1, 2, 3, ... without gaps
  core::TimePoint time;   // whole milliseconds
  std::string actor;      // who: an identity ("key-1a2b3c4d", "system", "scheduler")
  std::string action;     // what: "run.submitted", "budget.exceeded", ...
  std::string subject;    // on what: a run id, an object name; may be empty
  core::Json details;     // object with integers, strings, bools, null, arrays; no floats
  std::string prev_hash;  // lowercase hex SHA-256 of the previous entry, or kGenesisHash
  std::string hash;       // EntryHash(*this)
};

// What a caller supplies; NextEntry fills in index, prev_hash and hash.
struct AuditEntryDraft {
  core::TimePoint time;
  std::string actor;
  std::string action;
  std::string subject;
  core::Json details = core::Json::object();
};

// Deterministic serialisation used for hashing and signing:
//  - object keys sorted by byte value (done explicitly here, not left to the json map type),
//  - no whitespace between tokens,
//  - integers as decimal digits as nlohmann prints them, true/false/null,
//  - strings as UTF-8 as is; only '"', '\\' and control characters are escaped (nlohmann's rules).
// Floating-point numbers have no single canonical text across producers, so audit details must
// not contain them: NextEntry rejects them (here they print as nlohmann prints them). Invalid
// UTF-8 is likewise rejected by NextEntry; here it is replaced with U+FFFD instead of throwing.
std::string CanonicalJson(const core::Json& value);

// The entry as a JSON object: index, time (RFC 3339), actor, action, subject, details,
// prev_hash and hash. EntryFromJson is its inverse and validates types (kInvalidArgument).
core::Json EntryToJson(const AuditEntry& entry);
core::Result<AuditEntry> EntryFromJson(const core::Json& json);

// Lowercase hex SHA-256 over prev_hash + "\n" + CanonicalJson(EntryToJson(entry) minus "hash").
// Ignores entry.hash.
std::string EntryHash(const AuditEntry& entry);

// Builds the entry that follows `previous` (nullptr for the first entry): index previous+1 or 1,
// prev_hash previous->hash or kGenesisHash, time truncated to milliseconds, and hash.
// Errors (kInvalidArgument, naming the field): empty action or actor, details not an object,
// a floating-point number anywhere in details, invalid UTF-8 in any string.
core::Result<AuditEntry> NextEntry(const AuditEntry* previous, AuditEntryDraft draft);

// A draft checked and serialized ahead of time, so that a single writer appending to the chain
// only has to fill in index and prev_hash and hash a string: PrepareDraft does everything
// NextEntry checks (same errors) and renders the canonical JSON around the two chain fields.
struct PreparedAuditDraft {
  AuditEntry entry;            // everything but index, prev_hash and hash; time in whole ms
  std::string details_json;    // DumpJson(details), for storage
  std::string canonical_head;  // {"action":...,"actor":...,"details":...,"index":
  std::string canonical_tail;  // ,"subject":...,"time":"..."}
};
core::Result<PreparedAuditDraft> PrepareDraft(AuditEntryDraft draft);
// The entry that follows `previous` (nullptr for the first): the same as NextEntry would give.
AuditEntry ChainPrepared(const AuditEntry* previous, const PreparedAuditDraft& prepared);

struct VerifyResult {
  bool ok = true;
  int64_t entries_checked = 0;  // entries found intact before the first problem (all if ok)
  std::optional<int64_t> first_bad_index;  // the entry index the problem is reported at
  std::string problem;                     // empty when ok; says which problem and where
};

// Verifies a whole chain in order, starting at index 1. Reports the FIRST of:
//  - altered: an entry whose stored hash differs from its recomputed hash (any field changed),
//    or whose successor no longer links to it (the entry was rewritten with a fresh hash);
//    first_bad_index is the index expected at that position;
//  - removed: an index gap; first_bad_index is the first missing index;
//  - reordered: an entry out of place while the expected one appears later (or an index repeats
//    or goes backwards); first_bad_index is the index expected at that position.
// Cannot detect entries cut off at the tail: see VerifyChainAgainstCheckpoint.
VerifyResult VerifyChain(const std::vector<AuditEntry>& entries);

}  // namespace agentd::governance
