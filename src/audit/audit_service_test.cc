#include "audit/audit_service.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/check.h"
#include "core/json.h"
#include "governance/audit_chain.h"
#include "governance/checkpoint.h"
#include "store/sqlite/sqlite_run_store.h"
#include "testing/fake_clock.h"

namespace agentd::audit {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "agentd-audit-XXXXXX").string();
    AGENTD_CHECK(mkdtemp(tmpl.data()) != nullptr) << "mkdtemp " << tmpl;
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

governance::AuditEntryDraft Draft(testing::FakeClock& clock, std::string action) {
  return {.time = clock.Now(), .actor = "alice", .action = std::move(action), .subject = "run-1"};
}

class AuditServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteRunStore::Open((dir_.path() / "agentd.db").string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(*store);
    auto signer = governance::CheckpointSigner::Generate();
    ASSERT_TRUE(signer.ok());
    service_ = std::make_unique<AuditService>(*store_, std::move(*signer), clock_,
                                              AuditService::Options{});
  }

  void Append(int n) {
    std::vector<governance::AuditEntryDraft> drafts;
    for (int i = 0; i < n; ++i) drafts.push_back(Draft(clock_, "run.submitted"));
    auto wrote = store_->AppendAudit(std::move(drafts));
    ASSERT_TRUE(wrote.ok()) << wrote.error().message;
  }

  // Runs SQL on the database file behind the store's back, as an intruder would.
  void Tamper(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_.path() / "agentd.db").c_str(), &db), SQLITE_OK);
    char* error = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
    std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    sqlite3_close(db);
    ASSERT_EQ(rc, SQLITE_OK) << message;
  }

  // Drops the store's append-only guard triggers, whatever they are called.
  void DropAuditTriggers() {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_.path() / "agentd.db").c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    std::vector<std::string> triggers;
    ASSERT_EQ(
        sqlite3_prepare_v2(
            db, "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_log'", -1,
            &stmt, nullptr),
        SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      triggers.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    for (const std::string& t : triggers) Tamper("DROP TRIGGER \"" + t + "\"");
  }

  TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<store::SqliteRunStore> store_;
  std::unique_ptr<AuditService> service_;
};

TEST_F(AuditServiceTest, CheckpointIsSignedOnlyWhenTheChainGrew) {
  Append(3);
  auto first = service_->CheckpointNow();
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->count, 3);

  auto again = service_->CheckpointNow();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->signature_b64, first->signature_b64);
  Append(2);
  auto grown = service_->CheckpointNow();
  ASSERT_TRUE(grown.ok());

  EXPECT_EQ(grown->count, 5);
  EXPECT_EQ(store_->ListCheckpoints()->size(), 2u);
  EXPECT_TRUE(governance::VerifyCheckpoint(*grown, service_->PublicKeyPem()).ok());
}

TEST_F(AuditServiceTest, VerifyReportsAnIntactChainAndItsLatestCheckpoint) {
  Append(4);
  ASSERT_TRUE(service_->CheckpointNow().ok());
  Append(1);

  auto result = service_->Verify();

  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE((*result)["ok"].get<bool>()) << result->dump();
  EXPECT_EQ((*result)["count"], 5);
  EXPECT_EQ((*result)["checkpoint"]["count"], 4);
}

TEST_F(AuditServiceTest, VerifyFindsARowEditedBehindTheStoresBack) {
  Append(5);
  // Whatever the store's guard triggers are called, drop them all before editing a row.
  DropAuditTriggers();
  Tamper("UPDATE audit_log SET actor = 'mallory' WHERE idx = 3");

  auto result = service_->Verify();

  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_FALSE((*result)["ok"].get<bool>());
  EXPECT_EQ((*result)["firstBadIndex"], 3) << result->dump();
}

TEST_F(AuditServiceTest, VerifyFindsATailCutOffAfterACheckpoint) {
  Append(6);
  ASSERT_TRUE(service_->CheckpointNow().ok());
  DropAuditTriggers();
  Tamper("DELETE FROM audit_log WHERE idx >= 5");

  auto result = service_->Verify();

  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_FALSE((*result)["ok"].get<bool>());
  EXPECT_EQ((*result)["firstBadIndex"], 5) << result->dump();
}

TEST_F(AuditServiceTest, ExportHoldsTheKeyEveryEntryAndEveryCheckpointAndVerifiesOffline) {
  Append(3);
  ASSERT_TRUE(service_->CheckpointNow().ok());
  std::vector<core::Json> lines;

  ASSERT_TRUE(service_
                  ->Export([&](std::string_view line) {
                    lines.push_back(core::ParseJson(line).value());
                    return true;
                  })
                  .ok());

  ASSERT_EQ(lines.size(), 5u);  // header, 3 entries, 1 checkpoint
  EXPECT_EQ(lines[0]["kind"], "agentd-audit-export");
  std::vector<governance::AuditEntry> entries;
  for (size_t i = 1; i <= 3; ++i) {
    ASSERT_EQ(lines[i]["kind"], "entry");
    entries.push_back(governance::EntryFromJson(lines[i]["entry"]).value());
  }
  ASSERT_EQ(lines[4]["kind"], "checkpoint");
  auto checkpoint = governance::CheckpointFromJson(lines[4]["checkpoint"]).value();
  auto verified = governance::VerifyChainAgainstCheckpoint(
      entries, checkpoint, lines[0]["publicKey"].get<std::string>());
  EXPECT_TRUE(verified.ok) << verified.problem;
}

TEST(SigningKeyTest, IsCreatedPrivateAndLoadedAgain) {
  TempDir dir;
  const auto path = dir.path() / "audit-signing.key";

  auto created = LoadOrCreateSigningKey(path);
  auto loaded = LoadOrCreateSigningKey(path);

  ASSERT_TRUE(created.ok()) << created.error().message;
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(created->KeyId(), loaded->KeyId());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(SigningKeyTest, AFileThatIsNotAKeyIsAnErrorNamingThePath) {
  TempDir dir;
  const auto path = dir.path() / "audit-signing.key";
  std::ofstream(path) << "not a key\n";

  auto loaded = LoadOrCreateSigningKey(path);

  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find(path.string()), std::string::npos);
  EXPECT_EQ(loaded.error().message.find("not a key"), std::string::npos);
}

}  // namespace
}  // namespace agentd::audit
