#include "audit/audit_service.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

namespace agentd::audit {
namespace {

constexpr int kReadPage = 10'000;

core::Status WriteSecretFile(const std::filesystem::path& path, const std::string& text) {
  // O_EXCL: never overwrite a key another process created meanwhile.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return core::Unavailable("cannot create the audit signing key " + path.string() + ": " +
                             std::strerror(errno));
  }
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return core::Unavailable("cannot write the audit signing key " + path.string());
    }
    written += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return core::Unavailable("cannot sync the audit signing key " + path.string());
  return core::Ok();
}

}  // namespace

core::Result<governance::CheckpointSigner> LoadOrCreateSigningKey(
    const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::ostringstream text;
    text << in.rdbuf();
    auto signer = governance::CheckpointSigner::FromPem(text.str());
    if (!signer.ok()) return signer.error().Wrap("audit signing key " + path.string());
    return signer;
  }
  AGENTD_ASSIGN_OR_RETURN(governance::CheckpointSigner signer,
                          governance::CheckpointSigner::Generate());
  AGENTD_RETURN_IF_ERROR(WriteSecretFile(path, signer.PrivateKeyPem()));
  core::LogInfo("created the audit signing key",
                {{"path", path.string()}, {"keyId", signer.KeyId()}});
  return signer;
}

AuditService::AuditService(store::RunStore& store, governance::CheckpointSigner signer,
                           const core::Clock& clock, Options options)
    : store_(store), signer_(std::move(signer)), clock_(clock), options_(options) {}

AuditService::~AuditService() { Stop(); }

void AuditService::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Loop(); });
}

void AuditService::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (auto last = CheckpointNow(); !last.ok()) {
    core::LogWarn("cannot sign the last audit checkpoint", {{"error", last.error().message}});
  }
}

void AuditService::Loop() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, options_.checkpoint_interval, [this] { return stopping_; })) {
    lock.unlock();
    if (auto made = CheckpointNow(); !made.ok()) {
      core::LogWarn("cannot sign an audit checkpoint", {{"error", made.error().message}});
    }
    lock.lock();
  }
}

core::Result<governance::Checkpoint> AuditService::CheckpointNow() {
  std::lock_guard lock(checkpoint_mu_);
  AGENTD_ASSIGN_OR_RETURN(store::AuditHead head, store_.GetAuditHead());
  AGENTD_ASSIGN_OR_RETURN(auto existing, store_.ListCheckpoints());
  if (!existing.empty() && existing.back().count == head.count &&
      existing.back().key_id == signer_.KeyId()) {
    return existing.back();
  }
  governance::Checkpoint checkpoint = signer_.Sign(head.count, head.head_hash, clock_.Now());
  AGENTD_RETURN_IF_ERROR(store_.SaveCheckpoint(checkpoint));
  core::LogInfo("signed an audit checkpoint",
                {{"count", checkpoint.count}, {"keyId", checkpoint.key_id}});
  return checkpoint;
}

core::Result<std::vector<governance::AuditEntry>> AuditService::ReadAll() {
  std::vector<governance::AuditEntry> all;
  int64_t after = 0;
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(auto page, store_.ReadAudit(after, kReadPage));
    if (page.empty()) break;
    after = page.back().index;
    const bool last = static_cast<int>(page.size()) < kReadPage;
    all.insert(all.end(), std::make_move_iterator(page.begin()),
               std::make_move_iterator(page.end()));
    if (last) break;
  }
  return all;
}

core::Result<core::Json> AuditService::Verify() {
  AGENTD_ASSIGN_OR_RETURN(auto entries, ReadAll());
  AGENTD_ASSIGN_OR_RETURN(auto checkpoints, store_.ListCheckpoints());
  const governance::Checkpoint* latest = nullptr;
  for (const auto& c : checkpoints) {
    if (c.key_id == signer_.KeyId()) latest = &c;  // ascending: the last of ours
  }
  governance::VerifyResult result =
      latest != nullptr
          ? governance::VerifyChainAgainstCheckpoint(entries, *latest, signer_.PublicKeyPem())
          : governance::VerifyChain(entries);
  core::Json out = {
      {"ok", result.ok},
      {"count", static_cast<int64_t>(entries.size())},
      {"entriesChecked", result.entries_checked},
      {"headHash", entries.empty() ? std::string(governance::kGenesisHash) : entries.back().hash},
      {"firstBadIndex",
       result.first_bad_index ? core::Json(*result.first_bad_index) : core::Json(nullptr)},
      {"problem", result.problem},
      {"checkpoint",
       latest != nullptr ? governance::CheckpointToJson(*latest) : core::Json(nullptr)},
      {"keyId", signer_.KeyId()},
  };
  return out;
}

core::Status AuditService::Export(const std::function<bool(std::string_view line)>& write) {
  const core::Json header = {{"kind", "agentd-audit-export"},
                             {"version", 1},
                             {"keyId", signer_.KeyId()},
                             {"publicKey", signer_.PublicKeyPem()}};
  if (!write(core::DumpJson(header))) return core::Ok();
  int64_t after = 0;
  while (true) {
    AGENTD_ASSIGN_OR_RETURN(auto page, store_.ReadAudit(after, kReadPage));
    for (const auto& entry : page) {
      if (!write(core::DumpJson({{"kind", "entry"}, {"entry", governance::EntryToJson(entry)}}))) {
        return core::Ok();
      }
    }
    if (static_cast<int>(page.size()) < kReadPage) break;
    after = page.back().index;
  }
  AGENTD_ASSIGN_OR_RETURN(auto checkpoints, store_.ListCheckpoints());
  for (const auto& c : checkpoints) {
    if (!write(core::DumpJson(
            {{"kind", "checkpoint"}, {"checkpoint", governance::CheckpointToJson(c)}}))) {
      return core::Ok();
    }
  }
  return core::Ok();
}

}  // namespace agentd::audit
