#include "runner/tools/file_tools.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runner/text_limits.h"

namespace agentd::runner {
namespace {

using core::Json;

constexpr int kMaxListDepth = 20;

core::Status RequireObject(const Json& args, std::string_view tool) {
  if (!args.is_object()) {
    return core::InvalidArgument(std::string(tool) + " arguments must be a JSON object");
  }
  return core::Ok();
}

core::Result<struct stat> StatFd(int fd, std::string_view path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return core::Internal("cannot stat \"" + std::string(path) + "\": " + std::strerror(errno));
  }
  return st;
}

class ReadFileTool final : public Tool {
 public:
  ReadFileTool(const Workspace& workspace, FileToolLimits limits)
      : workspace_(workspace), limits_(limits) {}

  std::string_view name() const override { return "read_file"; }
  std::string_view description() const override {
    return "Read a text file in the workspace. Returns its content, optionally from line "
           "`offset` (1-based) and at most `limit` lines. Long files are cut; the note at the "
           "end says which offset continues.";
  }
  const Json& parameters() const override {
    static const Json kSchema = {
        {"type", "object"},
        {"properties",
         {{"path", {{"type", "string"}, {"description", "File path relative to the workspace"}}},
          {"offset", {{"type", "integer"}, {"description", "First line to return (1-based)"}}},
          {"limit", {{"type", "integer"}, {"description", "Maximum number of lines"}}}}},
        {"required", {"path"}}};
    return kSchema;
  }

  core::Result<ToolOutput> Call(const Json& args) override {
    AGENTD_RETURN_IF_ERROR(RequireObject(args, "read_file"));
    AGENTD_ASSIGN_OR_RETURN(std::string path, core::RequiredString(args, "path", "read_file"));
    AGENTD_ASSIGN_OR_RETURN(auto offset_arg, core::OptionalInt(args, "offset", "read_file"));
    AGENTD_ASSIGN_OR_RETURN(auto limit_arg, core::OptionalInt(args, "limit", "read_file"));
    int64_t offset = std::max<int64_t>(1, offset_arg.value_or(1));
    int64_t limit = limit_arg.value_or(0);
    if (limit < 0) return core::InvalidArgument("read_file limit must not be negative");

    AGENTD_ASSIGN_OR_RETURN(UniqueFd fd,
                            workspace_.OpenBeneath(path, O_RDONLY | O_NONBLOCK | O_NOCTTY));
    AGENTD_ASSIGN_OR_RETURN(struct stat st, StatFd(fd.get(), path));
    if (S_ISDIR(st.st_mode)) {
      return core::InvalidArgument("\"" + path + "\" is a directory; use list_files");
    }
    if (!S_ISREG(st.st_mode)) {
      return core::InvalidArgument("\"" + path + "\" is not a regular file");
    }
    if (st.st_size == 0) return ToolOutput{.text = "[empty file]"};

    std::string out;
    int64_t line = 1;
    int64_t lines_taken = 0;
    bool cut = false;
    bool more = false;
    std::vector<char> buffer(64 * 1024);
    bool done = false;
    while (!done) {
      ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return core::Internal("cannot read \"" + path + "\": " + std::strerror(errno));
      }
      if (n == 0) break;
      std::string_view chunk(buffer.data(), static_cast<size_t>(n));
      while (!chunk.empty()) {
        if (limit > 0 && lines_taken >= limit) {
          more = true;
          done = true;
          break;
        }
        size_t newline = chunk.find('\n');
        std::string_view segment =
            chunk.substr(0, newline == std::string_view::npos ? chunk.size() : newline + 1);
        chunk.remove_prefix(segment.size());
        bool ends_line = segment.back() == '\n';
        if (line >= offset) {
          if (out.size() + segment.size() > limits_.max_read_bytes) {
            out.append(Utf8Prefix(segment, limits_.max_read_bytes - out.size()));
            cut = true;
            done = true;
            break;
          }
          out.append(segment);
          if (ends_line) ++lines_taken;
        }
        if (ends_line) ++line;
      }
    }
    if (out.find('\0') != std::string::npos) {
      return ToolOutput{.text =
                            "[binary file of " + std::to_string(st.st_size) + " bytes; not shown]"};
    }
    if (out.empty() && offset > 1) {
      return ToolOutput{.text =
                            "[offset " + std::to_string(offset) + " is past the end of the file]"};
    }
    if (cut) {
      out += "\n[... output cut at " + std::to_string(limits_.max_read_bytes) +
             " bytes; continue with offset=" + std::to_string(line) + "]";
    } else if (more) {
      out += "[... more lines follow; continue with offset=" + std::to_string(line) + "]";
    }
    return ToolOutput{.text = std::move(out), .truncated = cut || more};
  }

