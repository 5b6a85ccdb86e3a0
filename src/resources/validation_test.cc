#include "resources/validation.h"

#include <string>

#include <gtest/gtest.h>

namespace agentd::resources {
namespace {

TEST(ValidationTest, DnsLabelsAreLowercaseAlphanumericWithInnerDashesUpTo63Chars) {
  EXPECT_TRUE(IsDnsLabel("developer"));
  EXPECT_TRUE(IsDnsLabel("codex-developer"));
  EXPECT_TRUE(IsDnsLabel("a1"));
  EXPECT_TRUE(IsDnsLabel(std::string(63, 'a')));
  EXPECT_FALSE(IsDnsLabel(std::string(64, 'a')));
  EXPECT_FALSE(IsDnsLabel(""));
  EXPECT_FALSE(IsDnsLabel("Developer"));
  EXPECT_FALSE(IsDnsLabel("-dev"));
  EXPECT_FALSE(IsDnsLabel("dev-"));
  EXPECT_FALSE(IsDnsLabel("dev_ops"));
  EXPECT_FALSE(IsDnsLabel("dev.ops"));
}

TEST(ValidationTest, DnsSubdomainsAreDottedLabels) {
  EXPECT_TRUE(IsDnsSubdomain("openai-credentials"));
  EXPECT_TRUE(IsDnsSubdomain("a.b.c"));
  EXPECT_FALSE(IsDnsSubdomain("a..b"));
  EXPECT_FALSE(IsDnsSubdomain(".a"));
  EXPECT_FALSE(IsDnsSubdomain(std::string(254, 'a')));
}

TEST(ValidationTest, QualifiedNamesAndLabelValuesFollowKubernetes) {
  EXPECT_TRUE(IsQualifiedName("team"));
  EXPECT_TRUE(IsQualifiedName("app.kubernetes.io/name"));
  EXPECT_TRUE(IsQualifiedName("Cost_Center.v2"));
  EXPECT_FALSE(IsQualifiedName(""));
  EXPECT_FALSE(IsQualifiedName("/name"));
  EXPECT_FALSE(IsQualifiedName("Bad_Prefix/name"));
  EXPECT_FALSE(IsQualifiedName("team "));
  EXPECT_TRUE(IsLabelValue(""));
  EXPECT_TRUE(IsLabelValue("platform"));
  EXPECT_FALSE(IsLabelValue("-platform"));
  EXPECT_FALSE(IsLabelValue(std::string(64, 'a')));
}

TEST(ValidationTest, EnvVarNamesAndSecretKeys) {
  EXPECT_TRUE(IsEnvVarName("OPENAI_API_KEY"));
  EXPECT_TRUE(IsEnvVarName("_x1"));
  EXPECT_FALSE(IsEnvVarName("1X"));
  EXPECT_FALSE(IsEnvVarName("A-B"));
  EXPECT_FALSE(IsEnvVarName(""));
  EXPECT_TRUE(IsSecretKey("api-key.txt"));
  EXPECT_FALSE(IsSecretKey("a/b"));
}

TEST(ValidationTest, HttpUrlsNeedASchemeAndAHostAndNoWhitespace) {
  EXPECT_TRUE(IsHttpUrl("http://127.0.0.1:8000/v1"));
  EXPECT_TRUE(IsHttpUrl("https://api.openai.com/v1"));
  EXPECT_FALSE(IsHttpUrl("ftp://example.com"));
  EXPECT_FALSE(IsHttpUrl("http://"));
  EXPECT_FALSE(IsHttpUrl("https:///path"));
  EXPECT_FALSE(IsHttpUrl("http://exa mple.com"));
  EXPECT_FALSE(IsHttpUrl("api.openai.com"));
}

TEST(ValidationTest, Sha256IsSixtyFourHexDigits) {
  EXPECT_TRUE(IsSha256Hex(std::string(64, 'a')));
  EXPECT_TRUE(IsSha256Hex(std::string(64, 'F')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(64, 'g')));
}

TEST(ValidationTest, QuantitiesFollowKubernetesSuffixes) {
  EXPECT_TRUE(IsCpuQuantity("500m"));
  EXPECT_TRUE(IsCpuQuantity("2"));
  EXPECT_TRUE(IsCpuQuantity("0.5"));
  EXPECT_FALSE(IsCpuQuantity("500Mi"));
  EXPECT_FALSE(IsCpuQuantity("m"));
  EXPECT_FALSE(IsCpuQuantity("1."));
  EXPECT_TRUE(IsMemoryQuantity("1Gi"));
  EXPECT_TRUE(IsMemoryQuantity("512Mi"));
  EXPECT_TRUE(IsMemoryQuantity("1073741824"));
  EXPECT_TRUE(IsMemoryQuantity("1.5G"));
  EXPECT_FALSE(IsMemoryQuantity("1GB"));
  EXPECT_FALSE(IsMemoryQuantity("Gi"));
}

TEST(ValidationTest, SafeTokensCannotBeTakenForOptions) {
  EXPECT_TRUE(IsSafeToken("ghcr.io/x/y:1.2.3"));
  EXPECT_FALSE(IsSafeToken("--upload-pack=evil"));
  EXPECT_FALSE(IsSafeToken("a b"));
  EXPECT_FALSE(IsSafeToken("a\nb"));
  EXPECT_FALSE(IsSafeToken(""));
}

TEST(ValidationTest, GitRefNamesRejectSpecialSequences) {
  EXPECT_TRUE(IsGitRefName("main"));
  EXPECT_TRUE(IsGitRefName("feature/new-thing"));
  EXPECT_FALSE(IsGitRefName("a..b"));
  EXPECT_FALSE(IsGitRefName("-main"));
  EXPECT_FALSE(IsGitRefName("main.lock"));
  EXPECT_FALSE(IsGitRefName("a:b"));
  EXPECT_FALSE(IsGitRefName("main/"));
}

TEST(ValidationTest, TimeZoneNamesCannotLeaveTheZoneinfoDirectory) {
  EXPECT_TRUE(IsTimeZoneName("UTC"));
  EXPECT_TRUE(IsTimeZoneName("Europe/Berlin"));
  EXPECT_TRUE(IsTimeZoneName("America/Argentina/Buenos_Aires"));
  EXPECT_TRUE(IsTimeZoneName("Etc/GMT+5"));
  EXPECT_TRUE(IsTimeZoneName(std::string(64, 'A')));
  EXPECT_FALSE(IsTimeZoneName(std::string(65, 'A')));
  EXPECT_FALSE(IsTimeZoneName(""));
  EXPECT_FALSE(IsTimeZoneName("../etc/passwd"));
  EXPECT_FALSE(IsTimeZoneName("Europe/../UTC"));
  EXPECT_FALSE(IsTimeZoneName("/etc/localtime"));
  EXPECT_FALSE(IsTimeZoneName("Europe/"));
  EXPECT_FALSE(IsTimeZoneName("Europe//Berlin"));
  EXPECT_FALSE(IsTimeZoneName("Europe Berlin"));
}

TEST(ValidationTest, CallerIdentitiesAreShortNames) {
  EXPECT_TRUE(IsCallerIdentity("ci"));
  EXPECT_TRUE(IsCallerIdentity("key-1a2b3c4d"));
  EXPECT_TRUE(IsCallerIdentity("deploy.bot_2"));
  EXPECT_FALSE(IsCallerIdentity(""));
  EXPECT_FALSE(IsCallerIdentity(std::string(64, 'a')));
  EXPECT_FALSE(IsCallerIdentity("a:b"));
  EXPECT_FALSE(IsCallerIdentity("a b"));
}

}  // namespace
}  // namespace agentd::resources
