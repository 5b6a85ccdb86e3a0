#include "runner/tools/workspace.h"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace agentd::runner {
namespace {

constexpr int kMaxPathComponents = 128;

std::string Quote(std::string_view path) {
  std::string shown(path.substr(0, 200));
  if (path.size() > 200) shown += "...";
  return "\"" + shown + "\"";
}

core::Error MapErrno(int err, std::string_view shown_path) {
  std::string p = Quote(shown_path);
  switch (err) {
    case EXDEV:
      return core::PermissionDenied("path " + p + " leads outside the workspace");
    case ELOOP:
      return core::PermissionDenied("path " + p +
                                    " has too many symbolic links or a link that is not allowed");
    case ENOENT:
      return core::NotFound("no such file or directory: " + p);
    case ENOTDIR:
      return core::InvalidArgument("a component of path " + p + " is not a directory");
    case EISDIR:
      return core::InvalidArgument("path " + p + " is a directory");
    case EEXIST:
      return core::AlreadyExists("path " + p + " already exists");
    case EACCES:
    case EPERM:
    case EROFS:
      return core::PermissionDenied("permission denied for path " + p);
    case ENAMETOOLONG:
      return core::InvalidArgument("path " + p + " is too long");
    case ENOSPC:
    case EDQUOT:
      return core::ResourceExhausted("no space left writing " + p);
    case ENOSYS:
      return core::Internal("openat2 is not supported by this kernel (Linux 5.6 or later needed)");
    default:
      return core::Internal("cannot open " + p + ": " + std::strerror(err));
  }
}

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

core::Result<UniqueFd> OpenAt2(int dir_fd, const std::string& path, int flags, mode_t mode,
                               uint64_t resolve, std::string_view shown_path) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) != 0 ? mode : 0;
  how.resolve = resolve;
  // EAGAIN: a concurrent rename raced with ".." resolution; the kernel asks us to try again.
  for (int attempt = 0; attempt < 16; ++attempt) {
    long fd = ::syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof(how));  // NOLINT
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    return MapErrno(errno, shown_path);
  }
  return core::Unavailable("path " + Quote(shown_path) + " kept changing while being opened");
}

core::Result<Workspace> Workspace::Open(std::string_view root) {
  std::string normalized(root);
  while (normalized.size() > 1 && normalized.back() == '/') normalized.pop_back();
  if (normalized.empty() || normalized[0] != '/') {
    return core::InvalidArgument("workspace " + Quote(root) + " is not an absolute path");
  }
  int fd = ::open(normalized.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    return core::Error(MapErrno(errno, normalized)).Wrap("cannot open the workspace");
  }
  return Workspace(std::move(normalized), UniqueFd(fd));
}

core::Result<std::string> Workspace::Relative(std::string_view path) const {
  if (path.empty()) return core::InvalidArgument("empty path");
  if (path.find('\0') != std::string_view::npos) {
    return core::InvalidArgument("path " + Quote(path) + " contains a NUL byte");
  }
  if (path[0] != '/') return std::string(path);
  if (path == root_) return std::string(".");
  if (path.size() > root_.size() && path.substr(0, root_.size()) == root_ &&
      path[root_.size()] == '/') {
    std::string_view rest = path.substr(root_.size());
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    return rest.empty() ? std::string(".") : std::string(rest);
  }
  return core::PermissionDenied("absolute path " + Quote(path) +
                                " is outside the workspace; use a path relative to the "
                                "workspace");
}

core::Result<UniqueFd> Workspace::OpenBeneath(std::string_view path, int flags, mode_t mode) const {
  AGENTD_ASSIGN_OR_RETURN(std::string relative, Relative(path));
  return OpenAt2(fd_.get(), relative, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, path);
}

core::Status Workspace::MakeParents(std::string_view path) const {
  AGENTD_ASSIGN_OR_RETURN(std::string relative, Relative(path));
  std::vector<std::string> components;
  size_t start = 0;
  while (start <= relative.size()) {
    size_t slash = relative.find('/', start);
    if (slash == std::string::npos) break;  // the last component is the file itself
    std::string component = relative.substr(start, slash - start);
    if (!component.empty() && component != ".") components.push_back(std::move(component));
    start = slash + 1;
  }
  if (components.size() > static_cast<size_t>(kMaxPathComponents)) {
    return core::InvalidArgument("path " + Quote(path) + " is too deep");
  }
  std::string prefix = ".";
  for (const auto& component : components) {
    AGENTD_ASSIGN_OR_RETURN(UniqueFd dir, OpenAt2(fd_.get(), prefix, O_PATH | O_DIRECTORY, 0,
                                                  RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, path));
    if (::mkdirat(dir.get(), component.c_str(), 0755) != 0 && errno != EEXIST) {
      return MapErrno(errno, path);
    }
    prefix += "/" + component;
  }
  return core::Ok();
}

}  // namespace agentd::runner