 private:
  const Workspace& workspace_;
  const FileToolLimits limits_;
};

class WriteFileTool final : public Tool {
 public:
  WriteFileTool(const Workspace& workspace, FileToolLimits limits)
      : workspace_(workspace), limits_(limits) {}

  std::string_view name() const override { return "write_file"; }
  std::string_view description() const override {
    return "Create or overwrite a file in the workspace with the given content. Missing parent "
           "directories are created.";
  }
  const Json& parameters() const override {
    static const Json kSchema = {
        {"type", "object"},
        {"properties",
         {{"path", {{"type", "string"}, {"description", "File path relative to the workspace"}}},
          {"content", {{"type", "string"}, {"description", "The complete new file content"}}}}},
        {"required", {"path", "content"}}};
    return kSchema;
  }

  core::Result<ToolOutput> Call(const Json& args) override {
    AGENTD_RETURN_IF_ERROR(RequireObject(args, "write_file"));
    AGENTD_ASSIGN_OR_RETURN(std::string path, core::RequiredString(args, "path", "write_file"));
    AGENTD_ASSIGN_OR_RETURN(std::string content,
                            core::RequiredString(args, "content", "write_file"));
    if (content.size() > limits_.max_write_bytes) {
      return core::ResourceExhausted("content of " + std::to_string(content.size()) +
                                     " bytes exceeds the write_file limit of " +
                                     std::to_string(limits_.max_write_bytes) + " bytes");
    }
    if (path.back() == '/') {
      return core::InvalidArgument("\"" + path + "\" names a directory, not a file");
    }
    AGENTD_RETURN_IF_ERROR(workspace_.MakeParents(path));
    AGENTD_ASSIGN_OR_RETURN(
        UniqueFd fd,
        workspace_.OpenBeneath(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_NOCTTY, 0644));
    AGENTD_ASSIGN_OR_RETURN(struct stat st, StatFd(fd.get(), path));
    if (!S_ISREG(st.st_mode)) {
      return core::InvalidArgument("\"" + path + "\" is not a regular file");
    }
    if (::ftruncate(fd.get(), 0) != 0) {
      return core::Internal("cannot truncate \"" + path + "\": " + std::strerror(errno));
    }
    std::string_view rest = content;
    while (!rest.empty()) {
      ssize_t n = ::write(fd.get(), rest.data(), rest.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOSPC || errno == EDQUOT) {
          return core::ResourceExhausted("no space left writing \"" + path + "\"");
        }
        return core::Internal("cannot write \"" + path + "\": " + std::strerror(errno));
      }
      rest.remove_prefix(static_cast<size_t>(n));
    }
    return ToolOutput{.text = "wrote " + std::to_string(content.size()) + " bytes to " + path};
  }

 private:
  const Workspace& workspace_;
  const FileToolLimits limits_;
};

class ListFilesTool final : public Tool {
 public:
  ListFilesTool(const Workspace& workspace, FileToolLimits limits)
      : workspace_(workspace), limits_(limits) {}

  std::string_view name() const override { return "list_files"; }
  std::string_view description() const override {
    return "List the files and directories under a directory of the workspace (default: the "
           "workspace root). Directories end in '/'. With recursive=true, lists the whole tree.";
  }
  const Json& parameters() const override {
    static const Json kSchema = {
        {"type", "object"},
        {"properties",
         {{"path", {{"type", "string"}, {"description", "Directory relative to the workspace"}}},
          {"recursive", {{"type", "boolean"}, {"description", "Descend into subdirectories"}}}}},
        {"required", Json::array()}};
    return kSchema;
  }

