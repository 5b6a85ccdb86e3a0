#include "governance/checkpoint.h"

#include <vector>

#include <gtest/gtest.h>

#include "core/time.h"

namespace agentd::governance {
namespace {

using core::Json;

core::TimePoint At(int64_t ms) { return core::FromUnixMillis(1'790'000'000'000 + ms); }

std::vector<AuditEntry> BuildChain(int count) {
  std::vector<AuditEntry> chain;
  for (int n = 1; n <= count; ++n) {
    auto entry = NextEntry(chain.empty() ? nullptr : &chain.back(),
                           AuditEntryDraft{.time = At(n),
                                           .actor = "system",
                                           .action = "budget.threshold",
                                           .subject = "team-a",
                                           .details = Json{{"n", n}}});
    EXPECT_TRUE(entry.ok()) << entry.error().message;
    chain.push_back(*std::move(entry));
  }
  return chain;
}

CheckpointSigner NewSigner() {
  auto signer = CheckpointSigner::Generate();
  EXPECT_TRUE(signer.ok()) << signer.error().message;
  return *std::move(signer);
}

TEST(CheckpointTest, ASignedCheckpointVerifiesWithItsPublicKey) {
  CheckpointSigner signer = NewSigner();

  Checkpoint checkpoint = signer.Sign(7, std::string(64, 'a'), At(5));

  EXPECT_EQ(checkpoint.key_id, signer.KeyId());
  EXPECT_EQ(checkpoint.key_id.size(), 16u);
  core::Status status = VerifyCheckpoint(checkpoint, signer.PublicKeyPem());
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST(CheckpointTest, ACheckpointSignedWithAnotherKeyFails) {
  CheckpointSigner signer = NewSigner();
  CheckpointSigner other = NewSigner();
  Checkpoint checkpoint = signer.Sign(7, std::string(64, 'a'), At(5));

  core::Status status = VerifyCheckpoint(checkpoint, other.PublicKeyPem());

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("signed by key " + signer.KeyId()), std::string::npos)
      << status.error().message;
}

TEST(CheckpointTest, ACheckpointRelabelledWithAnotherKeysIdFails) {
  CheckpointSigner signer = NewSigner();
  CheckpointSigner other = NewSigner();
  Checkpoint checkpoint = signer.Sign(7, std::string(64, 'a'), At(5));
  checkpoint.key_id = other.KeyId();

  core::Status status = VerifyCheckpoint(checkpoint, other.PublicKeyPem());

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("does not verify"), std::string::npos)
      << status.error().message;
}

TEST(CheckpointTest, ATamperedSignatureFails) {
  CheckpointSigner signer = NewSigner();
  Checkpoint checkpoint = signer.Sign(7, std::string(64, 'a'), At(5));
  checkpoint.signature_b64[10] = checkpoint.signature_b64[10] == 'A' ? 'B' : 'A';

  core::Status status = VerifyCheckpoint(checkpoint, signer.PublicKeyPem());

  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("does not verify"), std::string::npos)
      << status.error().message;
}

TEST(CheckpointTest, TamperedSignedFieldsFail) {
  CheckpointSigner signer = NewSigner();
  const Checkpoint original = signer.Sign(7, std::string(64, 'a'), At(5));

  Checkpoint count = original;
  count.count = 8;
  Checkpoint head = original;
  head.head_hash = std::string(64, 'b');
  Checkpoint time = original;
  time.time += std::chrono::milliseconds(1);

  for (const Checkpoint& tampered : {count, head, time}) {
    EXPECT_FALSE(VerifyCheckpoint(tampered, signer.PublicKeyPem()).ok());
  }
}

TEST(CheckpointTest, MalformedSignaturesAndKeysAreRejectedWithReasons) {
  CheckpointSigner signer = NewSigner();
  Checkpoint checkpoint = signer.Sign(1, std::string(64, 'a'), At(5));

  Checkpoint short_signature = checkpoint;
  short_signature.signature_b64 = "AAAA";
  auto status = VerifyCheckpoint(short_signature, signer.PublicKeyPem());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("64-byte"), std::string::npos);

  Checkpoint not_base64 = checkpoint;
  not_base64.signature_b64[0] = '*';
  EXPECT_FALSE(VerifyCheckpoint(not_base64, signer.PublicKeyPem()).ok());

  auto bad_key = VerifyCheckpoint(checkpoint, "not a key");
  ASSERT_FALSE(bad_key.ok());
  EXPECT_NE(bad_key.error().message.find("not a PEM public key"), std::string::npos);
}

TEST(CheckpointTest, SignerRoundTripsThroughPrivateKeyPem) {
  CheckpointSigner signer = NewSigner();

  auto reloaded = CheckpointSigner::FromPem(signer.PrivateKeyPem());

  ASSERT_TRUE(reloaded.ok()) << reloaded.error().message;
  EXPECT_EQ(reloaded->KeyId(), signer.KeyId());
  EXPECT_EQ(reloaded->PublicKeyPem(), signer.PublicKeyPem());
  Checkpoint checkpoint = reloaded->Sign(3, std::string(64, 'c'), At(1));
  EXPECT_TRUE(VerifyCheckpoint(checkpoint, signer.PublicKeyPem()).ok());
}

