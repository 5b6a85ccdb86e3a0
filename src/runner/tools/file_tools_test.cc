#include "runner/tools/file_tools.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/tools/toolset.h"

namespace agentd::runner {
namespace {

using core::Json;

class FileToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/agentd-tools-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    root_ = base_ + "/ws";
    ASSERT_EQ(::mkdir(root_.c_str(), 0700), 0);
    // A secret next to the workspace, to try to reach.
    WriteHostFile(base_ + "/secret.txt", "top secret\n");
    auto ws = Workspace::Open(root_);
    ASSERT_TRUE(ws.ok()) << ws.error().message;
    workspace_ = std::make_unique<Workspace>(std::move(ws).value());
    read_ = NewReadFileTool(*workspace_, limits_);
    write_ = NewWriteFileTool(*workspace_, limits_);
    list_ = NewListFilesTool(*workspace_, limits_);
  }
  void TearDown() override { std::system(("rm -rf " + base_).c_str()); }

  static void WriteHostFile(const std::string& path, const std::string& content) {
    std::ofstream(path) << content;
  }
  static std::string ReadHostFile(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  core::Result<ToolOutput> Read(Json args) { return read_->Call(args); }
  core::Result<ToolOutput> Write(Json args) { return write_->Call(args); }
  core::Result<ToolOutput> List(Json args) { return list_->Call(args); }

  std::string base_;
  std::string root_;
  FileToolLimits limits_{.max_read_bytes = 4096, .max_write_bytes = 8192, .max_entries = 50};
  std::unique_ptr<Workspace> workspace_;
  std::unique_ptr<Tool> read_;
  std::unique_ptr<Tool> write_;
  std::unique_ptr<Tool> list_;
};

TEST_F(FileToolsTest, WritesThenReadsAFileCreatingParentDirectories) {
  auto written = Write({{"path", "docs/notes/README.md"}, {"content", "# Title\nbody\n"}});
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(ReadHostFile(root_ + "/docs/notes/README.md"), "# Title\nbody\n");

  auto read = Read({{"path", "docs/notes/README.md"}});
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->text, "# Title\nbody\n");
  EXPECT_FALSE(read->truncated);
}

TEST_F(FileToolsTest, OverwritesExistingFileCompletely) {
  ASSERT_TRUE(Write({{"path", "a.txt"}, {"content", "a long first version"}}).ok());
  ASSERT_TRUE(Write({{"path", "a.txt"}, {"content", "short"}}).ok());
  EXPECT_EQ(ReadHostFile(root_ + "/a.txt"), "short");
}

TEST_F(FileToolsTest, ReadsALineRangeWithOffsetAndLimit) {
  std::string text;
  for (int i = 1; i <= 10; ++i) text += "line " + std::to_string(i) + "\n";
  WriteHostFile(root_ + "/lines.txt", text);
  auto read = Read({{"path", "lines.txt"}, {"offset", 3}, {"limit", 2}});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->text.substr(0, 14), "line 3\nline 4\n");
  EXPECT_NE(read->text.find("offset=5"), std::string::npos);
  EXPECT_TRUE(read->truncated);
}

TEST_F(FileToolsTest, CutsLongFilesAndSaysWhereToContinue) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "0123456789\n";
  WriteHostFile(root_ + "/big.txt", text);
  auto read = Read({{"path", "big.txt"}});
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->truncated);
  EXPECT_LT(read->text.size(), 4096u + 200u);
  EXPECT_NE(read->text.find("continue with offset="), std::string::npos);
}

TEST_F(FileToolsTest, RefusesParentDirectoryEscapes) {
  ASSERT_EQ(::mkdir((root_ + "/a").c_str(), 0755), 0);
  for (const char* path : {"../secret.txt", "a/../../secret.txt", "./../secret.txt"}) {
    auto read = Read({{"path", path}});
    ASSERT_FALSE(read.ok()) << path;
    EXPECT_EQ(read.error().code, core::ErrorCode::kPermissionDenied) << path;
    EXPECT_NE(read.error().message.find(path), std::string::npos);
  }
  auto write = Write({{"path", "../evil.txt"}, {"content", "x"}});
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(::access((base_ + "/evil.txt").c_str(), F_OK), -1);
}

TEST_F(FileToolsTest, RefusesAbsolutePathsOutsideButAcceptsOnesInsideTheWorkspace) {
  auto outside = Read({{"path", "/etc/passwd"}});
  ASSERT_FALSE(outside.ok());
  EXPECT_EQ(outside.error().code, core::ErrorCode::kPermissionDenied);

  WriteHostFile(root_ + "/inside.txt", "ok\n");
  auto inside = Read({{"path", root_ + "/inside.txt"}});
  ASSERT_TRUE(inside.ok()) << inside.error().message;
  EXPECT_EQ(inside->text, "ok\n");
}

