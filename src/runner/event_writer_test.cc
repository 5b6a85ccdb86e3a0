#include "runner/event_writer.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/v1/runner_protocol.h"
#include "testing/fake_clock.h"

namespace agentd::runner {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) lines.push_back(line);
  return lines;
}

class EventWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/agentd-event-writer-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    journal_path_ = dir_ + "/journal.jsonl";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::string dir_;
  std::string journal_path_;
  agentd::testing::FakeClock clock_;
};

TEST_F(EventWriterTest, WritesNumberedLinesToJournalAndPipe) {
  int journal = ::open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  {
    EventWriter writer(journal, pipe_fds[1], clock_);
    writer.Emit("phase", {{"phase", "Running"}});
    writer.Emit("delta", {{"content", "hi"}});
    EXPECT_EQ(writer.last_seq(), 2);
  }
  ::close(pipe_fds[1]);
  ::close(journal);
  std::string piped;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0;) piped.append(buffer, n);
  ::close(pipe_fds[0]);

  std::string journaled = ReadFile(journal_path_);
  EXPECT_EQ(piped, journaled);
  auto lines = Lines(journaled);
  ASSERT_EQ(lines.size(), 2u);
  auto first = api::v1::ParseRunnerEvent(lines[0]);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->seq, 1);
  EXPECT_EQ(first->type, "phase");
  auto second = api::v1::ParseRunnerEvent(lines[1]);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->seq, 2);
  EXPECT_EQ(second->data["content"], "hi");
}

TEST_F(EventWriterTest, KeepsWritingTheJournalWhenThePipeBreaks) {
  int journal = ::open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ::close(pipe_fds[0]);  // the reader went away
  ::signal(SIGPIPE, SIG_IGN);
  EventWriter writer(journal, pipe_fds[1], clock_);
  writer.Emit("phase", {{"phase", "Running"}});
  writer.Emit("result", {{"status", "succeeded"}});
  EXPECT_TRUE(writer.events_pipe_broken());
  ::close(pipe_fds[1]);
  ::close(journal);
  EXPECT_EQ(Lines(ReadFile(journal_path_)).size(), 2u);
}

TEST_F(EventWriterTest, CutsEventsThatWouldExceedTheLineLimit) {
  int journal = ::open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  EventWriter writer(journal, -1, clock_);
  writer.Emit(
      "result",
      {{"status", "failed"}, {"reason", "ModelError"}, {"error", std::string(400 * 1024, 'e')}});
  ::close(journal);
  auto lines = Lines(ReadFile(journal_path_));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_LT(lines[0].size(), api::v1::kMaxRunnerEventBytes);
  auto event = api::v1::ParseRunnerEvent(lines[0]);
  ASSERT_TRUE(event.ok()) << event.error().message;
  EXPECT_EQ(event->data["status"], "failed");
  EXPECT_EQ(event->data["reason"], "ModelError");
}

}  // namespace
}  // namespace agentd::runner
