#include "store/sqlite/sqlite_run_store.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ids.h"
#include "core/time.h"
#include "governance/audit_chain.h"
#include "store/run_store_contract.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/migrations.h"
#include "testing/fake_clock.h"

namespace agentd::store {
namespace {

using runs::Phase;
using ::testing::HasSubstr;

// One temporary directory for the whole binary, removed at exit.
class TempRoot : public ::testing::Environment {
 public:
  static const std::string& Path() {
    static const std::string path = [] {
      std::string tmpl = (std::filesystem::temp_directory_path() / "agentd-store-XXXXXX").string();
      char* made = mkdtemp(tmpl.data());
      AGENTD_CHECK(made != nullptr) << "mkdtemp " << tmpl;
      return tmpl;
    }();
    return path;
  }
  void TearDown() override { std::filesystem::remove_all(Path()); }
};
[[maybe_unused]] ::testing::Environment* const kTempRoot =
    ::testing::AddGlobalTestEnvironment(new TempRoot);

std::string NewDatabasePath() {
  static std::atomic<int> counter{0};
  return TempRoot::Path() + "/store-" + std::to_string(counter++) + ".db";
}

std::unique_ptr<RunStore> OpenOrFail(const std::string& path, SqliteRunStoreOptions options = {}) {
  auto store = SqliteRunStore::Open(path, options);
  if (!store.ok()) {
    ADD_FAILURE() << "open " << path << ": " << store.error().message;
    return nullptr;
  }
  return std::move(store).value();
}

INSTANTIATE_TEST_SUITE_P(
    Sqlite, RunStoreContractTest,
    ::testing::Values(RunStoreFactory{"File", [] { return OpenOrFail(NewDatabasePath()); }},
                      RunStoreFactory{"FileNormalSync",
                                      [] {
                                        return OpenOrFail(
                                            NewDatabasePath(),
                                            {.synchronous = SqliteSynchronous::kNormal,
                                             .max_batch = 7});
                                      }},
                      RunStoreFactory{"Memory", [] { return OpenOrFail(":memory:"); }}),
    RunStoreFactoryName);

runs::Run NewRun(std::string agent = "developer") {
  core::TimePoint now = core::FromUnixMillis(1'800'000'000'000);
  runs::Run run;
  run.id = core::NewRunId(now);
  run.agent = std::move(agent);
  run.input = "hello";
  run.created_at = now;
  return run;
}

Transition To(Phase to) {
  Transition t;
  t.to = to;
  t.reason = "Test";
  return t;
}

// A raw connection for inspecting or tampering with a database behind the store's back.
std::unique_ptr<sqlite::Connection> RawConnection(const std::string& path) {
  auto db =
      sqlite::Connection::Open(path, sqlite::OpenMode::kReadWrite, std::chrono::milliseconds(5000));
  AGENTD_CHECK(db.ok()) << db.error().message;
  return std::move(db).value();
}

TEST(SqliteRunStoreTest, ReopeningADatabaseKeepsRunsEventsAndSequenceNumbers) {
  std::string path = NewDatabasePath();
  runs::Run run = NewRun();
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateRun(run).ok());
    ASSERT_TRUE(store->AppendEvents(run.id, {{.type = "log"}, {.type = "log"}}).ok());
  }

  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  auto got = store->GetRun(run.id);
  ASSERT_TRUE(got.ok()) << got.error().message;
  EXPECT_EQ(got->input, "hello");
  auto next = store->AppendEvents(run.id, {{.type = "log"}});
  ASSERT_TRUE(next.ok()) << next.error().message;
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ(next->front().seq, 4);
}

TEST(SqliteRunStoreTest, ARunnerInstanceClaimSurvivesReopening) {
  std::string path = NewDatabasePath();
  runs::Run run = NewRun();
  run.phase = Phase::kQueued;
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->CreateRun(run).ok());
    Transition claim = To(Phase::kStarting);
    claim.increment_attempts = true;
    ASSERT_TRUE(store->TransitionRun(run.id, claim).ok());
    ASSERT_TRUE(*store->ClaimRunnerInstance(run.id, 1, "pod-a"));
  }

  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(*store->ClaimRunnerInstance(run.id, 1, "pod-b"));
  EXPECT_TRUE(*store->ClaimRunnerInstance(run.id, 1, "pod-a"));
  EXPECT_EQ(RawConnection(path)->QueryText("SELECT runner_instance FROM runs").value_or("?"),
            "pod-a");
}

