// Workspace: the run's directory, and the only place file tools may touch.
//
// Every path a model gives is resolved with openat2(2) relative to a descriptor of the workspace
// root with RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS, so the kernel refuses "..", absolute paths
// and symbolic links that lead outside (including through chains of links) — no lexical
// checking that a rename race could defeat. As a convenience for models, an absolute path that
// starts with the workspace's own path is accepted and made relative first.
//
// Errors: kPermissionDenied for escapes, kNotFound for missing files, kInvalidArgument for
// malformed paths (empty, NUL, a file where a directory is needed), kInternal otherwise. Every
// message names the path as the model gave it. Thread-safe (immutable after Open).
#pragma once

#include <string>
#include <string_view>

#include <sys/types.h>

#include "core/result.h"

namespace agentd::runner {

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

class Workspace {
 public:
  // Opens an existing directory given by absolute path.
  static core::Result<Workspace> Open(std::string_view root);

  const std::string& root() const { return root_; }
  int fd() const { return fd_.get(); }

  // The path relative to the root, as openat2 will see it ("." for the root itself).
  core::Result<std::string> Relative(std::string_view path) const;

  // openat2(root, path, flags | O_CLOEXEC, mode) beneath the root; `path` as the model gave it.
  core::Result<UniqueFd> OpenBeneath(std::string_view path, int flags, mode_t mode = 0) const;

  // Creates the missing parent directories of `path` (mode 0755), each step resolved beneath
  // the root.
  core::Status MakeParents(std::string_view path) const;

 private:
  Workspace(std::string root, UniqueFd fd) : root_(std::move(root)), fd_(std::move(fd)) {}

  std::string root_;
  UniqueFd fd_;
};

// openat2 beneath `dir_fd` with extra resolve flags; errno-style errors mapped as above, with
// `shown_path` in messages.
core::Result<UniqueFd> OpenAt2(int dir_fd, const std::string& path, int flags, mode_t mode,
                               uint64_t resolve, std::string_view shown_path);

}  // namespace agentd::runner
