#include "auth/runner_token.h"

#include <string>

#include <gtest/gtest.h>

#include "core/hash.h"

namespace agentd::auth {
namespace {

TEST(RunnerTokenTest, MatchesOnlyTheTokenWhoseDigestIsStored) {
  const std::string token = "0123456789abcdef0123456789abcdef";
  const std::string digest = core::Sha256Hex(token);

  EXPECT_TRUE(RunnerTokenMatches(token, digest));
  EXPECT_FALSE(RunnerTokenMatches(token + "x", digest));
  EXPECT_FALSE(RunnerTokenMatches("0123456789abcdef0123456789abcdee", digest));
  EXPECT_FALSE(RunnerTokenMatches(digest, digest));  // the digest is not the token
}

TEST(RunnerTokenTest, AnEmptyTokenOrAMissingDigestNeverMatches) {
  EXPECT_FALSE(RunnerTokenMatches("", core::Sha256Hex("")));
  EXPECT_FALSE(RunnerTokenMatches("token", ""));
  EXPECT_FALSE(RunnerTokenMatches("token", core::Sha256Hex("token").substr(0, 63)));
}

TEST(RunnerTokenTest, BearerTokenTakesTheTokenOfABearerHeaderOnly) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("  bEaReR   abc  "), "abc");
  EXPECT_EQ(BearerToken(std::nullopt), std::nullopt);
  EXPECT_EQ(BearerToken("Basic abc"), std::nullopt);
  EXPECT_EQ(BearerToken("Bearer"), std::nullopt);
  EXPECT_EQ(BearerToken("Bearer    "), std::nullopt);
  EXPECT_EQ(BearerToken("abc"), std::nullopt);
}

}  // namespace
}  // namespace agentd::auth