TEST(SqliteRunStoreTest, MigratingAnUpToDateDatabaseAgainChangesNothing) {
  std::string path = NewDatabasePath();
  auto db = RawConnection(path);
  ASSERT_TRUE(sqlite::Migrate(*db).ok());
  auto schema = [&] {
    auto stmt = db->Prepare("SELECT group_concat(sql, ';') FROM sqlite_master");
    EXPECT_TRUE(stmt.ok());
    EXPECT_TRUE(*stmt->Step());
    return stmt->Text(0);
  };
  std::string before = schema();

  core::Status again = sqlite::Migrate(*db);

  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(schema(), before);
  EXPECT_EQ(*sqlite::ReadSchemaVersion(*db), sqlite::LatestSchemaVersion());
  EXPECT_GE(sqlite::LatestSchemaVersion(), 1);
  // And the store opens on it.
  db.reset();
  EXPECT_NE(OpenOrFail(path), nullptr);
}

TEST(SqliteRunStoreTest, ADatabaseFromANewerAgentdIsRefusedAndLeftAlone) {
  std::string path = NewDatabasePath();
  ASSERT_NE(OpenOrFail(path), nullptr);
  int newer = sqlite::LatestSchemaVersion() + 1;
  ASSERT_TRUE(RawConnection(path)->Exec("PRAGMA user_version = " + std::to_string(newer)).ok());

  auto store = SqliteRunStore::Open(path);

  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_THAT(store.error().message, HasSubstr("schema version " + std::to_string(newer)));
  EXPECT_EQ(*sqlite::ReadSchemaVersion(*RawConnection(path)), newer);
}

TEST(SqliteRunStoreTest, ACorruptRowIsAnInternalErrorNamingTheRun) {
  std::string path = NewDatabasePath();
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  runs::Run run = NewRun("corrupt-agent");
  ASSERT_TRUE(store->CreateRun(run).ok());
  auto raw = RawConnection(path);
  auto update = raw->Prepare("UPDATE runs SET parameters = '{not json' WHERE id = ?1");
  ASSERT_TRUE(update.ok());
  update->BindText(1, run.id);
  ASSERT_TRUE(update->Run().ok());

  auto got = store->GetRun(run.id);
  auto listed = store->ListRuns({.agent = "corrupt-agent"}, 10, "");

  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, core::ErrorCode::kInternal);
  EXPECT_THAT(got.error().message, HasSubstr(run.id));
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, core::ErrorCode::kInternal);
}

TEST(SqliteRunStoreTest, OneFailingOperationDoesNotFailTheOthersInItsBatch) {
  auto opened = SqliteRunStore::Open(NewDatabasePath());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SqliteRunStore& store = **opened;
  runs::Run existing = NewRun();
  ASSERT_TRUE(store.CreateRun(existing).ok());

  // Hold the writer in a callback so that everything queued meanwhile forms one batch.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  store.CreateRunAsync(NewRun(), [&](core::Result<CreateRunResult>) {
    entered.set_value();
    released.wait();
  });
  entered.get_future().wait();
  SqliteWriterStats before = store.WriterStats();

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, core::Result<CreateRunResult>> results;
  auto submit = [&](std::string name, runs::Run run) {
    store.CreateRunAsync(std::move(run), [&, name](core::Result<CreateRunResult> result) {
      std::lock_guard lock(mu);
      results.emplace(name, std::move(result));
      cv.notify_all();
    });
  };
  runs::Run keyed = NewRun();
  keyed.idempotency_key = "k1";
  keyed.request_hash = "h1";
  runs::Run same_key_same_request = NewRun();
  same_key_same_request.idempotency_key = "k1";
  same_key_same_request.request_hash = "h1";
  runs::Run same_key_other_request = NewRun();
  same_key_other_request.idempotency_key = "k1";
  same_key_other_request.request_hash = "h2";
  runs::Run plain = NewRun();
  submit("keyed", keyed);
  submit("same_key_same_request", same_key_same_request);
  submit("same_key_other_request", same_key_other_request);
  submit("duplicate_id", existing);
  submit("plain", plain);
  release.set_value();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return results.size() == 5; }));
  }

  SqliteWriterStats after = store.WriterStats();
  EXPECT_EQ(after.batches, before.batches + 1);
  EXPECT_EQ(after.largest_batch, 5);
  ASSERT_TRUE(results.at("keyed").ok());
  EXPECT_TRUE(results.at("keyed")->created);
  ASSERT_TRUE(results.at("same_key_same_request").ok());
  EXPECT_FALSE(results.at("same_key_same_request")->created);
  EXPECT_EQ(results.at("same_key_same_request")->run.id, keyed.id);
  ASSERT_FALSE(results.at("same_key_other_request").ok());
  EXPECT_EQ(results.at("same_key_other_request").error().code, core::ErrorCode::kAlreadyExists);
  EXPECT_THAT(results.at("same_key_other_request").error().message, HasSubstr("\"k1\""));
  ASSERT_FALSE(results.at("duplicate_id").ok());
  EXPECT_EQ(results.at("duplicate_id").error().code, core::ErrorCode::kAlreadyExists);
  ASSERT_TRUE(results.at("plain").ok());
  EXPECT_TRUE(store.GetRun(plain.id).ok());
  EXPECT_TRUE(store.GetRun(keyed.id).ok());
  EXPECT_FALSE(store.GetRun(same_key_other_request.id).ok());
  // The failed operations left no events behind, and the run they collided with is intact.
  EXPECT_EQ(store.ListEvents(existing.id, 0, 100)->size(), 1u);
  EXPECT_EQ(store.ListEvents(plain.id, 0, 100)->size(), 1u);
}

