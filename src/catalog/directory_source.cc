#include "catalog/directory_source.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>
#include <vector>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/references.h"
#include "core/log.h"
#include "resources/codec.h"

namespace agentd::catalog {

namespace fs = std::filesystem;
using core::Result;
using core::Status;

namespace {

constexpr int kMaxTreeDepth = 16;
constexpr size_t kMaxFiles = 10'000;

struct Tree {
  std::vector<fs::path> directories;  // root first
  std::vector<fs::path> files;        // *.yaml, *.yml, *.json; sorted
};

bool IsObjectFile(const fs::path& path) {
  std::string ext = path.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// Walks `dir` following symlinks, skipping hidden entries; `visited` (device, inode) pairs
// stop symlink cycles.
Status Walk(const fs::path& dir, int depth, std::set<std::pair<dev_t, ino_t>>* visited,
            Tree* tree) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return core::FailedPrecondition("cannot read directory \"" + dir.string() +
                                    "\": " + std::strerror(errno));
  }
  if (!visited->insert({st.st_dev, st.st_ino}).second) return core::Ok();  // a cycle
  if (depth > kMaxTreeDepth) {
    return core::InvalidArgument("directory \"" + dir.string() + "\" is nested deeper than " +
                                 std::to_string(kMaxTreeDepth) + " levels");
  }
  tree->directories.push_back(dir);
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().starts_with('.')) continue;
    entries.push_back(it->path());
  }
  if (ec) {
    return core::FailedPrecondition("cannot read directory \"" + dir.string() +
                                    "\": " + ec.message());
  }
  std::sort(entries.begin(), entries.end());
  for (const fs::path& entry : entries) {
    fs::file_status status = fs::status(entry, ec);  // follows symlinks
    if (ec) continue;                                // e.g. a dangling symlink: nothing to load
    if (fs::is_directory(status)) {
      AGENTD_RETURN_IF_ERROR(Walk(entry, depth + 1, visited, tree));
    } else if (fs::is_regular_file(status) && IsObjectFile(entry)) {
      if (tree->files.size() >= kMaxFiles) {
        return core::InvalidArgument("more than " + std::to_string(kMaxFiles) + " files under \"" +
                                     tree->directories.front().string() + "\"");
      }
      tree->files.push_back(entry);
    }
  }
  return core::Ok();
}

Result<Tree> ListTree(const fs::path& root) {
  std::error_code ec;
  fs::file_status status = fs::status(root, ec);
  if (ec || !fs::exists(status)) {
    return core::NotFound("config directory \"" + root.string() + "\" does not exist");
  }
  if (!fs::is_directory(status)) {
    return core::InvalidArgument("config path \"" + root.string() + "\" is not a directory");
  }
  Tree tree;
  std::set<std::pair<dev_t, ino_t>> visited;
  AGENTD_RETURN_IF_ERROR(Walk(root, 0, &visited, &tree));
  // Sorted by full path, so a file in a subdirectory comes where its path sorts.
  std::sort(tree.files.begin(), tree.files.end());
  return tree;
}

Result<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return core::FailedPrecondition("cannot read \"" + path.string() +
                                    "\": " + std::strerror(errno));
  }
  // One byte over the limit is enough for the codec to report the size.
  std::string text(resources::kMaxFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return core::FailedPrecondition("cannot read \"" + path.string() + "\"");
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

// Adds `object` to its kind's map. When the name is taken, leaves the snapshot as it is and
// returns where the first definition was read from.
template <typename T>
std::optional<std::string> Insert(std::map<std::string, T, std::less<>>* objects, T object,
                                  std::string_view kind, const std::string& location,
                                  Snapshot* snapshot) {
  std::string key = std::string(kind) + "/" + object.metadata.name;
  if (objects->contains(object.metadata.name)) return snapshot->locations[key];
  snapshot->locations[key] = location;
  std::string name = object.metadata.name;
  objects->emplace(std::move(name), std::move(object));
  return std::nullopt;
}

// Adds the object to the snapshot; on a name defined twice returns the earlier location.
std::optional<std::string> AddObject(resources::AnyObject object, const std::string& location,
                                     Snapshot* snapshot) {
  struct Visitor {
    const std::string& location;
    Snapshot* snapshot;
    std::optional<std::string> operator()(resources::Model& model) const {
      return Insert(&snapshot->models, std::move(model), "Model", location, snapshot);
    }
    std::optional<std::string> operator()(resources::Instruction& instruction) const {
      return Insert(&snapshot->instructions, std::move(instruction), "Instruction", location,
                    snapshot);
    }
    std::optional<std::string> operator()(resources::Agent& agent) const {
      return Insert(&snapshot->agents, std::move(agent), "Agent", location, snapshot);
    }
    std::optional<std::string> operator()(resources::Budget& budget) const {
      return Insert(&snapshot->budgets, std::move(budget), "Budget", location, snapshot);
    }
    std::optional<std::string> operator()(resources::TierPolicy& policy) const {
      return Insert(&snapshot->tier_policies, std::move(policy), "TierPolicy", location, snapshot);
    }
  };
  return std::visit(Visitor{location, snapshot}, object);
}

Status Add(resources::LocatedObject located, Snapshot* snapshot) {
  std::string kind(resources::KindOf(located.object));
  std::string name = resources::MetaOf(located.object).name;
  auto first = AddObject(std::move(located.object), located.location, snapshot);
  if (!first) return core::Ok();
  return core::InvalidArgument(kind + " \"" + name + "\" is defined twice: at " + *first +
                               " and at " + located.location);
}

fs::path AbsoluteNormal(const fs::path& path) {
  std::error_code ec;
  fs::path out = fs::absolute(path, ec).lexically_normal();
  if (out.has_parent_path() && !out.has_filename()) out = out.parent_path();  // "dir/" -> "dir"
  return out;
}

}  // namespace

