#include "governance/checkpoint.h"

#include <chrono>
#include <utility>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "core/hash.h"
#include "core/time.h"

namespace agentd::governance {

namespace {

using core::Json;

constexpr std::string_view kSignaturePrefix = "agentd-audit-checkpoint-v1\n";
constexpr size_t kEd25519SignatureSize = 64;
constexpr size_t kEd25519PublicKeySize = 32;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

BioPtr MemoryBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string Base64Encode(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  int written =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(written));
  return out;
}

// Strict standard base64 with padding: anything that does not re-encode to the same text is
// rejected, so one signature has exactly one textual form.
std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  // EVP_DecodeBlock counts the zero bytes that padding stands for; drop them.
  size_t padding = 0;
  if (text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(written) - padding);
  if (Base64Encode(reinterpret_cast<const unsigned char*>(out.data()), out.size()) != text) {
    return std::nullopt;
  }
  return out;
}

std::string SignedMessage(int64_t count, std::string_view head_hash, core::TimePoint time,
                          std::string_view key_id) {
  Json fields{{"count", count},
              {"head_hash", std::string(head_hash)},
              {"key_id", std::string(key_id)},
              {"time", core::FormatRfc3339(time)}};
  return std::string(kSignaturePrefix) + CanonicalJson(fields);
}

core::Result<std::string> KeyIdOf(EVP_PKEY* key) {
  unsigned char raw[kEd25519PublicKeySize];
  size_t size = sizeof(raw);
  if (EVP_PKEY_get_raw_public_key(key, raw, &size) != 1 || size != kEd25519PublicKeySize) {
    return core::Internal("cannot read the raw Ed25519 public key");
  }
  return core::Sha256Hex(std::string_view(reinterpret_cast<const char*>(raw), size)).substr(0, 16);
}

core::Result<PkeyPtr> ParsePublicKey(std::string_view pem) {
  BioPtr bio = MemoryBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return core::InvalidArgument("checkpoint public key is not a PEM public key");
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    return core::InvalidArgument("checkpoint public key is not an Ed25519 key");
  }
  return key;
}

VerifyResult CheckpointProblem(std::string problem) {
  return VerifyResult{.ok = false,
                      .entries_checked = 0,
                      .first_bad_index = std::nullopt,
                      .problem = std::move(problem)};
}

}  // namespace

core::Json CheckpointToJson(const Checkpoint& checkpoint) {
  return Json{{"count", checkpoint.count},
              {"head_hash", checkpoint.head_hash},
              {"time", core::FormatRfc3339(checkpoint.time)},
              {"key_id", checkpoint.key_id},
              {"signature", checkpoint.signature_b64}};
}

core::Result<Checkpoint> CheckpointFromJson(const core::Json& json) {
  constexpr std::string_view kWhere = "checkpoint";
  if (!json.is_object()) return core::InvalidArgument("checkpoint is not a JSON object");
  Checkpoint checkpoint;
  const auto count_it = json.find("count");
  if (count_it == json.end() || !count_it->is_number_integer() || count_it->get<int64_t>() < 0) {
    return core::InvalidArgument("checkpoint: \"count\" must be a non-negative integer");
  }
  checkpoint.count = count_it->get<int64_t>();
  AGENTD_ASSIGN_OR_RETURN(checkpoint.head_hash, core::RequiredString(json, "head_hash", kWhere));
  AGENTD_ASSIGN_OR_RETURN(std::string time_text, core::RequiredString(json, "time", kWhere));
  auto time = core::ParseRfc3339(time_text);
  if (!time.ok()) return std::move(time).error().Wrap("checkpoint \"time\"");
  checkpoint.time = *time;
  AGENTD_ASSIGN_OR_RETURN(checkpoint.key_id, core::RequiredString(json, "key_id", kWhere));
  AGENTD_ASSIGN_OR_RETURN(checkpoint.signature_b64,
                          core::RequiredString(json, "signature", kWhere));
  return checkpoint;
}

void CheckpointSigner::KeyDeleter::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

CheckpointSigner::CheckpointSigner(std::unique_ptr<EVP_PKEY, KeyDeleter> key, std::string key_id)
    : key_(std::move(key)), key_id_(std::move(key_id)) {}

CheckpointSigner::~CheckpointSigner() = default;

core::Result<CheckpointSigner> CheckpointSigner::FromPem(std::string_view private_key_pem) {
  BioPtr bio = MemoryBio(private_key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return core::InvalidArgument("checkpoint signing key is not a PEM private key");
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_ED25519) {
    return core::InvalidArgument("checkpoint signing key is not an Ed25519 key");
  }
  AGENTD_ASSIGN_OR_RETURN(std::string key_id, KeyIdOf(key.get()));
  return CheckpointSigner(std::move(key), std::move(key_id));
}