  core::Result<ToolOutput> Call(const Json& args) override {
    Json object_args = args.is_null() ? Json::object() : args;
    AGENTD_RETURN_IF_ERROR(RequireObject(object_args, "list_files"));
    AGENTD_ASSIGN_OR_RETURN(auto path_arg, core::OptionalString(object_args, "path", "list_files"));
    AGENTD_ASSIGN_OR_RETURN(auto recursive_arg,
                            core::OptionalBool(object_args, "recursive", "list_files"));
    std::string path = path_arg.value_or(".");
    if (path.empty()) path = ".";
    AGENTD_ASSIGN_OR_RETURN(std::string relative, workspace_.Relative(path));
    AGENTD_ASSIGN_OR_RETURN(UniqueFd dir, workspace_.OpenBeneath(path, O_RDONLY | O_DIRECTORY));

    std::string prefix;
    if (relative != ".") {
      prefix = relative;
      while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
      if (prefix.starts_with("./")) prefix = prefix.substr(2);
      prefix += "/";
    }
    std::vector<std::string> entries;
    bool truncated = false;
    AGENTD_RETURN_IF_ERROR(
        Walk(std::move(dir), prefix, recursive_arg.value_or(false), 0, entries, truncated));
    std::string text;
    for (const auto& e : entries) {
      text += e;
      text += '\n';
    }
    if (entries.empty()) text = "(empty directory)\n";
    if (truncated) {
      text += "[... listing stopped at " + std::to_string(limits_.max_entries) + " entries]\n";
    }
    return ToolOutput{.text = std::move(text), .truncated = truncated};
  }

 private:
  core::Status Walk(UniqueFd dir_fd, const std::string& prefix, bool recursive, int depth,
                    std::vector<std::string>& entries, bool& truncated) const {
    DIR* dir = ::fdopendir(dir_fd.get());
    if (dir == nullptr) {
      return core::Internal("cannot list \"" + prefix + "\": " + std::strerror(errno));
    }
    dir_fd.release();  // now owned by `dir`
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(dir)) {
      std::string_view n = entry->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    std::sort(names.begin(), names.end());
    int fd = ::dirfd(dir);
    core::Status status;
    for (const auto& n : names) {
      if (entries.size() >= limits_.max_entries) {
        truncated = true;
        break;
      }
      struct stat st {};
      if (::fstatat(fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
      std::string shown = prefix + n;
      if (S_ISDIR(st.st_mode)) {
        entries.push_back(shown + "/");
        if (recursive && n != ".git" && depth < kMaxListDepth) {
          auto sub = OpenAt2(fd, n, O_RDONLY | O_DIRECTORY, 0,
                             RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, shown);
          if (sub.ok()) {
            status =
                Walk(std::move(sub).value(), shown + "/", recursive, depth + 1, entries, truncated);
            if (!status.ok() || truncated) break;
          }
        }
      } else if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t len = ::readlinkat(fd, n.c_str(), target, sizeof(target));
        entries.push_back(shown + " -> " +
                          (len >= 0 ? std::string(target, static_cast<size_t>(len)) : "?"));
      } else {
        entries.push_back(shown);
      }
    }
    ::closedir(dir);
    return status;
  }

  const Workspace& workspace_;
  const FileToolLimits limits_;
};

}  // namespace

std::unique_ptr<Tool> NewReadFileTool(const Workspace& workspace, FileToolLimits limits) {
  return std::make_unique<ReadFileTool>(workspace, limits);
}
std::unique_ptr<Tool> NewWriteFileTool(const Workspace& workspace, FileToolLimits limits) {
  return std::make_unique<WriteFileTool>(workspace, limits);
}
std::unique_ptr<Tool> NewListFilesTool(const Workspace& workspace, FileToolLimits limits) {
  return std::make_unique<ListFilesTool>(workspace, limits);
}

}  // namespace agentd::runner
