#include "cli/validate.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <stdlib.h>

#include "core/check.h"

namespace agentd::cli {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "validate_test.XXXXXX").string();
    AGENTD_CHECK(mkdtemp(pattern.data()) != nullptr) << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  // Writes `text` to `name` under the directory and returns the file's path as a string.
  std::string Write(const std::string& name, const std::string& text) const {
    fs::path file = path_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out << text;
    AGENTD_CHECK(out.good()) << "cannot write " << file;
    return file.string();
  }

 private:
  fs::path path_;
};

constexpr char kHeader[] = "apiVersion: agentd.dev/v1alpha1\n";

std::string Model(const std::string& name) {
  return std::string(kHeader) + "kind: Model\nmetadata: {name: " + name +
         "}\nspec: {provider: openai-compatible, baseUrl: 'http://127.0.0.1:8000/v1', model: m}\n";
}

// An agent of 4 lines; `extra` is added inside spec's flow mapping.
std::string Agent(const std::string& name, const std::string& extra,
                  const std::string& labels = "{team: platform}") {
  return std::string(kHeader) + "kind: Agent\nmetadata: {name: " + name + ", labels: " + labels +
         "}\nspec: {model: local" + (extra.empty() ? "" : ", " + extra) + "}\n";
}

std::string Budget(const std::string& name, const std::string& scope,
                   const std::string& extra = "") {
  return std::string(kHeader) + "kind: Budget\nmetadata: {name: " + name +
         "}\nspec: {scope: " + scope + ", limitUsd: \"100\"" + (extra.empty() ? "" : ", " + extra) +
         "}\n";
}

struct Outcome {
  int code = 0;
  std::string out;
  std::vector<std::string> problems;  // the lines on err
};

Outcome Validate(const fs::path& dir, const ValidateOptions& options = {}) {
  std::ostringstream out;
  std::ostringstream err;
  Outcome outcome;
  outcome.code = RunValidate(dir, out, err, options);
  outcome.out = out.str();
  std::istringstream lines(err.str());
  for (std::string line; std::getline(lines, line);) outcome.problems.push_back(line);
  return outcome;
}

TEST(ValidateTest, ACleanDirectoryExitsZeroWithASummary) {
  TempDir dir;
  dir.Write("models.yaml", Model("local"));
  dir.Write("agents/dev.yaml", Agent("dev",
                                     "tier: 3, tools: [shell], limits: {maxCostUsd: \"2\"}, "
                                     "image: 'ghcr.io/x/agent:1.2@sha256:" +
                                         std::string(64, 'a') + "'"));
  dir.Write("budgets.yml", Budget("organisation", "{}"));
  Outcome outcome = Validate(dir.path());
  EXPECT_EQ(outcome.problems, std::vector<std::string>{});
  EXPECT_EQ(outcome.code, 0);
  EXPECT_EQ(outcome.out, "checked 3 objects in 3 files: 0 problems\n");
}

