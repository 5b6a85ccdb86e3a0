#include "governance/audit_chain.h"

#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/hash.h"
#include "core/time.h"

namespace agentd::governance {
namespace {

using core::Json;

core::TimePoint At(int64_t ms) { return core::FromUnixMillis(1'790'000'000'000 + ms); }

AuditEntryDraft Draft(int n) {
  return AuditEntryDraft{.time = At(n * 1000),
                         .actor = "key-1a2b3c4d",
                         .action = "run.submitted",
                         .subject = "run-" + std::to_string(n),
                         .details = Json{{"n", n}, {"cost_micro_usd", 1500 * n}}};
}

std::vector<AuditEntry> BuildChain(int count) {
  std::vector<AuditEntry> chain;
  for (int n = 1; n <= count; ++n) {
    auto entry = NextEntry(chain.empty() ? nullptr : &chain.back(), Draft(n));
    EXPECT_TRUE(entry.ok()) << entry.error().message;
    chain.push_back(*std::move(entry));
  }
  return chain;
}

TEST(AuditChainTest, AChainOfOneHundredEntriesVerifies) {
  std::vector<AuditEntry> chain = BuildChain(100);

  VerifyResult result = VerifyChain(chain);

  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.entries_checked, 100);
  EXPECT_FALSE(result.first_bad_index.has_value());
  EXPECT_EQ(chain.front().index, 1);
  EXPECT_EQ(chain.front().prev_hash, kGenesisHash);
  EXPECT_EQ(chain.back().index, 100);
  EXPECT_EQ(chain[41].prev_hash, chain[40].hash);
}

TEST(AuditChainTest, AnEmptyChainVerifies) {
  VerifyResult result = VerifyChain({});
  EXPECT_TRUE(result.ok);
  EXPECT_EQ(result.entries_checked, 0);
}

TEST(AuditChainTest, ChangingOneFieldOfEntry37IsReportedAsAlteredAt37) {
  std::vector<AuditEntry> chain = BuildChain(100);
  chain[36].details["cost_micro_usd"] = 1;

  VerifyResult result = VerifyChain(chain);

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 37);
  EXPECT_EQ(result.entries_checked, 36);
  EXPECT_NE(result.problem.find("entry 37"), std::string::npos) << result.problem;
  EXPECT_NE(result.problem.find("altered"), std::string::npos) << result.problem;
}

TEST(AuditChainTest, EveryHashedFieldIsCovered) {
  const std::vector<AuditEntry> chain = BuildChain(5);
  std::vector<void (*)(AuditEntry&)> edits = {
      [](AuditEntry& e) { e.index = 9; },
      [](AuditEntry& e) { e.time += std::chrono::milliseconds(1); },
      [](AuditEntry& e) { e.actor = "someone-else"; },
      [](AuditEntry& e) { e.action = "run.cancelled"; },
      [](AuditEntry& e) { e.subject = "run-x"; },
      [](AuditEntry& e) { e.details["extra"] = true; },
      [](AuditEntry& e) { e.prev_hash[0] = e.prev_hash[0] == 'a' ? 'b' : 'a'; },
      [](AuditEntry& e) { e.hash[5] = e.hash[5] == 'a' ? 'b' : 'a'; },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    std::vector<AuditEntry> copy = chain;
    edits[i](copy[2]);
    VerifyResult result = VerifyChain(copy);
    EXPECT_FALSE(result.ok) << "edit " << i;
    EXPECT_EQ(result.first_bad_index, 3) << "edit " << i << ": " << result.problem;
  }
}

TEST(AuditChainTest, RewritingAnEntryWithAFreshHashIsCaughtByItsSuccessor) {
  std::vector<AuditEntry> chain = BuildChain(10);
  chain[3].actor = "forger";
  chain[3].hash = EntryHash(chain[3]);

  VerifyResult result = VerifyChain(chain);

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 4);
  EXPECT_NE(result.problem.find("entry 4 was altered"), std::string::npos) << result.problem;
}

