#include "kube/config.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace agentd::kube {
namespace {

namespace fs = std::filesystem;

std::string Base64(std::string_view data) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t v = uint8_t(data[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    uint32_t v = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

constexpr const char* kCaPem = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n";
constexpr const char* kCertPem =
    "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n";
constexpr const char* kKeyPem = "-----BEGIN PRIVATE KEY-----\nMIIEkey\n-----END PRIVATE KEY-----\n";

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "kube-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = (fs::path(dir_) / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  std::string dir_;
};

std::string TwoContextConfig() {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://dev.example:6443/
    certificate-authority-data: )") +
         Base64(kCaPem) + R"(
- name: prod-cluster
  cluster:
    server: https://prod.example
    certificate-authority: certs/ca.crt
    insecure-skip-tls-verify: false
contexts:
- name: dev
  context:
    cluster: dev-cluster
    user: dev-user
    namespace: agents
- name: prod
  context:
    cluster: prod-cluster
    user: prod-user
users:
- name: dev-user
  user:
    token: dev-token
- name: prod-user
  user:
    client-certificate-data: )" +
         Base64(kCertPem) + R"(
    client-key: keys/client.key
)";
}

TEST_F(ConfigTest, CurrentContextGivesServerTokenCaDataAndNamespace) {
  auto config = ParseKubeconfig(TwoContextConfig(), "/home/me/.kube/config", dir_);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://dev.example:6443");
  EXPECT_EQ(config->token, "dev-token");
  EXPECT_EQ(config->ca_pem, kCaPem);
  EXPECT_TRUE(config->ca_file.empty());
  EXPECT_EQ(config->ns, "agents");
  EXPECT_EQ(config->source, "kubeconfig /home/me/.kube/config (context dev)");
}

TEST_F(ConfigTest, AnotherContextGivesClientCertificateAndFilesRelativeToTheKubeconfig) {
  fs::create_directories(fs::path(dir_) / "certs");
  fs::create_directories(fs::path(dir_) / "keys");
  Write("certs/ca.crt", kCaPem);
  Write("keys/client.key", kKeyPem);
  std::string path = Write("config", TwoContextConfig());
  auto config = LoadKubeconfig({path}, {.context = "prod"});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://prod.example");
  EXPECT_EQ(config->ca_file, dir_ + "/certs/ca.crt");
  EXPECT_EQ(config->client_cert_pem, kCertPem);
  EXPECT_EQ(config->client_key_file, dir_ + "/keys/client.key");
  EXPECT_TRUE(config->token.empty());
  EXPECT_EQ(config->ns, "default");

  auto options = TransportOptionsFor(*config);
  EXPECT_EQ(options.ca_file, config->ca_file);
  EXPECT_EQ(options.client_cert_pem, kCertPem);
  EXPECT_EQ(options.client_key_file, config->client_key_file);
  EXPECT_FALSE(options.insecure_skip_tls_verify);
}

TEST_F(ConfigTest, MissingReferencedFileNamesTheFieldAndTheFile) {
  auto config = ParseKubeconfig(TwoContextConfig(), "kc.yaml", dir_, {.context = "prod"});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(config.error().message.find("kc.yaml"), std::string::npos);
  EXPECT_NE(config.error().message.find("clusters[name=\"prod-cluster\"].cluster."
                                        "certificate-authority"),
            std::string::npos)
      << config.error().message;
}

TEST_F(ConfigTest, InvalidBase64NamesTheField) {
  std::string text = R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users: [{name: u, user: {client-certificate-data: "not base64!", client-key-data: "eA=="}}]
)";
  auto config = ParseKubeconfig(text, "kc.yaml", dir_);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_NE(config.error().message.find("users[name=\"u\"].user.client-certificate-data: invalid "
                                        "base64"),
            std::string::npos)
      << config.error().message;
}

TEST_F(ConfigTest, CertificateWithoutKeyIsRefused) {
  std::string text = std::string(R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users: [{name: u, user: {client-certificate-data: ")") +
                     Base64(kCertPem) + "\"}}]\n";
  auto config = ParseKubeconfig(text, "kc.yaml", dir_);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("client-key"), std::string::npos);
}

TEST_F(ConfigTest, UnknownContextListsTheKnownOnes) {
  auto config = ParseKubeconfig(TwoContextConfig(), "kc.yaml", dir_, {.context = "staging"});
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("context \"staging\" not found (contexts: dev, prod)"),
            std::string::npos)
      << config.error().message;
}

TEST_F(ConfigTest, ExecCredentialPluginsAreRefusedClearly) {
  std::string text = R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k"}}]
users: [{name: u, user: {exec: {command: aws}}}]
)";
  auto config = ParseKubeconfig(text, "kc.yaml", dir_);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("users[name=\"u\"].user.exec: credential plugins are not "
                                        "supported"),
            std::string::npos)
      << config.error().message;
}