Result<std::vector<fs::path>> ListObjectFiles(const fs::path& root) {
  AGENTD_ASSIGN_OR_RETURN(Tree tree, ListTree(root));
  return std::move(tree.files);
}

Result<DirectoryReport> CheckDirectory(const fs::path& root) {
  AGENTD_ASSIGN_OR_RETURN(Tree tree, ListTree(root));
  DirectoryReport report;
  report.snapshot.origin = "dir:" + root.string();
  report.files = tree.files.size();
  for (const fs::path& file : tree.files) {
    auto text = ReadFile(file);
    if (!text.ok()) {
      report.problems.push_back(text.error().message);
      continue;
    }
    resources::ParseReport parsed =
        resources::ParseLocatedObjectsReportingAll(*text, file.string());
    report.objects += parsed.documents;
    for (core::Error& error : parsed.errors) report.problems.push_back(std::move(error.message));
    for (resources::LocatedObject& located : parsed.objects) {
      std::string kind(resources::KindOf(located.object));
      std::string name = resources::MetaOf(located.object).name;
      auto first = AddObject(std::move(located.object), located.location, &report.snapshot);
      if (first) {
        report.problems.push_back(located.location + ": " + kind + " \"" + name +
                                  "\" is defined twice (first at " + *first + ")");
      }
    }
  }
  for (core::Error& error : FindReferenceProblems(report.snapshot)) {
    report.problems.push_back(std::move(error.message));
  }
  return report;
}

Result<Snapshot> LoadSnapshotFromDirectory(const fs::path& root) {
  AGENTD_ASSIGN_OR_RETURN(Tree tree, ListTree(root));
  Snapshot snapshot;
  snapshot.origin = "dir:" + root.string();
  for (const fs::path& file : tree.files) {
    AGENTD_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
    AGENTD_ASSIGN_OR_RETURN(auto objects, resources::ParseLocatedObjects(text, file.string()));
    for (resources::LocatedObject& located : objects) {
      AGENTD_RETURN_IF_ERROR(Add(std::move(located), &snapshot));
    }
  }
  AGENTD_RETURN_IF_ERROR(ValidateReferences(snapshot));
  return snapshot;
}

DirectoryCatalogSource::DirectoryCatalogSource(fs::path root, Catalog& catalog,
                                               DirectoryCatalogOptions options)
    : root_(std::move(root)),
      watch_root_(AbsoluteNormal(root_)),
      catalog_(catalog),
      options_(std::move(options)) {}

DirectoryCatalogSource::~DirectoryCatalogSource() { Stop(); }

Status DirectoryCatalogSource::Start() {
  AGENTD_CHECK(inotify_fd_ < 0) << "DirectoryCatalogSource::Start called twice";
  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (inotify_fd_ < 0 || wake_fd_ < 0) {
    std::string why = std::strerror(errno);
    Stop();
    return core::Internal("cannot watch the config directory: " + why);
  }
  // Watch before loading: a change made while loading then still causes a reload.
  UpdateWatches();
  auto snapshot = LoadSnapshotFromDirectory(root_);
  if (!snapshot.ok()) {
    Stop();
    return std::move(snapshot).error();
  }
  Publish(std::move(snapshot).value());
  thread_ = std::thread([this] { Run(); });
  return core::Ok();
}

void DirectoryCatalogSource::Stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    // The eventfd counter cannot overflow from one write; nothing to handle on failure.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  inotify_fd_ = wake_fd_ = -1;
  watches_.clear();
}