// Deleting entry 50 leaves entry 51 at position 50. Entry 51 is itself intact, so the problem
// is reported at the first MISSING index, 50, which is the entry that was removed.
TEST(AuditChainTest, DeletingEntry50IsReportedAsRemovedAt50) {
  std::vector<AuditEntry> chain = BuildChain(100);
  chain.erase(chain.begin() + 49);

  VerifyResult result = VerifyChain(chain);

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 50);
  EXPECT_EQ(result.entries_checked, 49);
  EXPECT_NE(result.problem.find("entry 50 is missing"), std::string::npos) << result.problem;
}

TEST(AuditChainTest, DeletingARangeNamesTheWholeGap) {
  std::vector<AuditEntry> chain = BuildChain(20);
  chain.erase(chain.begin() + 4, chain.begin() + 7);  // entries 5, 6, 7

  VerifyResult result = VerifyChain(chain);

  EXPECT_EQ(result.first_bad_index, 5);
  EXPECT_NE(result.problem.find("entries 5..7 are missing"), std::string::npos) << result.problem;
}

TEST(AuditChainTest, DeletingTheFirstEntryIsReportedAt1) {
  std::vector<AuditEntry> chain = BuildChain(5);
  chain.erase(chain.begin());

  VerifyResult result = VerifyChain(chain);

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 1);
}

TEST(AuditChainTest, SwappingEntries20And21IsReportedAsReorderedAt20) {
  std::vector<AuditEntry> chain = BuildChain(100);
  std::swap(chain[19], chain[20]);

  VerifyResult result = VerifyChain(chain);

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 20);
  EXPECT_EQ(result.entries_checked, 19);
  EXPECT_NE(result.problem.find("reordered"), std::string::npos) << result.problem;
}

TEST(AuditChainTest, TruncatingTheTailStillVerifiesWithoutACheckpoint) {
  std::vector<AuditEntry> chain = BuildChain(100);
  chain.resize(80);

  EXPECT_TRUE(VerifyChain(chain).ok);
}

TEST(AuditChainTest, NextEntryNumbersFromOneAndLinksToThePrevious) {
  auto first = NextEntry(nullptr, Draft(1));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = NextEntry(&*first, Draft(2));
  ASSERT_TRUE(second.ok()) << second.error().message;

  EXPECT_EQ(first->index, 1);
  EXPECT_EQ(second->index, 2);
  EXPECT_EQ(second->prev_hash, first->hash);
  EXPECT_EQ(second->hash, EntryHash(*second));
  EXPECT_EQ(second->hash.size(), 64u);
}

TEST(AuditChainTest, EntryHashIsSha256OverPrevHashNewlineAndCanonicalFields) {
  auto entry = NextEntry(nullptr, Draft(1));
  ASSERT_TRUE(entry.ok());
  const std::string canonical =
      R"({"action":"run.submitted","actor":"key-1a2b3c4d","details":{"cost_micro_usd":1500,"n":1},)"
      R"("index":1,"prev_hash":")" +
      std::string(kGenesisHash) + R"(","subject":"run-1","time":")" +
      core::FormatRfc3339(At(1000)) + R"("})";

  EXPECT_EQ(entry->hash, core::Sha256Hex(std::string(kGenesisHash) + "\n" + canonical));
}

