#include "catalog/directory_source.h"

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <stdlib.h>

namespace agentd::catalog {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr auto kWaitLimit = std::chrono::seconds(5);

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "catalog_test.XXXXXX").string();
    AGENTD_CHECK(mkdtemp(pattern.data()) != nullptr) << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Writes via a hidden temporary file and rename, as editors and git do, so that a reload never
// sees a half-written file.
void WriteFile(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  fs::path temporary = path.parent_path() / ("." + path.filename().string() + ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    AGENTD_CHECK(out.good()) << "cannot write " << temporary;
  }
  fs::rename(temporary, path);
}

std::string ModelYaml(const std::string& name) {
  return "apiVersion: agentd.dev/v1alpha1\nkind: Model\nmetadata: {name: " + name +
         "}\nspec: {provider: openai-compatible, baseUrl: 'http://127.0.0.1:8000/v1', model: m}\n";
}

std::string AgentYaml(const std::string& name, const std::string& model,
                      const std::string& prompt = "p") {
  return "apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: " + name +
         "}\nspec: {model: " + model + ", systemPrompt: " + prompt + "}\n";
}

std::string InstructionYaml(const std::string& name) {
  return "apiVersion: agentd.dev/v1alpha1\nkind: Instruction\nmetadata: {name: " + name +
         "}\nspec: {scope: global, priority: 1, text: t}\n";
}

// --- LoadSnapshotFromDirectory ----------------------------------------------------------------

TEST(LoadSnapshotFromDirectoryTest, LoadsObjectFilesRecursivelyInSortedOrder) {
  TempDir dir;
  WriteFile(dir.path() / "b.yaml", ModelYaml("local") + "---\n" + AgentYaml("dev", "local"));
  WriteFile(dir.path() / "a" / "nested.yml", InstructionYaml("first"));
  WriteFile(dir.path() / "c.json",
            R"({"apiVersion": "agentd.dev/v1alpha1", "kind": "Instruction",
                "metadata": {"name": "from-json"},
                "spec": {"scope": "local", "roles": ["dev"], "text": "t"}})");
  WriteFile(dir.path() / "README.md", "not an object file: ignored");
  WriteFile(dir.path() / ".hidden" / "x.yaml", "this would not parse: [");
  WriteFile(dir.path() / ".also-hidden.yaml", "neither would this: [");

  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;
  EXPECT_EQ(snapshot->generation, 0u);
  EXPECT_EQ(snapshot->origin, "dir:" + dir.path().string());
  EXPECT_EQ(snapshot->models.size(), 1u);
  EXPECT_EQ(snapshot->agents.size(), 1u);
  EXPECT_EQ(snapshot->instructions.size(), 2u);
  EXPECT_EQ(snapshot->LocationOf("Instruction", "first"),
            (dir.path() / "a" / "nested.yml").string() + ":1");
  EXPECT_EQ(snapshot->LocationOf("Agent", "dev"), (dir.path() / "b.yaml").string() + ":6");
  EXPECT_EQ(snapshot->LocationOf("Instruction", "from-json"),
            (dir.path() / "c.json").string() + ":1");
}

TEST(LoadSnapshotFromDirectoryTest, FollowsASymlinkedRootEvenWhenItsTargetIsHidden) {
  TempDir dir;
  WriteFile(dir.path() / ".worktrees" / "abc123" / "models.yaml", ModelYaml("local"));
  fs::create_directory_symlink(".worktrees/abc123", dir.path() / "current");
  auto snapshot = LoadSnapshotFromDirectory(dir.path() / "current");
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;
  EXPECT_NE(snapshot->FindModel("local"), nullptr);
}

TEST(LoadSnapshotFromDirectoryTest, ReadsAConfigMapVolumeOnceThroughItsVisibleSymlinks) {
  TempDir dir;
  WriteFile(dir.path() / "..2026_01_01_00_00_00.1" / "models.yaml", ModelYaml("local"));
  fs::create_directory_symlink("..2026_01_01_00_00_00.1", dir.path() / "..data");
  fs::create_symlink("..data/models.yaml", dir.path() / "models.yaml");
  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;  // not "defined twice"
  EXPECT_EQ(snapshot->models.size(), 1u);
}