TEST_F(ConfigTest, ServerMustBeAnHttpUrl) {
  std::string text = R"(current-context: c
contexts: [{name: c, context: {cluster: k}}]
clusters: [{name: k, cluster: {server: "k8s.example:6443"}}]
)";
  auto config = ParseKubeconfig(text, "kc.yaml", dir_);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("clusters[name=\"k\"].cluster.server"), std::string::npos);
}

TEST_F(ConfigTest, YamlErrorsNameTheFileAndLine) {
  auto config = ParseKubeconfig("clusters: [\n  {name: a\n", "kc.yaml", dir_);
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.error().message.find("kubeconfig: kc.yaml:"), std::string::npos)
      << config.error().message;
}

TEST_F(ConfigTest, SeveralFilesMergeWithTheFirstDefinitionWinning) {
  std::string first = Write("a.yaml", R"(current-context: mine
contexts: [{name: mine, context: {cluster: shared, user: me}}]
users: [{name: me, user: {tokenFile: token.txt}}]
)");
  Write("token.txt", "file-token\n");
  std::string second = Write("b.yaml", R"(current-context: theirs
clusters: [{name: shared, cluster: {server: "https://shared.example"}}]
users: [{name: me, user: {token: loses}}]
)");
  auto config = LoadKubeconfig({first, dir_ + "/missing.yaml", second});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://shared.example");
  EXPECT_EQ(config->token_file, dir_ + "/token.txt");
  EXPECT_TRUE(config->token.empty());

  auto none = LoadKubeconfig({dir_ + "/nope"});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, core::ErrorCode::kNotFound);
}

TEST_F(ConfigTest, InClusterReadsTheServiceAccountFiles) {
  InClusterSource source;
  source.host = "10.0.0.1";
  source.port = "443";
  source.token_file = Write("token", "sa-token");
  source.ca_file = Write("ca.crt", kCaPem);
  source.namespace_file = Write("namespace", "agentd-system\n");
  auto config = LoadInClusterConfig(source);
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server, "https://10.0.0.1:443");
  EXPECT_EQ(config->token_file, source.token_file);
  EXPECT_EQ(config->ca_file, source.ca_file);
  EXPECT_EQ(config->ns, "agentd-system");
  EXPECT_EQ(config->source, "in-cluster");

  source.host = "fd00::1";
  EXPECT_EQ(LoadInClusterConfig(source)->server, "https://[fd00::1]:443");
}

TEST_F(ConfigTest, InClusterWithoutTheTokenNamesTheFile) {
  InClusterSource source;
  source.host = "10.0.0.1";
  source.port = "443";
  source.token_file = dir_ + "/absent-token";
  source.ca_file = Write("ca.crt", kCaPem);
  auto config = LoadInClusterConfig(source);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, core::ErrorCode::kNotFound);
  EXPECT_NE(config.error().message.find("absent-token"), std::string::npos);

  source.port = "";
  EXPECT_EQ(LoadInClusterConfig(source).error().code, core::ErrorCode::kFailedPrecondition);
}

TEST_F(ConfigTest, FileTokenIsReReadWhenTheFileIsReplaced) {
  std::string path = Write("token", "first\n");
  auto source = TokenSource::FromFile(path);
  EXPECT_EQ(source->Token().value(), "first");
  // kubelet swaps projected tokens atomically: a new file renamed over the old one.
  std::string next = Write("token.next", "second");
  fs::rename(next, path);
  EXPECT_EQ(source->Token().value(), "second");
  EXPECT_TRUE(source->Invalidate());
  EXPECT_EQ(source->Token().value(), "second");
  // While the file is briefly missing the last token keeps working.
  fs::remove(path);
  EXPECT_EQ(source->Token().value(), "second");

  auto fixed = TokenSource::Fixed("abc");
  EXPECT_EQ(fixed->Token().value(), "abc");
  EXPECT_FALSE(fixed->Invalidate());
  EXPECT_EQ(TokenSource::ForConfig(KubeConfig{}), nullptr);
}

TEST(Base64Test, DecodesStrictlyWithOptionalPadding) {
  EXPECT_EQ(DecodeBase64("aGVsbG8=").value(), "hello");
  EXPECT_EQ(DecodeBase64("aGVsbG8").value(), "hello");
  EXPECT_EQ(DecodeBase64("aGVs\nbG8=").value(), "hello");
  EXPECT_FALSE(DecodeBase64("aGVsbG8=x").has_value());
  EXPECT_FALSE(DecodeBase64("a").has_value());
  EXPECT_FALSE(DecodeBase64("a$==").has_value());
}

}  // namespace
}  // namespace agentd::kube