TEST(AuditChainTest, PreparedDraftsHashExactlyAsTheGenericCanonicalForm) {
  AuditEntry previous;
  previous.index = 41;
  previous.hash = std::string(64, 'a');
  AuditEntryDraft draft{
      .time = core::TimePoint(std::chrono::microseconds(1'800'000'000'123'456)),
      .actor = "k\u00e9y \"quoted\" \\ back",
      .action = "run.submitted",
      .subject = "",
      .details = {{"z", {1, "two", nullptr, true}},
                  {"a", {{"nested", "tab\there\nline \x01"}}},
                  {"emoji", "\xf0\x9f\x99\x82"},
                  {"n", -7}}};

  auto prepared = PrepareDraft(draft);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  AuditEntry chained = ChainPrepared(&previous, *prepared);

  EXPECT_EQ(chained.index, 42);
  EXPECT_EQ(chained.prev_hash, previous.hash);
  EXPECT_EQ(chained.hash, EntryHash(chained));
  EXPECT_EQ(prepared->details_json, core::DumpJson(chained.details));
  EXPECT_EQ(ChainPrepared(nullptr, *prepared).hash, EntryHash(ChainPrepared(nullptr, *prepared)));
}

TEST(AuditChainTest, NextEntryTruncatesTimeToMillisecondsSoStoredEntriesRehash) {
  AuditEntryDraft draft = Draft(1);
  draft.time += std::chrono::microseconds(999);
  auto entry = NextEntry(nullptr, draft);
  ASSERT_TRUE(entry.ok());

  auto round_trip = EntryFromJson(Json::parse(EntryToJson(*entry).dump()));

  ASSERT_TRUE(round_trip.ok()) << round_trip.error().message;
  EXPECT_EQ(round_trip->time, entry->time);
  EXPECT_EQ(EntryHash(*round_trip), entry->hash);
  EXPECT_TRUE(VerifyChain({*round_trip}).ok);
}

TEST(AuditChainTest, EntryFromJsonNamesTheBadField) {
  auto entry = NextEntry(nullptr, Draft(1));
  ASSERT_TRUE(entry.ok());
  Json json = EntryToJson(*entry);
  json["details"] = "not an object";

  auto parsed = EntryFromJson(json);

  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("details"), std::string::npos);
}

TEST(CanonicalJsonTest, IsIndependentOfKeyInsertionOrder) {
  Json a = Json::object();
  a["zeta"] = 1;
  a["alpha"] = Json{{"y", true}, {"b", nullptr}};
  a["mid"] = Json::array({3, "x"});
  Json b = Json::object();
  b["mid"] = Json::array({3, "x"});
  b["alpha"] = Json{{"b", nullptr}, {"y", true}};
  b["zeta"] = 1;

  EXPECT_EQ(CanonicalJson(a), CanonicalJson(b));
  EXPECT_EQ(CanonicalJson(a), R"({"alpha":{"b":null,"y":true},"mid":[3,"x"],"zeta":1})");
}

TEST(CanonicalJsonTest, KeepsUtf8AsIsAndEscapesOnlyWhatJsonRequires) {
  Json value = {{"name", "caf\xC3\xA9 \"q\"\n"}, {"n", -42}, {"u", 18446744073709551615ull}};

  EXPECT_EQ(CanonicalJson(value),
            "{\"n\":-42,\"name\":\"caf\xC3\xA9 \\\"q\\\"\\n\",\"u\":18446744073709551615}");
}

TEST(AuditChainTest, NextEntryRejectsFloatsAnywhereInDetails) {
  AuditEntryDraft draft = Draft(1);
  draft.details = Json{{"usage", Json{{"items", Json::array({1, 2.5})}}}};

  auto entry = NextEntry(nullptr, draft);

  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(entry.error().message.find("details.usage.items[1]"), std::string::npos)
      << entry.error().message;
  EXPECT_NE(entry.error().message.find("floating-point"), std::string::npos);
}

TEST(AuditChainTest, NextEntryRejectsInvalidUtf8AndMissingFields) {
  AuditEntryDraft bad_utf8 = Draft(1);
  bad_utf8.subject = "run-\xFF";
  auto entry = NextEntry(nullptr, bad_utf8);
  ASSERT_FALSE(entry.ok());
  EXPECT_NE(entry.error().message.find("subject is not valid UTF-8"), std::string::npos);

  AuditEntryDraft no_action = Draft(1);
  no_action.action = "";
  EXPECT_FALSE(NextEntry(nullptr, no_action).ok());

  AuditEntryDraft array_details = Draft(1);
  array_details.details = Json::array();
  EXPECT_FALSE(NextEntry(nullptr, array_details).ok());
}

}  // namespace
}  // namespace agentd::governance