TEST(LoadSnapshotFromDirectoryTest, SurvivesDirectorySymlinkCycles) {
  TempDir dir;
  WriteFile(dir.path() / "sub" / "m.yaml", ModelYaml("local"));
  fs::create_directory_symlink("..", dir.path() / "sub" / "up");
  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;
  EXPECT_EQ(snapshot->models.size(), 1u);
}

TEST(LoadSnapshotFromDirectoryTest, RejectsADuplicateNameNamingBothFiles) {
  TempDir dir;
  WriteFile(dir.path() / "a.yaml", ModelYaml("local"));
  WriteFile(dir.path() / "b.yaml", InstructionYaml("i") + "---\n" + ModelYaml("local"));
  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.error().message, "Model \"local\" is defined twice: at " +
                                          (dir.path() / "a.yaml").string() + ":1 and at " +
                                          (dir.path() / "b.yaml").string() + ":6");
}

TEST(LoadSnapshotFromDirectoryTest, SameNameInDifferentKindsIsFine) {
  TempDir dir;
  WriteFile(dir.path() / "a.yaml",
            ModelYaml("developer") + "---\n" + AgentYaml("developer", "developer"));
  EXPECT_TRUE(LoadSnapshotFromDirectory(dir.path()).ok());
}

TEST(LoadSnapshotFromDirectoryTest, InvalidObjectErrorsNameTheFileAndLine) {
  TempDir dir;
  WriteFile(dir.path() / "ok.yaml", ModelYaml("local"));
  WriteFile(dir.path() / "sub" / "agents.yaml",
            "apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: dev}\nspec:\n"
            "  model: local\n  tier: 9\n");
  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_FALSE(snapshot.ok());
  EXPECT_EQ(snapshot.error().message, (dir.path() / "sub" / "agents.yaml").string() +
                                          ":6: Agent \"dev\": spec.tier must be between 0 and 4, "
                                          "got 9");
}

TEST(LoadSnapshotFromDirectoryTest, RejectsReferencesToMissingObjects) {
  TempDir dir;
  WriteFile(dir.path() / "agents.yaml", AgentYaml("dev", "nowhere"));
  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_FALSE(snapshot.ok());
  EXPECT_NE(snapshot.error().message.find("Agent \"dev\": spec.model refers to Model \"nowhere\""),
            std::string::npos)
      << snapshot.error().message;
}

TEST(LoadSnapshotFromDirectoryTest, MissingDirectoryIsNotFoundAndAFileIsNotADirectory) {
  TempDir dir;
  auto missing = LoadSnapshotFromDirectory(dir.path() / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, core::ErrorCode::kNotFound);
  WriteFile(dir.path() / "file.yaml", "");
  auto file = LoadSnapshotFromDirectory(dir.path() / "file.yaml");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code, core::ErrorCode::kInvalidArgument);
}

std::string BudgetYaml(const std::string& name, const std::string& scope) {
  return "apiVersion: agentd.dev/v1alpha1\nkind: Budget\nmetadata: {name: " + name +
         "}\nspec: {scope: " + scope + ", limitUsd: \"10\"}\n";
}

std::string TierPolicyYaml(const std::string& name, int tier) {
  return "apiVersion: agentd.dev/v1alpha1\nkind: TierPolicy\nmetadata: {name: " + name +
         "}\nspec: {tier: " + std::to_string(tier) + ", maxTurns: 10}\n";
}

