#include "runner/tools/shell_tool.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace agentd::runner {
namespace {

using core::Json;
using SteadyClock = std::chrono::steady_clock;

class ShellToolTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // As in RunnerMain: orphans of killed commands are re-parented to us and reaped.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void SetUp() override {
    char tmpl[] = "/tmp/agentd-shell-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    auto ws = Workspace::Open(root_);
    ASSERT_TRUE(ws.ok());
    workspace_ = std::make_unique<Workspace>(std::move(ws).value());
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }

  std::unique_ptr<Tool> Shell(ShellOptions options = {}) {
    return NewShellTool(*workspace_, stop_, std::move(options));
  }

  std::string ReadWorkspaceFile(const std::string& name) {
    std::ifstream in(root_ + "/" + name);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Polls until `name` exists in the workspace (or the deadline passes).
  bool WaitForFile(const std::string& name, std::chrono::seconds limit) {
    auto deadline = SteadyClock::now() + limit;
    while (SteadyClock::now() < deadline) {
      struct stat st {};
      if (::stat((root_ + "/" + name).c_str(), &st) == 0 && st.st_size > 0) return true;
      ::poll(nullptr, 0, 2);
    }
    return false;
  }

  static bool ProcessGone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

  std::string root_;
  StopSignal stop_;
  std::unique_ptr<Workspace> workspace_;
};

TEST_F(ShellToolTest, CapturesStdoutAndStderrAndExitCodeInTheWorkspace) {
  auto out = Shell()->Call({{"command", "echo out; echo err 1>&2; pwd"}});
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_TRUE(out->ok);
  EXPECT_NE(out->text.find("out\n"), std::string::npos);
  EXPECT_NE(out->text.find("err\n"), std::string::npos);
  EXPECT_NE(out->text.find(root_ + "\n"), std::string::npos);
  EXPECT_NE(out->text.find("[exit code 0]"), std::string::npos);
}

TEST_F(ShellToolTest, ReportsNonZeroExitAsNotOk) {
  auto out = Shell()->Call({{"command", "echo failing; exit 3"}});
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->ok);
  EXPECT_NE(out->text.find("[exit code 3]"), std::string::npos);
}

TEST_F(ShellToolTest, GivesTheCommandAnEmptyStdin) {
  auto out = Shell()->Call({{"command", "cat; echo after"}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->text, "after\n[exit code 0]");
}

TEST_F(ShellToolTest, KeepsHeadAndTailOfLongOutput) {
  auto out = Shell({.max_output_bytes = 1000})
                 ->Call({{"command", "echo FIRST; yes 0123456789 | head -c 200000; echo LAST"}});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->truncated);
  EXPECT_LT(out->text.size(), 1200u);
  EXPECT_EQ(out->text.substr(0, 6), "FIRST\n");
  EXPECT_NE(out->text.find("LAST\n[exit code 0]"), std::string::npos);
  EXPECT_NE(out->text.find("bytes of output omitted"), std::string::npos);
}

TEST_F(ShellToolTest, TimeoutKillsTheWholeProcessGroup) {
  auto started = SteadyClock::now();
  auto out = Shell({.timeout = std::chrono::milliseconds(300)})
                 ->Call({{"command", "sleep 100 & echo $! > bg.pid; sleep 100"}});
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->ok);
  EXPECT_NE(out->text.find("timed out after 300ms"), std::string::npos);
  EXPECT_LT(SteadyClock::now() - started, std::chrono::seconds(5));
  pid_t background = std::atoi(ReadWorkspaceFile("bg.pid").c_str());
  ASSERT_GT(background, 0);
  EXPECT_TRUE(ProcessGone(background)) << "background sleep " << background << " survived";
}

TEST_F(ShellToolTest, EscalatesToSigkillWhenTheCommandIgnoresSigterm) {
  auto out = Shell({.timeout = std::chrono::milliseconds(200),
                    .kill_grace = std::chrono::milliseconds(200)})
                 ->Call({{"command", "trap '' TERM; echo $$ > sh.pid; while :; do :; done"}});
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->ok);
  pid_t shell = std::atoi(ReadWorkspaceFile("sh.pid").c_str());
  ASSERT_GT(shell, 0);
  EXPECT_TRUE(ProcessGone(shell));
}

TEST_F(ShellToolTest, KillsBackgroundProcessesLeftBehindWhenTheCommandExits) {
  auto started = SteadyClock::now();
  auto out = Shell()->Call({{"command", "sleep 100 & echo $! > bg.pid"}});
  ASSERT_TRUE(out.ok());
  EXPECT_TRUE(out->ok);
  EXPECT_LT(SteadyClock::now() - started, std::chrono::seconds(5));
  pid_t background = std::atoi(ReadWorkspaceFile("bg.pid").c_str());
  ASSERT_GT(background, 0);
  EXPECT_TRUE(ProcessGone(background));
}

TEST_F(ShellToolTest, StopSignalInterruptsARunningCommand) {
  auto tool = Shell();
  std::thread stopper([&] {
    if (WaitForFile("started", std::chrono::seconds(10))) stop_.Stop(StopCause::kInterrupted);
  });
  auto out = tool->Call({{"command", "echo yes > started; sleep 100"}});
  stopper.join();
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->ok);
  EXPECT_NE(out->text.find("[interrupted"), std::string::npos);
  auto refused = tool->Call({{"command", "echo never"}});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, core::ErrorCode::kAborted);
}

TEST_F(ShellToolTest, HidesSecretsFromTheEnvironment) {
  ::setenv("AGENTD_SHELL_TEST_SECRET_KEY", "sk-1", 1);
  ::setenv("AGENTD_SHELL_TEST_TOKEN", "tok", 1);
  ::setenv("SHELL_TEST_VISIBLE", "seen", 1);
  auto tool = Shell({.hidden_env = {"AGENTD_SHELL_TEST_SECRET_KEY"}});
  ::setenv("MODEL_KEY_FOR_SHELL_TEST", "sk-2", 1);
  auto tool2 = Shell({.hidden_env = {"MODEL_KEY_FOR_SHELL_TEST"}});
  auto out = tool->Call({{"command",
                          "echo \"[$AGENTD_SHELL_TEST_SECRET_KEY][$AGENTD_SHELL_TEST_TOKEN]"
                          "[$SHELL_TEST_VISIBLE]\""}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->text, "[][][seen]\n[exit code 0]");
  auto out2 = tool2->Call({{"command", "echo \"[$MODEL_KEY_FOR_SHELL_TEST]\""}});
  ASSERT_TRUE(out2.ok());
  EXPECT_EQ(out2->text, "[]\n[exit code 0]");
}

TEST_F(ShellToolTest, DoesNotLeakFileDescriptorsIntoTheCommand) {
  int fd = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GT(fd, 2);
  auto out = Shell()->Call(
      {{"command", "[ -e /proc/$$/fd/" + std::to_string(fd) + " ] && echo leaked || echo closed"}});
  ::close(fd);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->text, "closed\n[exit code 0]");
}

TEST_F(ShellToolTest, RejectsBadArguments) {
  auto tool = Shell();
  EXPECT_EQ(tool->Call({{"command", ""}}).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(tool->Call({{"cmd", "ls"}}).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(tool->Call({{"command", "ls"}, {"timeout_seconds", 0}}).error().code,
            core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(tool->Call(Json("ls")).error().code, core::ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace agentd::runner