TEST(SqliteRunStoreTest, ABlockingWriteFromACallbackFailsInsteadOfDeadlocking) {
  auto store = OpenOrFail(NewDatabasePath());
  ASSERT_NE(store, nullptr);
  runs::Run run = NewRun();
  std::promise<core::Result<TransitionResult>> inner;

  store->CreateRunAsync(run, [&](core::Result<CreateRunResult>) {
    inner.set_value(store->TransitionRun(run.id, To(Phase::kCancelled)));
  });
  auto result = inner.get_future().get();

  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, core::ErrorCode::kInternal);
  EXPECT_THAT(result.error().message, HasSubstr("writer thread"));
  // The same call from an ordinary thread works.
  EXPECT_TRUE(store->TransitionRun(run.id, To(Phase::kCancelled)).ok());
}

TEST(SqliteRunStoreTest, AWriteLockHeldByAnotherProcessIsUnavailableAndReadsStillWork) {
  std::string path = NewDatabasePath();
  auto store = OpenOrFail(path, {.busy_timeout = std::chrono::milliseconds(50)});
  ASSERT_NE(store, nullptr);
  runs::Run run = NewRun();
  ASSERT_TRUE(store->CreateRun(run).ok());
  auto other = RawConnection(path);
  ASSERT_TRUE(other->Exec("BEGIN IMMEDIATE").ok());

  auto blocked = store->TransitionRun(run.id, To(Phase::kCancelled));
  auto read = store->GetRun(run.id);

  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code, core::ErrorCode::kUnavailable);
  EXPECT_THAT(blocked.error().message, HasSubstr("locked"));
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->phase, Phase::kQueued);
  ASSERT_TRUE(other->Exec("ROLLBACK").ok());
  EXPECT_TRUE(store->TransitionRun(run.id, To(Phase::kCancelled)).ok());
}

TEST(SqliteRunStoreTest, BadOptionsAndUnopenablePathsAreErrors) {
  auto no_batch = SqliteRunStore::Open(NewDatabasePath(), {.max_batch = 0});
  ASSERT_FALSE(no_batch.ok());
  EXPECT_EQ(no_batch.error().code, core::ErrorCode::kInvalidArgument);
  auto no_readers = SqliteRunStore::Open(NewDatabasePath(), {.reader_pool_size = 0});
  ASSERT_FALSE(no_readers.ok());
  EXPECT_EQ(no_readers.error().code, core::ErrorCode::kInvalidArgument);

  std::string missing_dir = TempRoot::Path() + "/no/such/dir/store.db";
  auto unopenable = SqliteRunStore::Open(missing_dir);

  ASSERT_FALSE(unopenable.ok());
  EXPECT_EQ(unopenable.error().code, core::ErrorCode::kUnavailable);
  EXPECT_THAT(unopenable.error().message, HasSubstr(missing_dir));
}

TEST(SqliteRunStoreTest, ShutdownCommitsEverythingAlreadyQueued) {
  std::string path = NewDatabasePath();
  std::vector<std::string> ids;
  std::atomic<int> acknowledged{0};
  {
    auto store = OpenOrFail(path, {.max_batch = 16});
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 500; ++i) {
      runs::Run run = NewRun();
      ids.push_back(run.id);
      store->CreateRunAsync(run, [&](core::Result<CreateRunResult> r) {
        if (r.ok()) ++acknowledged;
      });
    }
  }  // the destructor drains the queue

  EXPECT_EQ(acknowledged.load(), 500);
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  for (const std::string& id : ids) EXPECT_TRUE(store->GetRun(id).ok()) << id;
}

// --- governance: schema 2, the audit chain ---

using governance::AuditEntry;
using governance::AuditEntryDraft;

AuditEntryDraft Draft(std::string action, std::string subject = "",
                      core::Json details = core::Json::object()) {
  return AuditEntryDraft{.time = core::FromUnixMillis(1'800'000'000'000),
                         .actor = "tester",
                         .action = std::move(action),
                         .subject = std::move(subject),
                         .details = std::move(details)};
}