TEST(LoadSnapshotFromDirectoryTest, LoadsBudgetsAndTierPolicies) {
  TempDir dir;
  WriteFile(dir.path() / "a.yaml", ModelYaml("local") + "---\n" + AgentYaml("dev", "local"));
  WriteFile(dir.path() / "budgets.yaml",
            BudgetYaml("org", "{}") + "---\n" + BudgetYaml("dev-monthly", "{agent: dev}"));
  WriteFile(dir.path() / "tiers.yaml", TierPolicyYaml("tier-1", 1));
  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;
  EXPECT_EQ(snapshot->budgets.size(), 2u);
  ASSERT_NE(snapshot->FindBudget("dev-monthly"), nullptr);
  EXPECT_EQ(snapshot->FindBudget("dev-monthly")->spec.scope.agent, "dev");
  EXPECT_EQ(snapshot->FindBudget("nope"), nullptr);
  ASSERT_EQ(snapshot->tier_policies.size(), 1u);
  EXPECT_EQ(snapshot->tier_policies.at("tier-1").spec.max_turns, 10);
  EXPECT_EQ(snapshot->LocationOf("Budget", "dev-monthly"),
            (dir.path() / "budgets.yaml").string() + ":6");
  EXPECT_EQ(snapshot->LocationOf("TierPolicy", "tier-1"),
            (dir.path() / "tiers.yaml").string() + ":1");
}

TEST(LoadSnapshotFromDirectoryTest, RejectsABudgetForAMissingAgentAndTwoPoliciesOfOneTier) {
  TempDir dir;
  WriteFile(dir.path() / "budgets.yaml", BudgetYaml("ghost", "{agent: ghost}"));
  auto ghost = LoadSnapshotFromDirectory(dir.path());
  ASSERT_FALSE(ghost.ok());
  EXPECT_EQ(ghost.error().message, (dir.path() / "budgets.yaml").string() +
                                       ":1: Budget \"ghost\": spec.scope.agent refers to Agent "
                                       "\"ghost\" which does not exist");

  fs::remove(dir.path() / "budgets.yaml");
  WriteFile(dir.path() / "tiers.yaml",
            TierPolicyYaml("tier-3", 3) + "---\n" + TierPolicyYaml("tier-3-again", 3));
  auto twice = LoadSnapshotFromDirectory(dir.path());
  ASSERT_FALSE(twice.ok());
  std::string file = (dir.path() / "tiers.yaml").string();
  EXPECT_EQ(twice.error().message, file +
                                       ":6: TierPolicy \"tier-3-again\": spec.tier 3 is already "
                                       "the tier of TierPolicy \"tier-3\" (at " +
                                       file + ":1)");
}

TEST(SnapshotTest, SameObjectsAsComparesBudgetsAndTierPolicies) {
  Snapshot a;
  Snapshot b;
  EXPECT_TRUE(a.SameObjectsAs(b));
  resources::Budget budget;
  budget.metadata.name = "org";
  budget.spec.limit_micros = 1;
  b.budgets.emplace("org", budget);
  EXPECT_FALSE(a.SameObjectsAs(b));
  a.budgets.emplace("org", budget);
  EXPECT_TRUE(a.SameObjectsAs(b));
  a.budgets["org"].spec.limit_micros = 2;
  EXPECT_FALSE(a.SameObjectsAs(b));
  a.budgets = b.budgets;
  resources::TierPolicy policy;
  policy.metadata.name = "tier-1";
  policy.spec.tier = 1;
  a.tier_policies.emplace("tier-1", policy);
  EXPECT_FALSE(a.SameObjectsAs(b));
  b.tier_policies.emplace("tier-1", policy);
  EXPECT_TRUE(a.SameObjectsAs(b));
}

// --- CheckDirectory / ListObjectFiles ---------------------------------------------------------