TEST_F(FileToolsTest, RefusesSymlinksThatLeadOutside) {
  ASSERT_EQ(::symlink("/", (root_ + "/root").c_str()), 0);
  ASSERT_EQ(::symlink("../secret.txt", (root_ + "/up").c_str()), 0);
  ASSERT_EQ(::symlink("up", (root_ + "/chain").c_str()), 0);
  ASSERT_EQ(::symlink(base_.c_str(), (root_ + "/base").c_str()), 0);

  for (const char* path : {"root/etc/passwd", "up", "chain", "base/secret.txt"}) {
    auto read = Read({{"path", path}});
    ASSERT_FALSE(read.ok()) << path;
    EXPECT_EQ(read.error().code, core::ErrorCode::kPermissionDenied) << path;
  }
  auto write_through = Write({{"path", "base/planted.txt"}, {"content", "x"}});
  ASSERT_FALSE(write_through.ok());
  EXPECT_EQ(::access((base_ + "/planted.txt").c_str(), F_OK), -1);
  auto write_link = Write({{"path", "up"}, {"content", "overwritten"}});
  ASSERT_FALSE(write_link.ok());
  EXPECT_EQ(ReadHostFile(base_ + "/secret.txt"), "top secret\n");
}

TEST_F(FileToolsTest, FollowsSymlinksThatStayInside) {
  ASSERT_TRUE(Write({{"path", "real/file.txt"}, {"content", "inside"}}).ok());
  ASSERT_EQ(::symlink("real", (root_ + "/alias").c_str()), 0);
  auto read = Read({{"path", "alias/file.txt"}});
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read->text, "inside");
}

TEST_F(FileToolsTest, RejectsBadArgumentsWithClearErrors) {
  EXPECT_EQ(Read(Json::array()).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(Read({{"path", 7}}).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(Read({{"nopath", "x"}}).error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(Read({{"path", "missing.txt"}}).error().code, core::ErrorCode::kNotFound);
  EXPECT_EQ(Read({{"path", ""}}).error().code, core::ErrorCode::kInvalidArgument);
  ASSERT_EQ(::mkdir((root_ + "/dir").c_str(), 0755), 0);
  auto dir = Read({{"path", "dir"}});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("list_files"), std::string::npos);
}

TEST_F(FileToolsTest, RefusesWritesOverTheSizeLimit) {
  auto write = Write({{"path", "big.txt"}, {"content", std::string(9000, 'x')}});
  ASSERT_FALSE(write.ok());
  EXPECT_EQ(write.error().code, core::ErrorCode::kResourceExhausted);
}

TEST_F(FileToolsTest, RefusesToReadOrWriteFifos) {
  ASSERT_EQ(::mkfifo((root_ + "/fifo").c_str(), 0600), 0);
  EXPECT_FALSE(Read({{"path", "fifo"}}).ok());  // must not block
  EXPECT_FALSE(Write({{"path", "fifo"}, {"content", "x"}}).ok());
}

TEST_F(FileToolsTest, ListsEntriesSortedWithDirectoriesMarked) {
  ASSERT_TRUE(Write({{"path", "b.txt"}, {"content", "b"}}).ok());
  ASSERT_TRUE(Write({{"path", "a/inner.txt"}, {"content", "i"}}).ok());
  ASSERT_EQ(::symlink("/etc", (root_ + "/link").c_str()), 0);

  auto flat = List(Json::object());
  ASSERT_TRUE(flat.ok()) << flat.error().message;
  EXPECT_EQ(flat->text, "a/\nb.txt\nlink -> /etc\n");

  auto deep = List({{"recursive", true}});
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(deep->text, "a/\na/inner.txt\nb.txt\nlink -> /etc\n");

  auto sub = List({{"path", "a"}});
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->text, "a/inner.txt\n");
}

TEST_F(FileToolsTest, ListingStopsAtTheEntryLimit) {
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(Write({{"path", "f" + std::to_string(100 + i)}, {"content", ""}}).ok());
  }
  auto listed = List(Json::object());
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->truncated);
  EXPECT_NE(listed->text.find("stopped at 50 entries"), std::string::npos);
}

TEST_F(FileToolsTest, ListingRefusesDirectoriesOutside) {
  auto listed = List({{"path", ".."}});
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().code, core::ErrorCode::kPermissionDenied);
}

TEST_F(FileToolsTest, ToolsetRejectsUnknownToolNames) {
  StopSignal stop;
  auto tools = NewTools({"read_file", "web_search"}, *workspace_, stop, {});
  ASSERT_FALSE(tools.ok());
  EXPECT_NE(tools.error().message.find("web_search"), std::string::npos);
  auto good = NewTools({"shell", "read_file", "shell"}, *workspace_, stop, {});
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->size(), 2u);
}

}  // namespace
}  // namespace agentd::runner
