// Signed checkpoints of the audit chain: (entry count, head hash, time) signed with Ed25519.
//
// A hash chain shows edits, removals and reorderings but not a cut-off tail: the shorter chain
// is itself a valid chain. A checkpoint kept elsewhere (exported, mailed, stored by another
// party) records how long the chain was and what its head was, so a later verification can tell
// that entries after it are gone or that the chain was rewritten from some point on.
//
// The signed message is "agentd-audit-checkpoint-v1\n" + CanonicalJson of
// {count, head_hash, key_id, time}; times are whole milliseconds (RFC 3339 in JSON).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"
#include "governance/audit_chain.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace agentd::governance {

struct Checkpoint {
  int64_t count = 0;          // entries 1..count are covered
  std::string head_hash;      // hash of entry `count` (kGenesisHash when count is 0)
  core::TimePoint time;       // when it was signed, whole milliseconds
  std::string key_id;         // CheckpointSigner::KeyId() of the signing key
  std::string signature_b64;  // standard base64 (with padding) of the 64-byte Ed25519 signature
};

// {"count", "head_hash", "time", "key_id", "signature"}.
core::Json CheckpointToJson(const Checkpoint& checkpoint);
// Validates shapes (kInvalidArgument naming the field); does not check the signature.
core::Result<Checkpoint> CheckpointFromJson(const core::Json& json);

// Holds an Ed25519 private key and signs checkpoints with it. Immutable after creation, so one
// signer may be used from several threads. Movable, not copyable.
class CheckpointSigner {
 public:
  // From a PKCS#8 PEM private key ("-----BEGIN PRIVATE KEY-----"). kInvalidArgument when the
  // text is not a PEM private key or the key is not Ed25519. Errors never contain key material.
  static core::Result<CheckpointSigner> FromPem(std::string_view private_key_pem);
  // A fresh random key (kInternal only if libcrypto cannot generate one).
  static core::Result<CheckpointSigner> Generate();

  CheckpointSigner(CheckpointSigner&&) noexcept = default;
  CheckpointSigner& operator=(CheckpointSigner&&) noexcept = default;
  ~CheckpointSigner();

  // The private key as PKCS#8 PEM, to persist a generated key. Handle as a secret.
  std::string PrivateKeyPem() const;
  // The public key as SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----").
  std::string PublicKeyPem() const;
  // First 16 hex characters of SHA-256 over the 32-byte raw public key.
  const std::string& KeyId() const { return key_id_; }

  // Signs (count, head_hash, time truncated to milliseconds). Does not check that head_hash
  // belongs to any chain: the caller passes the head it holds.
  Checkpoint Sign(int64_t count, std::string_view head_hash, core::TimePoint time) const;

 private:
  struct KeyDeleter {
    void operator()(EVP_PKEY* key) const;
  };
  CheckpointSigner(std::unique_ptr<EVP_PKEY, KeyDeleter> key, std::string key_id);

  std::unique_ptr<EVP_PKEY, KeyDeleter> key_;
  std::string key_id_;
};

// Checks the checkpoint's signature with an Ed25519 public key (SubjectPublicKeyInfo PEM).
// kInvalidArgument, saying which, when the PEM is not an Ed25519 public key, the checkpoint's
// key_id is not this key's id, the signature is not base64 of 64 bytes, or it does not verify.
core::Status VerifyCheckpoint(const Checkpoint& checkpoint, std::string_view public_key_pem);

// Everything VerifyChain finds, plus: an invalid checkpoint (ok = false, no first_bad_index,
// problem starts with "checkpoint"), a chain cut off after the checkpoint (fewer than `count`
// entries; first_bad_index = the first missing index) and a chain rewritten up to the
// checkpoint (entry `count` hash differs from head_hash; first_bad_index = count, and
// entries_checked 0 since no entry up to there can be trusted). Entries after
// `count` are verified as a chain but are not covered by the signature.
VerifyResult VerifyChainAgainstCheckpoint(const std::vector<AuditEntry>& entries,
                                          const Checkpoint& checkpoint,
                                          std::string_view public_key_pem);

}  // namespace agentd::governance