TEST(CheckDirectoryTest, ReportsEveryProblemAndKeepsTheValidObjects) {
  TempDir dir;
  std::string a = (dir.path() / "a.yaml").string();
  std::string b = (dir.path() / "b.yaml").string();
  std::string c = (dir.path() / "c.yaml").string();
  WriteFile(dir.path() / "a.yaml", ModelYaml("local") + "---\n" + AgentYaml("dev", "nowhere"));
  WriteFile(dir.path() / "b.yaml",
            ModelYaml("local") + "---\n" +
                "apiVersion: agentd.dev/v1alpha1\nkind: Budget\nmetadata: {name: x}\nspec: {}\n" +
                "---\n" + BudgetYaml("ghost", "{agent: ghost}"));
  WriteFile(dir.path() / "c.yaml", "a: [1\n");
  auto report = CheckDirectory(dir.path());
  ASSERT_TRUE(report.ok()) << report.error().message;
  EXPECT_EQ(report->files, 3u);
  EXPECT_EQ(report->objects, 5u);
  EXPECT_EQ(report->snapshot.models.size(), 1u);
  EXPECT_EQ(report->snapshot.agents.size(), 1u);
  EXPECT_EQ(report->snapshot.budgets.size(), 1u);
  ASSERT_EQ(report->problems.size(), 5u);
  EXPECT_EQ(report->problems[0], b + ":9: Budget \"x\": spec.limitUsd is required (the budget "
                                     "in USD, e.g. \"150\")");
  EXPECT_EQ(report->problems[1], b + ":1: Model \"local\" is defined twice (first at " + a + ":1)");
  EXPECT_EQ(report->problems[2].rfind(c + ":", 0), 0u) << report->problems[2];
  EXPECT_EQ(report->problems[3], a + ":6: Agent \"dev\": spec.model refers to Model \"nowhere\" "
                                     "which does not exist");
  EXPECT_EQ(report->problems[4], b + ":11: Budget \"ghost\": spec.scope.agent refers to Agent "
                                     "\"ghost\" which does not exist");
}

TEST(CheckDirectoryTest, ACleanDirectoryHasNoProblemsAndAMissingOneFails) {
  TempDir dir;
  WriteFile(dir.path() / "a.yaml", ModelYaml("local") + "---\n" + AgentYaml("dev", "local"));
  auto report = CheckDirectory(dir.path());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
  EXPECT_EQ(report->objects, 2u);
  EXPECT_EQ(CheckDirectory(dir.path() / "nope").error().code, core::ErrorCode::kNotFound);
}

TEST(ListObjectFilesTest, ListsTheObjectFilesInReadingOrder) {
  TempDir dir;
  WriteFile(dir.path() / "b.yaml", "");
  WriteFile(dir.path() / "a" / "x.json", "");
  WriteFile(dir.path() / "c.txt", "");
  WriteFile(dir.path() / ".hidden.yaml", "");
  auto files = ListObjectFiles(dir.path());
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(*files, (std::vector<fs::path>{dir.path() / "a" / "x.json", dir.path() / "b.yaml"}));
}

TEST(LoadSnapshotFromDirectoryTest, AnEmptyDirectoryIsAnEmptySnapshot) {
  TempDir dir;
  auto snapshot = LoadSnapshotFromDirectory(dir.path());
  ASSERT_TRUE(snapshot.ok());
  EXPECT_TRUE(snapshot->models.empty() && snapshot->agents.empty());
}

// --- DirectoryCatalogSource -------------------------------------------------------------------

// Collects what the source reports, for tests to wait on with a deadline.
class Recorder {
 public:
  DirectoryCatalogOptions Options(milliseconds debounce = milliseconds(50)) {
    return {.debounce = debounce,
            .on_change =
                [this](const Snapshot& snapshot) {
                  std::lock_guard lock(mu_);
                  generations_.push_back(snapshot.generation);
                  cv_.notify_all();
                },
            .on_error =
                [this](const core::Error& error) {
                  std::lock_guard lock(mu_);
                  errors_.push_back(error.message);
                  cv_.notify_all();
                }};
  }
  bool WaitForChanges(size_t count) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWaitLimit, [&] { return generations_.size() >= count; });
  }
  bool WaitForErrors(size_t count) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWaitLimit, [&] { return errors_.size() >= count; });
  }
  std::vector<std::string> errors() {
    std::lock_guard lock(mu_);
    return errors_;
  }
  std::vector<uint64_t> generations() {
    std::lock_guard lock(mu_);
    return generations_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<uint64_t> generations_;
  std::vector<std::string> errors_;
};

