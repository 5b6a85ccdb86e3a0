// AuditService: the audit log's keeper above the store. It holds the Ed25519 key that signs
// checkpoints (governance/checkpoint.h), signs one periodically when the chain has grown (and
// on Stop), verifies the stored chain against its latest checkpoint, and exports the log as JSON
// lines for safekeeping elsewhere. Entries themselves are written by whoever causes them, in the
// same store transaction as the change they record (store/run_store.h).
//
// Thread-safe. Verify and Export read the whole chain into memory (fine for millions of
// entries of a single machine; paging verification is future work).
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/json.h"
#include "core/result.h"
#include "governance/checkpoint.h"
#include "store/run_store.h"

namespace agentd::audit {

// Reads the PKCS#8 PEM private key at `path`, or creates one (mode 0600, parent directory must
// exist) when the file does not exist. Errors name the path, never key material.
core::Result<governance::CheckpointSigner> LoadOrCreateSigningKey(
    const std::filesystem::path& path);

class AuditService {
 public:
  struct Options {
    // How often a checkpoint is signed when the chain has grown since the last one.
    std::chrono::seconds checkpoint_interval{600};
  };

  AuditService(store::RunStore& store, governance::CheckpointSigner signer,
               const core::Clock& clock, Options options);
  ~AuditService();  // Stop()
  AuditService(const AuditService&) = delete;
  AuditService& operator=(const AuditService&) = delete;

  // Starts the periodic checkpoint thread.
  void Start();
  // Stops it and signs a last checkpoint if the chain grew. Idempotent.
  void Stop();

  // Signs and stores a checkpoint of the current head, unless the latest one already covers it
  // (then returns that one).
  core::Result<governance::Checkpoint> CheckpointNow();

  std::string PublicKeyPem() const { return signer_.PublicKeyPem(); }
  const std::string& KeyId() const { return signer_.KeyId(); }

  // The whole chain verified, and against the latest checkpoint when there is one:
  // {"ok", "count", "entriesChecked", "headHash", "firstBadIndex", "problem", "checkpoint"}.
  core::Result<core::Json> Verify();

  // Writes the export, line by line (each without its newline): a header with the public key,
  // every entry, every checkpoint. Stops early when `write` returns false.
  core::Status Export(const std::function<bool(std::string_view line)>& write);

 private:
  core::Result<std::vector<governance::AuditEntry>> ReadAll();
  void Loop();

  store::RunStore& store_;
  const governance::CheckpointSigner signer_;
  const core::Clock& clock_;
  const Options options_;

  std::mutex checkpoint_mu_;  // one checkpoint at a time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace agentd::audit