// The whole chain as stored, ascending.
std::vector<AuditEntry> ReadWholeChain(RunStore& store) {
  std::vector<AuditEntry> all;
  int64_t after = 0;
  while (true) {
    auto page = store.ReadAudit(after, 10000);
    EXPECT_TRUE(page.ok()) << page.error().message;
    if (!page.ok() || page->empty()) return all;
    after = page->back().index;
    all.insert(all.end(), page->begin(), page->end());
  }
}

// Runs SQL on a raw connection and fails the test on an error.
void RawExec(const std::string& path, const std::string& sql) {
  core::Status status = RawConnection(path)->Exec(sql);
  ASSERT_TRUE(status.ok()) << sql << ": " << status.error().message;
}

TEST(SqliteAuditTest, AFreshDatabaseHasAnEmptyChain) {
  auto store = OpenOrFail(NewDatabasePath());
  ASSERT_NE(store, nullptr);

  auto head = store->GetAuditHead();

  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->count, 0);
  EXPECT_EQ(head->head_hash, governance::kGenesisHash);
  EXPECT_TRUE(ReadWholeChain(*store).empty());
}

TEST(SqliteAuditTest, TheChainWrittenByEveryKindOfOperationVerifies) {
  auto store = OpenOrFail(NewDatabasePath());
  ASSERT_NE(store, nullptr);
  runs::Run run = NewRun();
  ASSERT_TRUE(
      store->CreateRun(run, {Draft("run.submitted", run.id), Draft("run.admitted", run.id)}).ok());
  Transition start = To(Phase::kStarting);
  start.audit = {Draft("run.started", run.id, {{"attempt", 1}})};
  ASSERT_TRUE(store->TransitionRun(run.id, start).ok());
  EventDraft tool{.type = "tool_call", .runner_seq = 1};
  tool.audit = Draft("tool.called", run.id, {{"name", "shell"}});
  ASSERT_TRUE(store->AppendEvents(run.id, {tool}).ok());
  ASSERT_TRUE(store->AppendAudit({Draft("catalog.changed", "agent/dev")}).ok());

  std::vector<AuditEntry> chain = ReadWholeChain(*store);
  governance::VerifyResult verified = governance::VerifyChain(chain);

  EXPECT_TRUE(verified.ok) << verified.problem;
  EXPECT_EQ(verified.entries_checked, 5);
  ASSERT_EQ(chain.size(), 5u);
  std::vector<std::string> actions;
  for (const AuditEntry& entry : chain) actions.push_back(entry.action);
  EXPECT_THAT(actions, ::testing::ElementsAre("run.submitted", "run.admitted", "run.started",
                                              "tool.called", "catalog.changed"));
  auto head = store->GetAuditHead();
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->count, 5);
  EXPECT_EQ(head->head_hash, chain.back().hash);
}

TEST(SqliteAuditTest, TheAuditTablesRefuseUpdatesAndDeletes) {
  std::string path = NewDatabasePath();
  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->AppendAudit({Draft("run.submitted")}).ok());
  ASSERT_TRUE(store->SaveCheckpoint({.count = 1, .head_hash = "h", .key_id = "k"}).ok());
  auto raw = RawConnection(path);

  for (const char* sql :
       {"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log",
        "UPDATE audit_checkpoints SET count = 0", "DELETE FROM audit_checkpoints"}) {
    core::Status refused = raw->Exec(sql);
    ASSERT_FALSE(refused.ok()) << sql;
    EXPECT_THAT(refused.error().message, HasSubstr("append-only")) << sql;
  }
  EXPECT_EQ(ReadWholeChain(*store).size(), 1u);
  EXPECT_EQ(store->ListCheckpoints()->size(), 1u);
}

// A store with entries 1..5 and the triggers dropped, as an attacker with file access would.
class SqliteAuditTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = NewDatabasePath();
    store_ = OpenOrFail(path_);
    ASSERT_NE(store_, nullptr);
    for (int i = 1; i <= 5; ++i) {
      ASSERT_TRUE(store_->AppendAudit({Draft("test.entry", "s", {{"amount", i * 100}})}).ok());
    }
    ASSERT_TRUE(governance::VerifyChain(ReadWholeChain(*store_)).ok);
    RawExec(path_, "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;");
  }

  governance::VerifyResult Verify() { return governance::VerifyChain(ReadWholeChain(*store_)); }

  std::string path_;
  std::unique_ptr<RunStore> store_;
};

TEST_F(SqliteAuditTamperTest, AChangedRowIsReportedAtItsIndex) {
  RawExec(path_, "UPDATE audit_log SET details = '{\"amount\":1}' WHERE idx = 3");

  governance::VerifyResult result = Verify();

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 3);
  EXPECT_EQ(result.entries_checked, 2);
  EXPECT_THAT(result.problem, HasSubstr("altered"));
}