std::string PromptOf(const Catalog& catalog) {
  auto snapshot = catalog.Current();  // held while its agent is read
  const resources::Agent* agent = snapshot->FindAgent("dev");
  return agent == nullptr ? "" : agent->spec.system_prompt;
}

TEST(DirectoryCatalogSourceTest, LoadsAtStartAndFailsStartOnInvalidContent) {
  TempDir dir;
  WriteFile(dir.path() / "all.yaml", ModelYaml("local") + "---\n" + AgentYaml("dev", "local"));
  Catalog catalog;
  Recorder recorder;
  DirectoryCatalogSource source(dir.path(), catalog, recorder.Options());
  ASSERT_TRUE(source.Start().ok());
  EXPECT_EQ(catalog.Current()->generation, 1u);
  EXPECT_NE(catalog.Current()->FindAgent("dev"), nullptr);
  EXPECT_EQ(recorder.generations(), std::vector<uint64_t>{1});
  EXPECT_FALSE(source.LastError().has_value());
  source.Stop();
  source.Stop();  // idempotent

  TempDir bad;
  WriteFile(bad.path() / "all.yaml", AgentYaml("dev", "missing"));
  Catalog untouched;
  DirectoryCatalogSource failing(bad.path(), untouched, recorder.Options());
  auto status = failing.Start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("Model \"missing\""), std::string::npos);
  EXPECT_EQ(untouched.Current()->generation, 0u);
}

TEST(DirectoryCatalogSourceTest, RejectsAnInvalidChangeKeepingTheOldSnapshotThenAppliesAFix) {
  TempDir dir;
  WriteFile(dir.path() / "models.yaml", ModelYaml("local"));
  WriteFile(dir.path() / "agents.yaml", AgentYaml("dev", "local", "v1"));
  Catalog catalog;
  Recorder recorder;
  DirectoryCatalogSource source(dir.path(), catalog, recorder.Options());
  ASSERT_TRUE(source.Start().ok());
  auto before = catalog.Current();

  WriteFile(dir.path() / "agents.yaml", AgentYaml("dev", "gone", "v2"));
  ASSERT_TRUE(recorder.WaitForErrors(1));
  EXPECT_EQ(catalog.Current(), before);  // the very same snapshot
  EXPECT_EQ(PromptOf(catalog), "v1");
  ASSERT_TRUE(source.LastError().has_value());
  EXPECT_NE(source.LastError()->message.find("agents.yaml:1: Agent \"dev\": spec.model refers to "
                                             "Model \"gone\""),
            std::string::npos)
      << source.LastError()->message;

  WriteFile(dir.path() / "agents.yaml", AgentYaml("dev", "local", "v3"));
  ASSERT_TRUE(recorder.WaitForChanges(2));
  EXPECT_EQ(catalog.Current()->generation, 2u);
  EXPECT_EQ(PromptOf(catalog), "v3");
  EXPECT_FALSE(source.LastError().has_value());
  EXPECT_EQ(before->generation, 1u);  // a holder of the old snapshot still sees it whole
  EXPECT_EQ(before->FindAgent("dev")->spec.system_prompt, "v1");
}

TEST(DirectoryCatalogSourceTest, PicksUpFilesInNewSubdirectories) {
  TempDir dir;
  WriteFile(dir.path() / "models.yaml", ModelYaml("local"));
  Catalog catalog;
  Recorder recorder;
  DirectoryCatalogSource source(dir.path(), catalog, recorder.Options());
  ASSERT_TRUE(source.Start().ok());

  WriteFile(dir.path() / "team" / "agents.yaml", AgentYaml("dev", "local", "first"));
  ASSERT_TRUE(recorder.WaitForChanges(2));
  EXPECT_EQ(PromptOf(catalog), "first");
  // The new subdirectory is now watched too.
  WriteFile(dir.path() / "team" / "agents.yaml", AgentYaml("dev", "local", "second"));
  ASSERT_TRUE(recorder.WaitForChanges(3));
  EXPECT_EQ(PromptOf(catalog), "second");
}