std::optional<core::Error> DirectoryCatalogSource::LastError() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void DirectoryCatalogSource::Run() {
  using Clock = std::chrono::steady_clock;
  const auto max_delay = options_.debounce * 10;
  // A pending reload is a (first change, reload time) pair; plain values rather than optionals
  // because g++ 12 at -O2 mistakes optional<time_point> for uninitialised here.
  bool pending = false;
  Clock::time_point first_change{};
  Clock::time_point reload_at{};
  while (true) {
    int timeout_ms = -1;
    if (pending) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(reload_at - Clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    pollfd fds[2] = {{.fd = wake_fd_, .events = POLLIN}, {.fd = inotify_fd_, .events = POLLIN}};
    int ready = ::poll(fds, 2, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      core::LogError("catalog watcher stopped: poll failed",
                     {{"dir", root_.string()}, {"error", std::strerror(errno)}});
      return;
    }
    if (fds[0].revents != 0) return;  // Stop()
    auto now = Clock::now();
    if (fds[1].revents != 0 && DrainEvents()) {
      if (!pending) first_change = now;
      pending = true;
      reload_at = std::min(now + options_.debounce, first_change + max_delay);
    }
    if (pending && now >= reload_at) {
      pending = false;
      UpdateWatches();
      Reload();
    }
  }
}

bool DirectoryCatalogSource::DrainEvents() {
  const std::string root_name = watch_root_.filename().string();
  bool relevant = false;
  alignas(inotify_event) char buffer[16 * 1024];
  while (true) {
    ssize_t n = ::read(inotify_fd_, buffer, sizeof buffer);
    if (n <= 0) break;  // EAGAIN: drained
    for (char* p = buffer; p < buffer + n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(p);
      p += sizeof(inotify_event) + event->len;
      if (event->mask & IN_IGNORED) continue;  // a watch we removed, or of a deleted directory
      if (event->mask & IN_Q_OVERFLOW) {
        relevant = true;
        continue;
      }
      auto it = watches_.find(event->wd);
      if (it == watches_.end()) continue;
      bool is_parent = it->second;
      if (is_parent && (event->len == 0 || root_name != event->name)) continue;
      relevant = true;
    }
  }
  return relevant;
}

void DirectoryCatalogSource::UpdateWatches() {
  constexpr uint32_t kDirMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR;
  constexpr uint32_t kParentMask =
      IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR;
  std::map<int, bool> next;
  // Adding a watch on an inode already watched returns its descriptor, so there is no moment
  // without a watch; descriptors no longer wanted are removed afterwards.
  int parent = inotify_add_watch(inotify_fd_, watch_root_.parent_path().c_str(), kParentMask);
  if (parent >= 0) next[parent] = true;
  auto tree = ListTree(watch_root_);
  if (tree.ok()) {
    for (const fs::path& dir : tree->directories) {
      int wd = inotify_add_watch(inotify_fd_, dir.c_str(), kDirMask);
      if (wd >= 0) {
        next[wd] = false;
      } else {
        core::LogWarn("cannot watch a config directory",
                      {{"dir", dir.string()}, {"error", std::strerror(errno)}});
      }
    }
  }
  for (const auto& [wd, is_parent] : watches_) {
    if (!next.contains(wd)) inotify_rm_watch(inotify_fd_, wd);
  }
  watches_ = std::move(next);
}

void DirectoryCatalogSource::Reload() {
  ++reload_count_;
  auto snapshot = LoadSnapshotFromDirectory(root_);
  if (!snapshot.ok()) {
    const core::Error& error = snapshot.error();
    core::LogError("catalog reload rejected; keeping the previous snapshot",
                   {{"dir", root_.string()},
                    {"generation", catalog_.Current()->generation},
                    {"error", error.message}});
    {
      std::lock_guard lock(mu_);
      last_error_ = error;
    }
    if (options_.on_error) options_.on_error(error);
    return;
  }
  {
    std::lock_guard lock(mu_);
    last_error_.reset();
  }
  if (catalog_.Current()->SameObjectsAs(*snapshot)) {
    core::LogDebug("catalog reload found no change", {{"dir", root_.string()}});
    return;
  }
  Publish(std::move(snapshot).value());
}

void DirectoryCatalogSource::Publish(Snapshot snapshot) {
  snapshot.generation = catalog_.Current()->generation + 1;
  auto shared = std::make_shared<const Snapshot>(std::move(snapshot));
  catalog_.Replace(shared);
  core::LogInfo("catalog loaded", {{"dir", root_.string()},
                                   {"generation", shared->generation},
                                   {"models", shared->models.size()},
                                   {"instructions", shared->instructions.size()},
                                   {"agents", shared->agents.size()},
                                   {"budgets", shared->budgets.size()},
                                   {"tierPolicies", shared->tier_policies.size()}});
  if (options_.on_change) options_.on_change(*shared);
}

}  // namespace agentd::catalog
