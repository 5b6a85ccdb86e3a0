#include "store/sqlite/sqlite_run_store.h"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/ids.h"
#include "core/time.h"
#include "store/run_store_contract.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/migrations.h"

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