TEST(ValidateTest, ReportsEveryProblemWithItsFileAndLine) {
  TempDir dir;
  dir.Write("a-models.yaml", Model("local"));
  std::string agents = dir.Write(
      "b-agents.yaml",
      Agent("no-tier", "") + "---\n" +
          Agent("loose", "tier: 1, tools: [read_file, shell], limits: {maxTurns: 30}") + "---\n" +
          Agent("unpinned", "tier: 2, image: 'ghcr.io/x/agent:latest'") + "---\n" +
          // Only budgets for one caller or other teams: not covered.
          Agent("orphan", "tier: 3", "{team: nobody}") + "---\n" + Agent("broken", "tier: 7") +
          "---\n" + Agent("lost", "tier: 3, instructions: [nope]"));
  std::string budgets =
      dir.Write("c-budgets.yaml", Budget("platform", "{team: platform}") + "---\n" +
                                      Budget("mars", "{agent: lost}", "timeZone: Mars/Olympus") +
                                      "---\n" + Budget("ghost", "{agent: ghost}") + "---\n" +
                                      Budget("ci-only", "{apiKey: ci, team: nobody}"));
  Outcome outcome = Validate(dir.path());
  EXPECT_EQ(outcome.code, 1);
  EXPECT_EQ(outcome.out, "checked 11 objects in 3 files: 9 problems\n");
  EXPECT_EQ(
      outcome.problems,
      (std::vector<std::string>{
          // schema, in file order
          agents + ":24: Agent \"broken\": spec.tier must be between 0 and 4, got 7",
          // references
          agents + ":26: Agent \"lost\": spec.instructions[0] refers to Instruction \"nope\" which "
                   "does not exist",
          budgets + ":11: Budget \"ghost\": spec.scope.agent refers to Agent \"ghost\" which does "
                    "not exist",
          // governance, in file order
          agents + ":1: Agent \"no-tier\": has no tier (set spec.tier to 1-4 so that a tier policy "
                   "applies)",
          agents + ":6: Agent \"loose\": spec.tools[1]: tool \"shell\" is not allowed in tier 1 "
                   "(allowed: read_file, list_files) [tool_not_allowed]",
          agents + ":6: Agent \"loose\": spec.limits.maxTurns: maxTurns 30 is above the tier 1 cap "
                   "of 10 per run [max_turns_above_tier]",
          agents + ":11: Agent \"unpinned\": spec.image \"ghcr.io/x/agent:latest\" is not pinned "
                   "by digest (want <image>@sha256:<64 lowercase hex digits>)",
          agents + ":16: Agent \"orphan\": is not covered by any Budget (add one whose scope "
                   "matches it, such as {agent: orphan}, or an organisation budget with scope {})",
          budgets + ":6: Budget \"mars\": spec.timeZone cannot be loaded: unknown time zone "
                    "\"Mars/Olympus\" (no /usr/share/zoneinfo/Mars/Olympus)",
      }));
}

TEST(ValidateTest, ABudgetScopedToOneCallerDoesNotCoverAnAgent) {
  TempDir dir;
  dir.Write("a.yaml", Model("local") + "---\n" + Agent("dev", "tier: 3"));
  dir.Write("b.yaml", Budget("ci-only", "{apiKey: ci}"));
  Outcome outcome = Validate(dir.path());
  ASSERT_EQ(outcome.problems.size(), 1u);
  EXPECT_NE(outcome.problems[0].find("Agent \"dev\": is not covered by any Budget"),
            std::string::npos);

  dir.Write("b.yaml", Budget("tier-3", "{tier: 3}"));
  EXPECT_EQ(Validate(dir.path()).code, 0);
  dir.Write("b.yaml", Budget("dev", "{agent: dev, team: platform, tier: 3}"));
  EXPECT_EQ(Validate(dir.path()).code, 0);
  dir.Write("b.yaml", Budget("dev", "{agent: dev, tier: 2}"));
  EXPECT_EQ(Validate(dir.path()).code, 1);
}

TEST(ValidateTest, ATierPolicyObjectReplacesTheBuiltInDefaults) {
  TempDir dir;
  dir.Write("a.yaml", Model("local") + "---\n" +
                          Agent("dev", "tier: 1, tools: [shell], limits: {maxTurns: 30}") +
                          "---\n" + Budget("org", "{}"));
  EXPECT_EQ(Validate(dir.path()).problems.size(), 2u);  // shell and 30 turns loosen the defaults
  dir.Write("tiers.yaml", std::string(kHeader) +
                              "kind: TierPolicy\nmetadata: {name: tier-1}\nspec: {tier: 1, "
                              "allowedModels: [other], maxTurns: 40}\n");
  Outcome outcome = Validate(dir.path());
  EXPECT_EQ(outcome.problems,
            std::vector<std::string>{
                (dir.path() / "a.yaml").string() +
                ":6: Agent \"dev\": spec.model: model \"local\" is not allowed in tier 1 (allowed: "
                "other) [model_not_allowed]"});
}