TEST(DirectoryCatalogSourceTest, FollowsAGitSyncStyleSymlinkSwap) {
  TempDir dir;
  WriteFile(dir.path() / "rev-1" / "all.yaml",
            ModelYaml("local") + "---\n" + AgentYaml("dev", "local", "rev-one"));
  WriteFile(dir.path() / "rev-2" / "all.yaml",
            ModelYaml("local") + "---\n" + AgentYaml("dev", "local", "rev-two"));
  fs::create_directory_symlink("rev-1", dir.path() / "current");
  Catalog catalog;
  Recorder recorder;
  DirectoryCatalogSource source(dir.path() / "current", catalog, recorder.Options());
  ASSERT_TRUE(source.Start().ok());
  EXPECT_EQ(PromptOf(catalog), "rev-one");

  // What git-sync does: a new symlink renamed over the old one (atomic).
  fs::create_directory_symlink("rev-2", dir.path() / "current.tmp");
  fs::rename(dir.path() / "current.tmp", dir.path() / "current");
  ASSERT_TRUE(recorder.WaitForChanges(2));
  EXPECT_EQ(PromptOf(catalog), "rev-two");

  // The new target is watched now: edits inside it are seen, and the old one is not.
  WriteFile(dir.path() / "rev-1" / "all.yaml",
            ModelYaml("local") + "---\n" + AgentYaml("dev", "local", "old-edit"));
  WriteFile(dir.path() / "rev-2" / "all.yaml",
            ModelYaml("local") + "---\n" + AgentYaml("dev", "local", "rev-two-edit"));
  ASSERT_TRUE(recorder.WaitForChanges(3));
  EXPECT_EQ(PromptOf(catalog), "rev-two-edit");
}

TEST(DirectoryCatalogSourceTest, DebounceCoalescesABurstIntoOneReload) {
  TempDir dir;
  WriteFile(dir.path() / "models.yaml", ModelYaml("local"));
  Catalog catalog;
  Recorder recorder;
  // Long enough that the burst below surely falls inside one window.
  DirectoryCatalogSource source(dir.path(), catalog, recorder.Options(milliseconds(300)));
  ASSERT_TRUE(source.Start().ok());

  for (int i = 0; i < 10; ++i) {
    WriteFile(dir.path() / ("agents-" + std::to_string(i) + ".yaml"),
              AgentYaml("agent-" + std::to_string(i), "local"));
  }
  ASSERT_TRUE(recorder.WaitForChanges(2));
  EXPECT_EQ(source.reload_count(), 1u);
  EXPECT_EQ(catalog.Current()->generation, 2u);
  EXPECT_EQ(catalog.Current()->agents.size(), 10u);
}

TEST(DirectoryCatalogSourceTest, AReloadWithoutChangesKeepsTheGeneration) {
  TempDir dir;
  WriteFile(dir.path() / "models.yaml", ModelYaml("local"));
  Catalog catalog;
  Recorder recorder;
  DirectoryCatalogSource source(dir.path(), catalog, recorder.Options());
  ASSERT_TRUE(source.Start().ok());

  WriteFile(dir.path() / "models.yaml", "# only a comment is new\n" + ModelYaml("local"));
  auto deadline = std::chrono::steady_clock::now() + kWaitLimit;
  while (source.reload_count() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_EQ(source.reload_count(), 1u);
  EXPECT_EQ(catalog.Current()->generation, 1u);
  EXPECT_EQ(recorder.generations(), std::vector<uint64_t>{1});
  EXPECT_FALSE(source.LastError().has_value());
}

}  // namespace
}  // namespace agentd::catalog