TEST_F(SqliteAuditTamperTest, AChangedAndRehashedRowIsReportedAtItsIndex) {
  auto entries = store_->ReadAudit(2, 1);
  ASSERT_TRUE(entries.ok() && entries->size() == 1);
  AuditEntry forged = entries->front();
  forged.details = {{"amount", 1}};
  forged.hash = governance::EntryHash(forged);
  auto raw = RawConnection(path_);
  auto update = raw->Prepare("UPDATE audit_log SET details = ?1, hash = ?2 WHERE idx = 3");
  ASSERT_TRUE(update.ok());
  update->BindText(1, forged.details.dump());
  update->BindText(2, forged.hash);
  ASSERT_TRUE(update->Run().ok());

  governance::VerifyResult result = Verify();

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 3);
  EXPECT_THAT(result.problem, HasSubstr("re-hashed"));
}

TEST_F(SqliteAuditTamperTest, ADeletedRowIsReportedAsMissing) {
  RawExec(path_, "DELETE FROM audit_log WHERE idx = 2");

  governance::VerifyResult result = Verify();

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 2);
  EXPECT_EQ(result.entries_checked, 1);
  EXPECT_THAT(result.problem, HasSubstr("missing"));
}

TEST_F(SqliteAuditTamperTest, TwoRowsWithSwappedContentsAreReportedAtTheFirst) {
  RawExec(path_, R"sql(
    CREATE TEMP TABLE saved AS SELECT * FROM audit_log WHERE idx IN (2, 4);
    UPDATE audit_log SET (time, actor, action, subject, details, prev_hash, hash) =
      (SELECT time, actor, action, subject, details, prev_hash, hash FROM saved
       WHERE saved.idx = 6 - audit_log.idx)
    WHERE idx IN (2, 4);
  )sql");

  governance::VerifyResult result = Verify();

  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 2);
  EXPECT_EQ(result.entries_checked, 1);
}

TEST_F(SqliteAuditTamperTest, DetailsThatAreNoLongerJsonStillReadAndAreReportedAsAltered) {
  RawExec(path_, "UPDATE audit_log SET details = '{broken' WHERE idx = 4");

  auto entries = store_->ReadAudit(3, 1);
  governance::VerifyResult result = Verify();

  ASSERT_TRUE(entries.ok()) << entries.error().message;
  EXPECT_EQ(entries->front().details, core::Json("{broken"));
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_index, 4);
}

TEST_F(SqliteAuditTamperTest, ACutOffTailStillVerifiesAsAChainWhichIsWhatCheckpointsAreFor) {
  RawExec(path_, "DELETE FROM audit_log WHERE idx >= 4");

  EXPECT_TRUE(Verify().ok);
  EXPECT_EQ(store_->GetAuditHead()->count, 3);
}

TEST(SqliteAuditTest, TheHeadSurvivesReopeningAndTheChainContinuesFromIt) {
  std::string path = NewDatabasePath();
  AuditHead head_before;
  {
    auto store = OpenOrFail(path);
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->AppendAudit({Draft("a"), Draft("b"), Draft("c")}).ok());
    head_before = *store->GetAuditHead();
  }

  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  auto head = store->GetAuditHead();
  auto next = store->AppendAudit({Draft("d")});

  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->count, 3);
  EXPECT_EQ(head->head_hash, head_before.head_hash);
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->front().index, 4);
  EXPECT_EQ(next->front().prev_hash, head_before.head_hash);
  EXPECT_TRUE(governance::VerifyChain(ReadWholeChain(*store)).ok);
}

TEST(SqliteAuditTest, DraftsOfARefusedTransitionAreNotWritten) {
  auto store = OpenOrFail(NewDatabasePath());
  ASSERT_NE(store, nullptr);
  runs::Run run = NewRun();
  ASSERT_TRUE(store->CreateRun(run).ok());
  Transition refused = To(Phase::kRunning);  // Queued -> Running is not a legal step
  refused.audit = {Draft("run.started", run.id), Draft("run.noted", run.id)};

  ASSERT_FALSE(store->TransitionRun(run.id, refused).ok());
  auto next = store->AppendAudit({Draft("after")});

  EXPECT_EQ(store->GetAuditHead()->count, 1);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->front().index, 1);
  EXPECT_EQ(next->front().prev_hash, governance::kGenesisHash);
}