TEST(ValidateTest, LoadsBudgetTimeZonesFromTheZoneinfoDirectory) {
  TempDir dir;
  TempDir zoneinfo;
  dir.Write("a.yaml",
            Budget("utc", "{}") + "---\n" + Budget("berlin", "{}", "timeZone: Europe/Berlin"));
  Outcome outcome = Validate(dir.path(), ValidateOptions{.zoneinfo_dir = zoneinfo.path().string()});
  ASSERT_EQ(outcome.problems.size(), 1u);  // UTC needs no file
  EXPECT_NE(outcome.problems[0].find(":6: Budget \"berlin\": spec.timeZone cannot be loaded: "
                                     "unknown time zone \"Europe/Berlin\""),
            std::string::npos)
      << outcome.problems[0];
  zoneinfo.Write("Europe/Berlin", "not a TZif file");
  outcome = Validate(dir.path(), ValidateOptions{.zoneinfo_dir = zoneinfo.path().string()});
  ASSERT_EQ(outcome.problems.size(), 1u);
  EXPECT_NE(outcome.problems[0].find("spec.timeZone cannot be loaded: time zone \"Europe/Berlin\""),
            std::string::npos)
      << outcome.problems[0];
}

TEST(ValidateTest, AMissingDirectoryIsAProblem) {
  TempDir dir;
  Outcome outcome = Validate(dir.path() / "nope");
  EXPECT_EQ(outcome.code, 1);
  ASSERT_EQ(outcome.problems.size(), 1u);
  EXPECT_NE(outcome.problems[0].find("does not exist"), std::string::npos);
  EXPECT_EQ(outcome.out, "checked 0 objects in 0 files: 1 problem\n");
  EXPECT_EQ(ValidateDirectory(dir.path() / "nope").error().code, core::ErrorCode::kNotFound);
}

TEST(ValidateTest, AnEmptyDirectoryIsClean) {
  TempDir dir;
  Outcome outcome = Validate(dir.path());
  EXPECT_EQ(outcome.code, 0);
  EXPECT_EQ(outcome.out, "checked 0 objects in 0 files: 0 problems\n");
}

TEST(ValidateTest, PinnedImagesCarryASha256Digest) {
  std::string digest(64, 'f');
  EXPECT_TRUE(IsPinnedImage("ghcr.io/x/agent@sha256:" + digest));
  EXPECT_TRUE(IsPinnedImage("ghcr.io/x/agent:1.2.3@sha256:" + digest));
  EXPECT_TRUE(IsPinnedImage("localhost:5000/agent@sha256:" + std::string(64, '0')));
  EXPECT_FALSE(IsPinnedImage("ghcr.io/x/agent:1.2.3"));
  EXPECT_FALSE(IsPinnedImage("ghcr.io/x/agent@sha256:" + digest.substr(1)));
  EXPECT_FALSE(IsPinnedImage("ghcr.io/x/agent@sha256:" + digest + "0"));
  EXPECT_FALSE(IsPinnedImage("ghcr.io/x/agent@sha256:" + std::string(64, 'F')));
  EXPECT_FALSE(IsPinnedImage("ghcr.io/x/agent@sha512:" + digest));
  EXPECT_FALSE(IsPinnedImage("@sha256:" + digest));
  EXPECT_FALSE(IsPinnedImage(""));
}

// The shipped examples/ must pass the governance check CI pipelines run.
TEST(ValidateTest, TheShippedExamplesAreClean) {
  const char* source_dir = std::getenv("AGENTD_SOURCE_DIR");  // set by CTest
  fs::path root = source_dir != nullptr
                      ? fs::path(source_dir)
                      : fs::path(__FILE__).parent_path().parent_path().parent_path();
  if (!fs::exists(root / "examples")) {
    GTEST_SKIP() << "no examples directory at " << root;
  }
  Outcome outcome = Validate(root / "examples");
  EXPECT_EQ(outcome.problems, std::vector<std::string>{});
  EXPECT_EQ(outcome.code, 0);
  EXPECT_EQ(outcome.out.rfind("checked ", 0), 0u);
}

}  // namespace
}  // namespace agentd::cli
