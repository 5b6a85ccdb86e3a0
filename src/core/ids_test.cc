#include "core/ids.h"

#include <set>

#include <gtest/gtest.h>

#include "core/hash.h"
#include "core/time.h"

namespace agentd::core {
namespace {

TEST(IdsTest, RunIdsAreValidUniqueAndSortByTime) {
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewRunId(FromUnixMillis(1'700'000'000'000 + i));
    EXPECT_TRUE(IsValidRunId(id)) << id;
    EXPECT_GT(id, previous);
    previous = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IdsTest, RejectsJunkIds) {
  EXPECT_FALSE(IsValidRunId("run-../../etc/passwd"));
  EXPECT_FALSE(IsValidRunId(""));
  EXPECT_FALSE(IsValidRunId("run-0123456789ABCDEFGHJKMNPQRS"));
}

TEST(IdsTest, RandomHexHasTheAskedLength) {
  EXPECT_EQ(RandomHex(16).size(), 32u);
  EXPECT_NE(RandomHex(16), RandomHex(16));
}

}  // namespace
}  // namespace agentd::core

namespace agentd::core {
namespace {

TEST(HashTest, Sha256HexMatchesTheKnownDigest) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace agentd::core