TEST(SqliteAuditTest, OperationsThatRollBackInsideABatchLeaveTheHeadWhereItWas) {
  auto opened = SqliteRunStore::Open(NewDatabasePath());
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  SqliteRunStore& store = **opened;
  runs::Run existing = NewRun();
  existing.idempotency_key = "k1";
  existing.request_hash = "h1";
  ASSERT_TRUE(store.CreateRun(existing, {Draft("run.submitted", existing.id)}).ok());

  // Hold the writer in a callback so that everything queued meanwhile forms one batch.
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  store.CreateRunAsync(NewRun(), [&](core::Result<CreateRunResult>) {
    entered.set_value();
    released.wait();
  });
  entered.get_future().wait();
  SqliteWriterStats before = store.WriterStats();

  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, core::Result<CreateRunResult>> results;
  auto submit = [&](std::string name, runs::Run run, std::vector<AuditEntryDraft> audit) {
    store.CreateRunAsync(std::move(run), std::move(audit),
                         [&, name](core::Result<CreateRunResult> result) {
                           std::lock_guard lock(mu);
                           results.emplace(name, std::move(result));
                           cv.notify_all();
                         });
  };
  runs::Run first = NewRun();
  runs::Run replay = NewRun();
  replay.idempotency_key = "k1";
  replay.request_hash = "h1";
  runs::Run invalid = NewRun();
  runs::Run last = NewRun();
  submit("first", first, {Draft("run.submitted", first.id)});
  submit("replay", replay, {Draft("run.submitted", replay.id)});
  runs::Run duplicate = existing;  // the same id, without the key that would make it a replay
  duplicate.idempotency_key.clear();
  submit("duplicate", duplicate, {Draft("run.submitted", existing.id)});
  // Its first entry is written inside its savepoint before the second is refused.
  submit("invalid", invalid,
         {Draft("run.submitted", invalid.id), Draft("run.submitted", invalid.id, {{"f", 1.5}})});
  submit("last", last, {Draft("run.submitted", last.id), Draft("run.admitted", last.id)});
  release.set_value();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return results.size() == 5; }));
  }

  EXPECT_EQ(store.WriterStats().batches, before.batches + 1);
  EXPECT_TRUE(results.at("first").ok());
  ASSERT_TRUE(results.at("replay").ok());
  EXPECT_FALSE(results.at("replay")->created);
  ASSERT_FALSE(results.at("duplicate").ok());
  EXPECT_EQ(results.at("duplicate").error().code, core::ErrorCode::kAlreadyExists);
  ASSERT_FALSE(results.at("invalid").ok());
  EXPECT_EQ(results.at("invalid").error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_TRUE(results.at("last").ok());
  std::vector<AuditEntry> chain = ReadWholeChain(store);
  governance::VerifyResult verified = governance::VerifyChain(chain);
  EXPECT_TRUE(verified.ok) << verified.problem;
  std::vector<std::string> subjects;
  for (const AuditEntry& entry : chain) subjects.push_back(entry.subject);
  EXPECT_THAT(subjects, ::testing::ElementsAre(existing.id, first.id, last.id, last.id));
}

