#include "auth/api_key_authenticator.h"

#include <gtest/gtest.h>

namespace agentd::auth {
namespace {

TEST(ApiKeyAuthenticatorTest, WithoutKeysEveryoneIsAnonymous) {
  ApiKeyAuthenticator auth;
  EXPECT_FALSE(auth.enabled());
  auto identity = auth.Authenticate(std::nullopt);
  ASSERT_TRUE(identity.ok());
  EXPECT_EQ(*identity, ApiKeyAuthenticator::kAnonymous);

  auto from_empty_list = ApiKeyAuthenticator::FromList(" , ");
  ASSERT_TRUE(from_empty_list.ok());
  EXPECT_FALSE(from_empty_list->enabled());
}

TEST(ApiKeyAuthenticatorTest, NamedKeysAuthenticateAsTheirName) {
  auto auth = ApiKeyAuthenticator::FromList("alice:secret-one, bob:secret-two");
  ASSERT_TRUE(auth.ok()) << auth.error().message;
  EXPECT_EQ(auth->key_count(), 2u);
  EXPECT_EQ(auth->Authenticate("Bearer secret-one").value_or("?"), "alice");
  EXPECT_EQ(auth->Authenticate("bearer secret-two").value_or("?"), "bob");
  EXPECT_EQ(auth->Authenticate("  BEARER   secret-two  ").value_or("?"), "bob");
}

TEST(ApiKeyAuthenticatorTest, BareKeysGetAnIdentityFromTheirHash) {
  auto auth = ApiKeyAuthenticator::FromList("abc123");
  ASSERT_TRUE(auth.ok());
  // SHA-256("abc123") = 6ca13d52ca70c883e0f0bb101e425a89e8624de51db2d2392593af6a84118090
  EXPECT_EQ(auth->Authenticate("Bearer abc123").value_or("?"), "key-6ca13d52");
  EXPECT_EQ(Sha256Hex("abc123"),
            "6ca13d52ca70c883e0f0bb101e425a89e8624de51db2d2392593af6a84118090");
}

TEST(ApiKeyAuthenticatorTest, RejectsMissingMalformedAndUnknownCredentialsWithoutEchoingThem) {
  auto auth = ApiKeyAuthenticator::FromList("ops:right-key");
  ASSERT_TRUE(auth.ok());
  for (std::optional<std::string_view> header :
       {std::optional<std::string_view>(), std::optional<std::string_view>("right-key"),
        std::optional<std::string_view>("Basic right-key"),
        std::optional<std::string_view>("Bearer"), std::optional<std::string_view>("Bearer   "),
        std::optional<std::string_view>("Bearer wrong-key-value"),
        std::optional<std::string_view>("Bearer right-key-but-longer")}) {
    auto result = auth->Authenticate(header);
    ASSERT_FALSE(result.ok()) << (header ? *header : "(none)");
    EXPECT_EQ(result.error().code, core::ErrorCode::kUnauthenticated);
    EXPECT_EQ(result.error().message.find("wrong-key-value"), std::string::npos);
    EXPECT_EQ(result.error().message.find("right-key"), std::string::npos);
  }
}

TEST(ApiKeyAuthenticatorTest, ListErrorsNameTheEntryButNotTheKey) {
  auto empty_key = ApiKeyAuthenticator::FromList("good-key, alice:");
  ASSERT_FALSE(empty_key.ok());
  EXPECT_NE(empty_key.error().message.find("entry 2"), std::string::npos);

  auto bad_name = ApiKeyAuthenticator::FromList("bad name:very-secret");
  ASSERT_FALSE(bad_name.ok());
  EXPECT_EQ(bad_name.error().message.find("very-secret"), std::string::npos);

  auto duplicate_key = ApiKeyAuthenticator::FromList("a:same-secret,b:same-secret");
  ASSERT_FALSE(duplicate_key.ok());
  EXPECT_EQ(duplicate_key.error().message.find("same-secret"), std::string::npos);

  auto duplicate_name = ApiKeyAuthenticator::FromList("a:one-secret,a:two-secret");
  ASSERT_FALSE(duplicate_name.ok());
  EXPECT_NE(duplicate_name.error().message.find("\"a\""), std::string::npos);
}

TEST(ApiKeyAuthenticatorTest, EveryConfiguredKeyIsChecked) {
  auto auth = ApiKeyAuthenticator::FromList("k1:first,k2:second,k3:third");
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->Authenticate("Bearer first").value_or("?"), "k1");
  EXPECT_EQ(auth->Authenticate("Bearer second").value_or("?"), "k2");
  EXPECT_EQ(auth->Authenticate("Bearer third").value_or("?"), "k3");
}

}  // namespace
}  // namespace agentd::auth