core::Result<CheckpointSigner> CheckpointSigner::Generate() {
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return core::Internal("cannot generate an Ed25519 key");
  AGENTD_ASSIGN_OR_RETURN(std::string key_id, KeyIdOf(key.get()));
  return CheckpointSigner(std::move(key), std::move(key_id));
}

std::string CheckpointSigner::PrivateKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  AGENTD_CHECK(bio && PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                                               nullptr) == 1)
      << "writing an in-memory PEM cannot fail but for allocation";
  return BioContents(bio.get());
}

std::string CheckpointSigner::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  AGENTD_CHECK(bio && PEM_write_bio_PUBKEY(bio.get(), key_.get()) == 1)
      << "writing an in-memory PEM cannot fail but for allocation";
  return BioContents(bio.get());
}

Checkpoint CheckpointSigner::Sign(int64_t count, std::string_view head_hash,
                                  core::TimePoint time) const {
  Checkpoint checkpoint;
  checkpoint.count = count;
  checkpoint.head_hash = std::string(head_hash);
  checkpoint.time = std::chrono::floor<core::Millis>(time);
  checkpoint.key_id = key_id_;
  const std::string message = SignedMessage(count, head_hash, checkpoint.time, key_id_);

  // Ed25519 is a one-shot signature over the whole message: EVP_DigestSign with a NULL md.
  MdCtxPtr ctx(EVP_MD_CTX_new());
  unsigned char signature[kEd25519SignatureSize];
  size_t size = sizeof(signature);
  AGENTD_CHECK(ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) == 1 &&
               EVP_DigestSign(ctx.get(), signature, &size,
                              reinterpret_cast<const unsigned char*>(message.data()),
                              message.size()) == 1 &&
               size == kEd25519SignatureSize)
      << "Ed25519 signing with a valid key cannot fail but for allocation";
  checkpoint.signature_b64 = Base64Encode(signature, size);
  return checkpoint;
}

core::Status VerifyCheckpoint(const Checkpoint& checkpoint, std::string_view public_key_pem) {
  AGENTD_ASSIGN_OR_RETURN(PkeyPtr key, ParsePublicKey(public_key_pem));
  AGENTD_ASSIGN_OR_RETURN(std::string key_id, KeyIdOf(key.get()));
  if (checkpoint.key_id != key_id) {
    return core::InvalidArgument("checkpoint at count " + std::to_string(checkpoint.count) +
                                 " was signed by key " + checkpoint.key_id +
                                 ", not by the given key " + key_id);
  }
  std::optional<std::string> signature = Base64Decode(checkpoint.signature_b64);
  if (!signature || signature->size() != kEd25519SignatureSize) {
    return core::InvalidArgument("checkpoint at count " + std::to_string(checkpoint.count) +
                                 ": signature is not base64 of a 64-byte Ed25519 signature");
  }
  const std::string message =
      SignedMessage(checkpoint.count, checkpoint.head_hash, checkpoint.time, checkpoint.key_id);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return core::Internal("cannot initialise Ed25519 verification");
  }
  if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()),
                       signature->size(), reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1) {
    return core::InvalidArgument("checkpoint at count " + std::to_string(checkpoint.count) +
                                 ": signature does not verify with key " + key_id);
  }
  return core::Ok();
}

VerifyResult VerifyChainAgainstCheckpoint(const std::vector<AuditEntry>& entries,
                                          const Checkpoint& checkpoint,
                                          std::string_view public_key_pem) {
  if (core::Status status = VerifyCheckpoint(checkpoint, public_key_pem); !status.ok()) {
    return CheckpointProblem("checkpoint invalid: " + status.error().message);
  }
  VerifyResult result = VerifyChain(entries);
  if (!result.ok) return result;

  const int64_t size = static_cast<int64_t>(entries.size());
  if (size < checkpoint.count) {
    const std::string missing = size + 1 == checkpoint.count
                                    ? "entry " + std::to_string(checkpoint.count) + " is"
                                    : "entries " + std::to_string(size + 1) + ".." +
                                          std::to_string(checkpoint.count) + " are";
    return VerifyResult{.ok = false,
                        .entries_checked = size,
                        .first_bad_index = size + 1,
                        .problem = "chain cut off: the checkpoint covers " +
                                   std::to_string(checkpoint.count) +
                                   " entries but the chain has " + std::to_string(size) + "; " +
                                   missing + " missing"};
  }
  const std::string head = checkpoint.count == 0
                               ? std::string(kGenesisHash)
                               : entries[static_cast<size_t>(checkpoint.count - 1)].hash;
  if (head != checkpoint.head_hash) {
    return VerifyResult{.ok = false,
                        .entries_checked = 0,
                        .first_bad_index = checkpoint.count,
                        .problem = "chain rewritten: entry " + std::to_string(checkpoint.count) +
                                   " has a different hash than the signed checkpoint head"};
  }
  return result;
}

}  // namespace agentd::governance