TEST(CheckpointTest, FromPemRejectsGarbageAndPublicKeys) {
  CheckpointSigner signer = NewSigner();

  EXPECT_FALSE(CheckpointSigner::FromPem("garbage").ok());
  EXPECT_FALSE(CheckpointSigner::FromPem(signer.PublicKeyPem()).ok());
}

TEST(CheckpointTest, JsonRoundTripKeepsTheSignatureValid) {
  CheckpointSigner signer = NewSigner();
  Checkpoint checkpoint =
      signer.Sign(12, std::string(64, 'd'), At(5) + std::chrono::microseconds(700));

  auto decoded = CheckpointFromJson(Json::parse(CheckpointToJson(checkpoint).dump()));

  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->count, 12);
  EXPECT_EQ(decoded->time, checkpoint.time);
  EXPECT_EQ(decoded->signature_b64, checkpoint.signature_b64);
  EXPECT_TRUE(VerifyCheckpoint(*decoded, signer.PublicKeyPem()).ok());
}

TEST(CheckpointTest, CheckpointFromJsonNamesTheBadField) {
  auto missing = CheckpointFromJson(Json{{"count", 1}});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("head_hash"), std::string::npos);

  auto negative = CheckpointFromJson(Json{{"count", -1}});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.error().message.find("count"), std::string::npos);
}

TEST(ChainCheckpointTest, AnIntactChainVerifiesAgainstItsCheckpointAndMayGrowAfterIt) {
  CheckpointSigner signer = NewSigner();
  std::vector<AuditEntry> chain = BuildChain(100);
  Checkpoint checkpoint = signer.Sign(80, chain[79].hash, At(80));

  VerifyResult result = VerifyChainAgainstCheckpoint(chain, checkpoint, signer.PublicKeyPem());

  EXPECT_TRUE(result.ok) << result.problem;
  EXPECT_EQ(result.entries_checked, 100);
}

TEST(ChainCheckpointTest, TruncatingTheTailPassesVerifyChainButFailsAgainstTheCheckpoint) {
  CheckpointSigner signer = NewSigner();
  std::vector<AuditEntry> chain = BuildChain(100);
  Checkpoint checkpoint = signer.Sign(100, chain.back().hash, At(100));
  chain.resize(95);

  ASSERT_TRUE(VerifyChain(chain).ok);
  VerifyResult result = VerifyChainAgainstCheckpoint(chain, checkpoint, signer.PublicKeyPem());

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 96);
  EXPECT_NE(result.problem.find("cut off"), std::string::npos) << result.problem;
  EXPECT_NE(result.problem.find("entries 96..100 are missing"), std::string::npos)
      << result.problem;
}

TEST(ChainCheckpointTest, ARewrittenChainOfTheSameLengthFailsAtTheCheckpointHead) {
  CheckpointSigner signer = NewSigner();
  std::vector<AuditEntry> chain = BuildChain(50);
  Checkpoint checkpoint = signer.Sign(50, chain.back().hash, At(50));
  // Rewrite from entry 30 on, recomputing every hash: the chain is self-consistent again.
  chain[29].actor = "forger";
  for (size_t i = 29; i < chain.size(); ++i) {
    if (i > 29) chain[i].prev_hash = chain[i - 1].hash;
    chain[i].hash = EntryHash(chain[i]);
  }

  ASSERT_TRUE(VerifyChain(chain).ok);
  VerifyResult result = VerifyChainAgainstCheckpoint(chain, checkpoint, signer.PublicKeyPem());

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 50);
  EXPECT_NE(result.problem.find("rewritten"), std::string::npos) << result.problem;
}

TEST(ChainCheckpointTest, ChainProblemsBeforeTheCheckpointAreStillReported) {
  CheckpointSigner signer = NewSigner();
  std::vector<AuditEntry> chain = BuildChain(40);
  Checkpoint checkpoint = signer.Sign(40, chain.back().hash, At(40));
  std::swap(chain[9], chain[10]);

  VerifyResult result = VerifyChainAgainstCheckpoint(chain, checkpoint, signer.PublicKeyPem());

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 10);
  EXPECT_NE(result.problem.find("reordered"), std::string::npos) << result.problem;
}

TEST(ChainCheckpointTest, AnInvalidCheckpointFailsWithoutBlamingAnEntry) {
  CheckpointSigner signer = NewSigner();
  CheckpointSigner other = NewSigner();
  std::vector<AuditEntry> chain = BuildChain(10);
  Checkpoint checkpoint = signer.Sign(10, chain.back().hash, At(10));

  VerifyResult result = VerifyChainAgainstCheckpoint(chain, checkpoint, other.PublicKeyPem());

  EXPECT_FALSE(result.ok);
  EXPECT_FALSE(result.first_bad_index.has_value());
  EXPECT_EQ(result.problem.rfind("checkpoint", 0), 0u) << result.problem;
}

TEST(ChainCheckpointTest, ACheckpointOfAnEmptyChainUsesTheGenesisHash) {
  CheckpointSigner signer = NewSigner();
  Checkpoint checkpoint = signer.Sign(0, kGenesisHash, At(0));

  EXPECT_TRUE(VerifyChainAgainstCheckpoint({}, checkpoint, signer.PublicKeyPem()).ok);
  EXPECT_TRUE(VerifyChainAgainstCheckpoint(BuildChain(3), checkpoint, signer.PublicKeyPem()).ok);
}

}  // namespace
}  // namespace agentd::governance