TEST(SqliteAuditTest, EntriesWrittenConcurrentlyFromManyThreadsFormOneValidChain) {
  auto store = OpenOrFail(NewDatabasePath(), {.max_batch = 16});
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 16;
  constexpr int kCallsPerThread = 30;
  std::atomic<int64_t> written{0};
  std::atomic<int> failures{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      runs::Run run = NewRun();
      if (!store->CreateRun(run, {Draft("run.submitted", run.id, {{"thread", t}})}).ok()) {
        ++failures;
        return;
      }
      ++written;
      for (int call = 0; call < kCallsPerThread; ++call) {
        core::Json details = {{"thread", t}, {"call", call}};
        bool ok = false;
        if (call % 2 == 0) {
          ok = store
                   ->AppendAudit(
                       {Draft("test.a", run.id, details), Draft("test.b", run.id, details)})
                   .ok();
          if (ok) written += 2;
        } else {
          EventDraft event{.type = "log"};
          event.audit = Draft("test.event", run.id, details);
          ok = store->AppendEvents(run.id, {event}).ok();
          if (ok) ++written;
        }
        if (!ok) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(failures.load(), 0);
  std::vector<AuditEntry> chain = ReadWholeChain(*store);
  governance::VerifyResult verified = governance::VerifyChain(chain);
  EXPECT_TRUE(verified.ok) << verified.problem;
  EXPECT_EQ(static_cast<int64_t>(chain.size()), written.load());
  EXPECT_EQ(store->GetAuditHead()->count, written.load());
}

TEST(SqliteAuditTest, ADraftWithoutATimeIsStampedWithTheStoresClock) {
  testing::FakeClock clock(core::FromUnixMillis(1'900'000'000'321));
  auto store = OpenOrFail(NewDatabasePath(), {.clock = &clock});
  ASSERT_NE(store, nullptr);
  AuditEntryDraft draft = Draft("run.submitted");
  draft.time = core::TimePoint{};

  auto appended = store->AppendAudit({draft});

  ASSERT_TRUE(appended.ok()) << appended.error().message;
  EXPECT_EQ(appended->front().time, core::FromUnixMillis(1'900'000'000'321));
}

// Schema version 1 exactly as agentd wrote it before governance (migration 1, frozen).
constexpr const char* kSchemaVersion1 = R"sql(
CREATE TABLE runs (
  id                  TEXT PRIMARY KEY,
  agent               TEXT NOT NULL,
  input               TEXT NOT NULL,
  parameters          TEXT NOT NULL DEFAULT '{}',
  priority            INTEGER NOT NULL DEFAULT 0,
  deadline_seconds    INTEGER,
  labels              TEXT NOT NULL DEFAULT '{}',
  idempotency_key     TEXT NOT NULL DEFAULT '',
  request_hash        TEXT NOT NULL DEFAULT '',
  caller              TEXT NOT NULL DEFAULT '',
  source              TEXT NOT NULL,
  phase               TEXT NOT NULL,
  reason              TEXT NOT NULL DEFAULT '',
  message             TEXT NOT NULL DEFAULT '',
  created_at          INTEGER NOT NULL,
  started_at          INTEGER,
  finished_at         INTEGER,
  attempts            INTEGER NOT NULL DEFAULT 0,
  input_tokens        INTEGER NOT NULL DEFAULT 0,
  cached_input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens       INTEGER NOT NULL DEFAULT 0,
  cost_micros         INTEGER NOT NULL DEFAULT 0,
  model_calls         INTEGER NOT NULL DEFAULT 0,
  result              TEXT NOT NULL DEFAULT '',
  error               TEXT NOT NULL DEFAULT '',
  executor_handle     TEXT NOT NULL DEFAULT '{}',
  runner_token_hash   TEXT NOT NULL DEFAULT '',
  runner_seq          INTEGER NOT NULL DEFAULT 0,
  version             INTEGER NOT NULL DEFAULT 1
) STRICT;
CREATE INDEX runs_by_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_by_agent ON runs (agent, created_at DESC, id DESC);
CREATE INDEX runs_by_phase ON runs (phase, created_at, id);
CREATE UNIQUE INDEX runs_by_idempotency_key ON runs (idempotency_key)
  WHERE idempotency_key <> '';
CREATE TABLE run_labels (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX run_labels_by_pair ON run_labels (key, value, run_id);
CREATE TABLE events (
  run_id TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq    INTEGER NOT NULL,
  type   TEXT NOT NULL,
  data   TEXT NOT NULL DEFAULT '{}',
  time   INTEGER NOT NULL,
  PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE usage_ledger (
  id                  INTEGER PRIMARY KEY,
  run_id              TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  agent               TEXT NOT NULL,
  model               TEXT NOT NULL,
  input_tokens        INTEGER NOT NULL,
  cached_input_tokens INTEGER NOT NULL,
  output_tokens       INTEGER NOT NULL,
  cost_micros         INTEGER NOT NULL,
  model_calls         INTEGER NOT NULL,
  time                INTEGER NOT NULL,
  labels              TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX usage_ledger_by_time ON usage_ledger (time);
CREATE INDEX usage_ledger_by_agent ON usage_ledger (agent, time);
CREATE INDEX usage_ledger_by_run ON usage_ledger (run_id);
PRAGMA user_version = 1;
)sql";

TEST(SqliteRunStoreTest, ASchemaVersion1DatabaseUpgradesWithItsRunsIntact) {
  std::string path = NewDatabasePath();
  RawExec(path, kSchemaVersion1);
  RawExec(path, R"sql(
    INSERT INTO runs (id, agent, input, labels, caller, source, phase, reason, created_at,
                      attempts, cost_micros, model_calls, result)
    VALUES ('run-old', 'developer', 'fix it', '{"team":"search","cost-center":"cc-9"}',
            'key-ci', 'cli', 'Succeeded', 'Completed', 1800000000000, 1, 1500, 1, 'done');
    INSERT INTO run_labels VALUES ('run-old', 'team', 'search'), ('run-old', 'cost-center', 'cc-9');
    INSERT INTO events VALUES ('run-old', 1, 'phase', '{"phase":"Queued"}', 1800000000000),
                              ('run-old', 2, 'usage', '{}', 1800000000100);
    INSERT INTO usage_ledger (run_id, agent, model, input_tokens, cached_input_tokens,
                              output_tokens, cost_micros, model_calls, time, labels)
    VALUES ('run-old', 'developer', 'local', 10, 0, 5, 1500, 1, 1800000000100,
            '{"team":"search","cost-center":"cc-9"}');
  )sql");
  ASSERT_EQ(*sqlite::ReadSchemaVersion(*RawConnection(path)), 1);

  auto store = OpenOrFail(path);

  ASSERT_NE(store, nullptr);
  EXPECT_EQ(*sqlite::ReadSchemaVersion(*RawConnection(path)), sqlite::LatestSchemaVersion());
  EXPECT_GE(sqlite::LatestSchemaVersion(), 2);
  auto run = store->GetRun("run-old");
  ASSERT_TRUE(run.ok()) << run.error().message;
  EXPECT_EQ(run->agent, "developer");
  EXPECT_EQ(run->phase, Phase::kSucceeded);
  EXPECT_EQ(run->result, "done");
  EXPECT_EQ(run->usage.cost_micros, 1500);
  EXPECT_EQ(run->labels.at("team"), "search");
  EXPECT_EQ(run->team, "");
  EXPECT_EQ(run->tier, 0);
  EXPECT_EQ(run->allowance_micros, 0);
  EXPECT_TRUE(run->budgets.empty());
  EXPECT_FALSE(run->approval_expires_at.has_value());
  // Old usage rows are attributed from the labels they were written with and their run.
  UsageQuery query{.from = core::FromUnixMillis(0),
                   .to = core::FromUnixMillis(1'900'000'000'000),
                   .group_by = {"team", "costCenter", "caller", "day"}};
  auto rows = store->QueryUsage(query);
  ASSERT_TRUE(rows.ok()) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].group, (std::map<std::string, std::string>{{"team", "search"},
                                                                  {"costCenter", "cc-9"},
                                                                  {"caller", "key-ci"},
                                                                  {"day", "2027-01-15"}}));
  EXPECT_EQ((*rows)[0].usage.cost_micros, 1500);
  // The old run's log continues, and the new tables work.
  auto next = store->AppendEvents("run-old", {{.type = "log"}});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->front().seq, 3);
  EXPECT_TRUE(store->AppendAudit({Draft("store.migrated")}).ok());
  EXPECT_TRUE(governance::VerifyChain(ReadWholeChain(*store)).ok);
  // Schema 3: the old run has no runner instance claim; its attempt can be claimed.
  EXPECT_GE(sqlite::LatestSchemaVersion(), 3);
  auto claimed = store->ClaimRunnerInstance("run-old", 1, "pod-a");
  ASSERT_TRUE(claimed.ok()) << claimed.error().message;
  EXPECT_TRUE(*claimed);
}

// The child creates runs and reports each acknowledged id on a pipe; the parent kills it with
// SIGKILL at a random moment and then finds every acknowledged run in the database.
void ExpectKillNineLosesNoAcknowledgedRun(SqliteSynchronous synchronous, unsigned seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  constexpr int kRuns = 20000;
  std::mt19937 random(seed);
  const int kill_after = std::uniform_int_distribution<int>(1, kRuns / 2)(random);
  std::string path = NewDatabasePath();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);

  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(fds[0]);
    int out = fds[1];
    auto store = SqliteRunStore::Open(path, {.synchronous = synchronous});
    if (!store.ok()) _exit(2);
    for (int i = 0; i < kRuns; ++i) {
      runs::Run run = NewRun("durable");
      std::string line = run.id + "\n";
      (*store)->CreateRunAsync(std::move(run), [out, line](core::Result<CreateRunResult> r) {
        if (r.ok() && write(out, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
          _exit(3);
        }
      });
    }
    store->reset();
    _exit(0);
  }

  close(fds[1]);
  std::set<std::string> acknowledged;
  std::string buffer;
  bool killed = false;
  char chunk[4096];
  while (true) {
    ssize_t n = read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is gone
    buffer.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      acknowledged.insert(buffer.substr(0, newline));
      buffer.erase(0, newline + 1);
    }
    if (!killed && static_cast<int>(acknowledged.size()) >= kill_after) {
      kill(child, SIGKILL);
      killed = true;
    }
  }
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  if (!killed) {
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  ASSERT_TRUE(buffer.empty()) << "a partial line: every write of an id is atomic";
  ASSERT_GE(static_cast<int>(acknowledged.size()), kill_after);

  auto store = OpenOrFail(path);
  ASSERT_NE(store, nullptr);
  int missing = 0;
  for (const std::string& id : acknowledged) {
    if (!store->GetRun(id).ok()) ++missing;
  }
  EXPECT_EQ(missing, 0) << "of " << acknowledged.size() << " acknowledged runs";
  std::cerr << "[ info ] " << acknowledged.size() << " runs acknowledged before "
            << (killed ? "SIGKILL" : "a clean exit") << "\n";
}

TEST(SqliteRunStoreDurabilityTest, KillNineLosesNoAcknowledgedRunWithFullSync) {
  std::random_device seeds;
  for (int round = 0; round < 3; ++round) {
    ExpectKillNineLosesNoAcknowledgedRun(SqliteSynchronous::kFull, seeds());
  }
}

TEST(SqliteRunStoreDurabilityTest, KillNineLosesNoAcknowledgedRunWithNormalSync) {
  std::random_device seeds;
  for (int round = 0; round < 3; ++round) {
    ExpectKillNineLosesNoAcknowledgedRun(SqliteSynchronous::kNormal, seeds());
  }
}

}  // namespace
}  // namespace agentd::store
