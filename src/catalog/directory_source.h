// The catalog from a directory of YAML/JSON files, reloaded when the files change.
//
// Fits the two ways config reaches a directory in production: edited in place, or swapped
// whole by git-sync (or a Kubernetes ConfigMap volume) through a symlink that is atomically
// replaced with rename(2). A reload reads everything again and validates it as a whole; an
// invalid result is rejected and the previous snapshot stays in use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catalog/snapshot.h"
#include "catalog/source.h"
#include "core/result.h"

namespace agentd::catalog {

// Reads every *.yaml, *.yml and *.json file under `root`, recursively and in sorted path order,
// following symlinks (to files and directories, `root` included) and skipping hidden entries
// (names starting with '.', such as `.git` or the `..2026_01_01_...` directories of a
// ConfigMap volume; `root` itself is never skipped, whatever it points to).
// The result is validated whole: each object (resources/codec.h), names unique per kind, and
// references (references.h). It has generation 0 and origin "dir:<root>".
// Errors: kNotFound when `root` does not exist; kInvalidArgument for invalid content, naming
// the file, line, object and field (a name defined twice names both places);
// kFailedPrecondition when a file cannot be read.
core::Result<Snapshot> LoadSnapshotFromDirectory(const std::filesystem::path& root);

// The files LoadSnapshotFromDirectory reads under `root`, in the order it reads them. Errors as
// for LoadSnapshotFromDirectory (kNotFound, kInvalidArgument for a tree nested too deep or with
// too many files, kFailedPrecondition for an unreadable directory).
core::Result<std::vector<std::filesystem::path>> ListObjectFiles(const std::filesystem::path& root);

// Every problem of a directory at once, for `agentctl validate`: the files of
// LoadSnapshotFromDirectory, each document decoded on its own
// (resources::ParseLocatedObjectsReportingAll), duplicates and references
// (FindReferenceProblems) checked over the valid objects.
struct DirectoryReport {
  Snapshot snapshot;  // the valid objects; of a name defined twice, the first
  // "file:line: message": file by file (its invalid documents, then its names defined twice),
  // then the reference problems.
  std::vector<std::string> problems;
  size_t files = 0;    // object files read
  size_t objects = 0;  // documents decoded, valid or not
};
// Fails only when the tree cannot be listed (errors as ListObjectFiles); an unreadable or invalid
// file is a problem in the report.
core::Result<DirectoryReport> CheckDirectory(const std::filesystem::path& root);

struct DirectoryCatalogOptions {
  // Quiet time after the last change before reloading, so that a burst of writes (an editor
  // saving, git-sync checking out) gives one reload. A steady stream of changes delays the
  // reload by at most 10 times this.
  std::chrono::milliseconds debounce{2000};
  // Called with each snapshot swapped into the catalog (at Start and after each accepted
  // reload), from the thread that loaded it. Must not call Stop().
  std::function<void(const Snapshot&)> on_change;
  // Called with the error of each rejected reload, from the watcher thread.
  std::function<void(const core::Error&)> on_error;
};

// Keeps `catalog` filled from a directory (see LoadSnapshotFromDirectory), watching it with
// inotify: the directory tree itself and its parent directory, so that swapping `root` (a
// symlink such as git-sync's `current -> rev-XXXX`) by rename is seen. After the debounce the
// whole tree is reloaded; an accepted snapshot that differs from the current one is swapped in
// with generation + 1. A rejected one is logged (core::LogError) and kept in LastError() until
// a later reload succeeds; the catalog keeps the previous snapshot and watching goes on.
//
// Lifecycle: construct (`catalog` must outlive this), Start() once, Stop() (or destroy). The
// watcher runs on its own thread; LastError() and reload_count() may be called from any thread.
class DirectoryCatalogSource final : public CatalogSource {
 public:
  DirectoryCatalogSource(std::filesystem::path root, Catalog& catalog,
                         DirectoryCatalogOptions options = {});
  ~DirectoryCatalogSource() override;

  DirectoryCatalogSource(const DirectoryCatalogSource&) = delete;
  DirectoryCatalogSource& operator=(const DirectoryCatalogSource&) = delete;

  // Loads the directory into the catalog (generation = current + 1) and starts the watcher.
  // Returns the load error (the catalog is untouched) or kInternal if inotify is unavailable.
  core::Status Start() override;
  void Stop() override;

  // The error of the most recent reload when it was rejected; nullopt after a success.
  std::optional<core::Error> LastError() const;
  // Reloads attempted since Start (accepted, rejected or unchanged).
  uint64_t reload_count() const { return reload_count_.load(); }

 private:
  void Run();
  // Re-reads the tree and watches every directory in it, plus the parent of `root`.
  void UpdateWatches();
  // True when the pending inotify events concern the catalog.
  bool DrainEvents();
  void Reload();
  void Publish(Snapshot snapshot);

  const std::filesystem::path root_;        // as given: used in messages
  const std::filesystem::path watch_root_;  // absolute, normalised
  Catalog& catalog_;                        // outlives this
  const DirectoryCatalogOptions options_;

  int inotify_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: written by Stop() to end the watcher thread
  std::thread thread_;
  // Watch descriptor -> whether it is the parent directory (whose events only matter when they
  // name root). Used only by the watcher thread after Start.
  std::map<int, bool> watches_;

  mutable std::mutex mu_;
  std::optional<core::Error> last_error_;  // guarded by mu_
  std::atomic<uint64_t> reload_count_{0};
};

}  // namespace agentd::catalog
