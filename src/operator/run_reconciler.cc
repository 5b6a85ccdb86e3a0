#include "operator/run_reconciler.h"

#include <future>

#include "core/log.h"
#include "kube/resource.h"
#include "operator/conditions.h"

namespace agentd::operator_ {

using core::Json;
using std::chrono::milliseconds;

struct RunReconciler::Shared {
  const core::Clock* clock = nullptr;
  milliseconds coalesce{0};
  std::mutex mu;
  std::shared_ptr<WorkQueue> queue;  // null while stopped
  std::map<std::string, std::chrono::steady_clock::time_point> hold_until;

  // A phase event of a followed run: look at its Run again. Runs on the publisher's thread.
  void OnPhase(const std::string& key, const runs::Event& event) {
    if (event.type != "phase") return;
    auto phase = runs::ParsePhase(event.data.value("phase", ""));
    std::lock_guard lock(mu);
    if (!queue) return;
    if (!phase.ok() || runs::IsTerminal(*phase) || coalesce <= milliseconds::zero()) {
      queue->Add(key);
      return;
    }
    hold_until[key] = clock->SteadyNow() + coalesce;
    queue->AddAfter(key, coalesce);
  }
};

namespace {

const Json& StatusOf(const Json& object) {
  static const Json kEmpty = Json::object();
  auto it = object.find("status");
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

}  // namespace

RunReconciler::RunReconciler(RunReconcilerDeps deps, RunReconcilerOptions options)
    : deps_(deps), options_(std::move(options)), shared_(std::make_shared<Shared>()) {
  shared_->clock = &deps_.clock;
  shared_->coalesce = options_.status_coalesce;
}

RunReconciler::~RunReconciler() { Stop(); }

void RunReconciler::Start() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (running_.load()) return;
  queue_ = std::make_shared<WorkQueue>(deps_.clock, options_.queue);
  {
    std::lock_guard lock(shared_->mu);
    shared_->queue = queue_;
    shared_->hold_until.clear();
  }
  {
    std::lock_guard lock(mu_);
    written_.clear();
    refused_.clear();
  }
  std::weak_ptr<WorkQueue> weak = queue_;
  auto enqueue = [weak](const Json& object) {
    if (auto queue = weak.lock()) queue->Add(kube::KeyOf(object));
  };
  kube::ReflectorHandler handler{
      .on_add = enqueue,
      .on_update = [enqueue](const Json&, const Json& object) { enqueue(object); },
      .on_delete = enqueue,
      // After every complete list: runs whose Run vanished unseen (deleted while no operator
      // watched, or between a watch's end and the relist) are cancelled.
      .on_synced =
          [weak] {
            if (auto queue = weak.lock()) queue->Add(kSweepKey);
          },
  };
  kube::ReflectorOptions reflector_options{.gvr = kinds::kRuns,
                                           .ns = options_.ns,
                                           .backoff = options_.reflector_backoff,
                                           .sleeper = options_.sleeper,
                                           .name = "runs.agentd.dev"};
  reflector_ = std::make_unique<kube::Reflector>(deps_.client, reflector_options, handler);
  running_.store(true);
  reflector_->Start();
  int workers = std::max(1, options_.workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
  core::LogInfo("operator: run reconciler started",
                {{"namespace", options_.ns.empty() ? "*" : options_.ns}, {"workers", workers}});
}

void RunReconciler::Stop() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!running_.load()) return;
  reflector_->Stop();
  queue_->ShutDown();
  {
    std::lock_guard lock(shared_->mu);
    shared_->queue.reset();
    shared_->hold_until.clear();
  }
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  running_.store(false);
  std::map<std::string, std::unique_ptr<bus::Subscription>> subscriptions;
  {
    std::lock_guard lock(mu_);
    subscriptions.swap(subscriptions_);
    tracked_keys_.clear();
    written_.clear();
  }
  subscriptions.clear();  // unsubscribes, outside our lock
  reflector_.reset();
  queue_.reset();
  core::LogInfo("operator: run reconciler stopped");
}

bool RunReconciler::running() const { return running_.load(); }

bool RunReconciler::WaitForSync(milliseconds timeout) const {
  std::lock_guard lifecycle(lifecycle_mu_);
  return reflector_ != nullptr && reflector_->WaitForSync(timeout);
}

void RunReconciler::Work() {
  while (auto key = queue_->Get()) {
    auto outcome = Reconcile(*key);
    if (outcome.ok()) {
      queue_->Forget(*key);
      if (outcome->requeue_after) queue_->AddAfter(*key, *outcome->requeue_after);
    } else {
      {
        std::lock_guard lock(mu_);
        ++stats_.errors;
      }
      auto delay = queue_->AddRateLimited(*key);
      core::LogWarn("operator: reconcile failed; retrying",
                    {{"run", *key},
                     {"error", outcome.error().message},
                     {"retryInMs", std::chrono::duration_cast<milliseconds>(delay).count()}});
    }
    queue_->Done(*key);
  }
}

std::optional<Json> RunReconciler::Current(const std::string& key) {
  std::optional<Json> cached = reflector_->cache().Get(key);
  std::lock_guard lock(mu_);
  auto it = written_.find(key);
  if (it == written_.end()) return cached;
  if (cached && it->second.replaced_versions.count(kube::ResourceVersionOf(*cached)) != 0) {
    return it->second.object;  // the watch has not delivered our write yet
  }
  written_.erase(it);  // the cache has caught up (or moved past it)
  return cached;
}

core::Result<std::optional<Json>> RunReconciler::Write(const std::string& key, const Json& object,
                                                       bool status, ReconcileOutcome& out) {
  kube::ObjectRef ref{kinds::kRuns, kube::NamespaceOf(object), kube::NameOf(object)};
  ++out.writes;
  auto written = status ? deps_.client.UpdateStatus(ref, object) : deps_.client.Update(ref, object);
  if (!written.ok()) {
    if (written.error().code == core::ErrorCode::kNotFound) return std::optional<Json>();
    if (written.error().code == core::ErrorCode::kAborted) {
      std::lock_guard lock(mu_);
      ++stats_.conflicts;
    }
    return std::move(written).error();
  }
  std::lock_guard lock(mu_);
  const std::string replaced = kube::ResourceVersionOf(object);
  Written& entry = written_[key];
  if (kube::ResourceVersionOf(entry.object) != replaced) entry.replaced_versions.clear();
  // Every version up to this write is older than what we hold now.
  entry.replaced_versions.insert(replaced);
  entry.object = *written;
  return std::optional<Json>(std::move(written).value());
}

core::Result<ReconcileOutcome> RunReconciler::Reconcile(const std::string& key) {
  AGENTD_CHECK(running_.load()) << "RunReconciler::Reconcile while stopped";
  ReconcileOutcome out;
  core::Status done = ReconcileKey(key, out);
  {
    std::lock_guard lock(mu_);
    ++stats_.reconciles;
    stats_.writes += out.writes;
  }
  if (!done.ok()) return std::move(done).error();
  return out;
}

core::Status RunReconciler::ReconcileKey(const std::string& key, ReconcileOutcome& out) {
  if (key == kSweepKey) return SweepOrphans();
  std::optional<Json> current = Current(key);
  if (!current) {
    // Deleted without our finalizer: the Job goes with its owner (garbage collection); the run
    // is cancelled here so it ends as Cancelled, not as a failure when its pod disappears.
    std::string run_id;
    {
      std::lock_guard lock(mu_);
      refused_.erase(key);
      if (auto it = tracked_keys_.find(key); it != tracked_keys_.end()) run_id = it->second;
    }
    if (!run_id.empty()) {
      auto ended = CancelIfActive(run_id, "kubernetes:" + key.substr(0, key.find('/')));
      if (!ended.ok()) return std::move(ended).error();
    }
    Untrack(key);
    return core::Ok();
  }
  Json object = std::move(*current);
  const std::string uid = kube::UidOf(object);
  const int64_t generation = kube::GenerationOf(object);
  std::string run_id = StatusOf(object).value("runId", "");
  if (run_id.empty()) {
    std::lock_guard lock(mu_);
    if (auto it = run_of_uid_.find(uid); it != run_of_uid_.end()) run_id = it->second;
  }

  if (IsBeingDeleted(object)) return Finalize(key, object, std::move(run_id), out);

  if (options_.finalizer && !HasFinalizer(object, kRunFinalizer)) {
    auto written = Write(key, WithFinalizer(object, kRunFinalizer), /*status=*/false, out);
    if (!written.ok()) return std::move(written).error();
    if (!written->has_value()) return core::Ok();  // deleted meanwhile
    {
      std::lock_guard lock(mu_);
      ++stats_.finalizer_adds;
    }
    object = std::move(**written);
  }

  const core::TimePoint now = deps_.clock.Now();
  if (run_id.empty()) {
    const Json& status = StatusOf(object);
    if (status.value("phase", "") == "Rejected" &&
        status.value("observedGeneration", int64_t{-1}) == generation) {
      return core::Ok();  // refused for good until the spec changes
    }
    {
      std::lock_guard lock(mu_);
      if (auto it = refused_.find(key); it != refused_.end() && it->second == generation) {
        return core::Ok();  // refused; waits for a spec or catalog change
      }
    }
    core::Result<store::CreateRunResult> created = core::Internal("not submitted");
    auto request = SubmitRequestFor(object);
    if (request.ok()) {
      out.submitted = true;
      created = SubmitAndWait(std::move(request).value());
    } else {
      created = std::move(request).error();
    }
    if (!created.ok()) {
      std::optional<Refusal> refusal = RefusalFor(created.error());
      if (!refusal) {
        return std::move(created).error();  // transient: backoff
      }
      {
        std::lock_guard lock(mu_);
        refused_[key] = generation;
      }
      Json desired = RefusedRunStatus(status, created.error(), *refusal, generation, now);
      if (desired != status) {
        Json updated = object;
        updated["status"] = std::move(desired);
        auto written = Write(key, updated, /*status=*/true, out);
        if (!written.ok()) return std::move(written).error();
        std::lock_guard lock(mu_);
        ++stats_.status_writes;
        return core::Ok();
      }
      return core::Ok();
    }
    out.run_created = created->created;
    run_id = created->run.id;
    {
      std::lock_guard lock(mu_);
      run_of_uid_[uid] = run_id;
      refused_.erase(key);
    }
    Hold(key);
  }

  // Follow the run before reading it, so a phase change in between is not missed.
  Track(run_id, key);
  auto run = deps_.store.GetRun(run_id);
  const Json& status = StatusOf(object);
  if (!run.ok()) {
    if (run.error().code != core::ErrorCode::kNotFound) return std::move(run).error();
    Untrack(key);
    Json desired = RunNotFoundStatus(status, run_id, generation, now);
    if (desired == status) return core::Ok();
    Json updated = std::move(object);
    updated["status"] = std::move(desired);
    auto written = Write(key, updated, /*status=*/true, out);
    if (!written.ok()) return std::move(written).error();
    std::lock_guard lock(mu_);
    ++stats_.status_writes;
    return core::Ok();
  }
  Json desired = RunStatusFor(status, *run, generation, now, options_.status);
  const bool terminal = runs::IsTerminal(run->phase);
  if (desired == status) {
    if (terminal) Untrack(key);
    return core::Ok();
  }
  if (!terminal) {
    if (milliseconds hold = HoldRemaining(key); hold > milliseconds::zero()) {
      out.requeue_after = hold;
      return core::Ok();
    }
  }
  Json updated = std::move(object);
  updated["status"] = std::move(desired);
  auto written = Write(key, updated, /*status=*/true, out);
  if (!written.ok()) return std::move(written).error();
  {
    std::lock_guard lock(mu_);
    ++stats_.status_writes;
    // The status names the run now (and Current() serves our write until the cache has it).
    if (written->has_value()) run_of_uid_.erase(uid);
  }
  if (terminal) Untrack(key);
  return core::Ok();
}

core::Result<bool> RunReconciler::CancelIfActive(const std::string& run_id,
                                                 const std::string& caller) {
  auto run = deps_.store.GetRun(run_id);
  if (!run.ok()) {
    if (run.error().code == core::ErrorCode::kNotFound) return true;
    return std::move(run).error();
  }
  if (runs::IsTerminal(run->phase)) return true;
  auto cancelled = deps_.runs.Cancel(run_id, caller);
  {
    std::lock_guard lock(mu_);
    ++stats_.cancels;
  }
  if (!cancelled.ok()) {
    if (cancelled.error().code == core::ErrorCode::kNotFound) return true;
    if (cancelled.error().code != core::ErrorCode::kFailedPrecondition) {
      return std::move(cancelled).error();
    }
    run = deps_.store.GetRun(run_id);  // it ended meanwhile
    if (!run.ok()) return std::move(run).error();
    return runs::IsTerminal(run->phase);
  }
  return runs::IsTerminal(cancelled->phase);
}

core::Status RunReconciler::Finalize(const std::string& key, const Json& object, std::string run_id,
                                     ReconcileOutcome& out) {
  const std::string caller = "kubernetes:" + kube::NamespaceOf(object);
  if (!HasFinalizer(object, kRunFinalizer)) {
    // Someone else's finalizer (or foreground deletion) keeps the Run a while: stop its run now.
    if (!run_id.empty()) {
      auto ended = CancelIfActive(run_id, caller);
      if (!ended.ok()) return std::move(ended).error();
    }
    Untrack(key);
    return core::Ok();
  }
  const Json& status = StatusOf(object);
  const Json* accepted =
      status.contains("conditions") ? FindCondition(status["conditions"], "Accepted") : nullptr;
  const bool refused = accepted != nullptr && accepted->value("status", "") == "False";
  if (run_id.empty() && !refused) {
    // The run may exist without the status saying so (a restart between the submission and the
    // status write): ask again with the same idempotency key, which returns it if it exists.
    if (auto request = SubmitRequestFor(object); request.ok()) {
      out.submitted = true;
      auto created = SubmitAndWait(std::move(request).value());
      if (created.ok()) {
        run_id = created->run.id;
        out.run_created = created->created;
      } else if (!RefusalFor(created.error())) {
        return std::move(created).error();
      }
    }
  }
  if (!run_id.empty()) {
    Track(run_id, key);  // its end wakes us
    auto ended = CancelIfActive(run_id, caller);
    if (!ended.ok()) return std::move(ended).error();
    if (!*ended) return core::Ok();  // stopping; the terminal phase event brings us back
  }
  Untrack(key);
  auto written = Write(key, WithoutFinalizer(object, kRunFinalizer), /*status=*/false, out);
  if (!written.ok()) return std::move(written).error();
  std::lock_guard lock(mu_);
  ++stats_.finalizer_removals;
  run_of_uid_.erase(kube::UidOf(object));
  return core::Ok();
}

core::Status RunReconciler::SweepOrphans() {
  std::set<std::string> live;  // uids of the Runs that exist
  for (const Json& object : reflector_->cache().List()) live.insert(kube::UidOf(object));
  store::RunFilter filter;
  if (!options_.ns.empty()) filter.labels[runs::kRunObjectNamespaceLabel] = options_.ns;
  int cancelled = 0;
  for (runs::Phase phase : {runs::Phase::kAwaitingApproval, runs::Phase::kQueued,
                            runs::Phase::kStarting, runs::Phase::kRunning}) {
    filter.phase = phase;
    std::string cursor;
    do {
      auto page = deps_.store.ListRuns(filter, 500, cursor);
      if (!page.ok()) return std::move(page).error();
      for (const runs::Run& run : page->runs) {
        auto uid = run.labels.find(runs::kRunObjectUidLabel);
        if (uid == run.labels.end() || live.count(uid->second) != 0) continue;
        auto ns = run.labels.find(runs::kRunObjectNamespaceLabel);
        auto ended = CancelIfActive(
            run.id, "kubernetes:" + (ns == run.labels.end() ? std::string() : ns->second));
        if (!ended.ok()) return std::move(ended).error();
        ++cancelled;
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
  }
  if (cancelled > 0) {
    core::LogInfo("operator: cancelled runs whose Run was deleted while no operator watched",
                  {{"runs", cancelled}});
  }
  return core::Ok();
}

core::Result<store::CreateRunResult> RunReconciler::SubmitAndWait(
    scheduler::SubmitRequest request) {
  {
    std::lock_guard lock(mu_);
    ++stats_.submissions;
  }
  auto promise = std::make_shared<std::promise<core::Result<store::CreateRunResult>>>();
  auto future = promise->get_future();
  deps_.runs.SubmitAsync(std::move(request),
                         [promise](core::Result<store::CreateRunResult> result) {
                           promise->set_value(std::move(result));
                         });
  if (future.wait_for(options_.submit_timeout) != std::future_status::ready) {
    return core::DeadlineExceeded("the run service did not answer a submission within " +
                                  std::to_string(options_.submit_timeout.count()) + " ms");
  }
  auto result = future.get();
  if (result.ok() && result->created) {
    std::lock_guard lock(mu_);
    ++stats_.runs_created;
  }
  return result;
}

void RunReconciler::Track(const std::string& run_id, const std::string& key) {
  std::unique_ptr<bus::Subscription> old;
  std::lock_guard lock(mu_);
  auto it = tracked_keys_.find(key);
  if (it != tracked_keys_.end()) {
    if (it->second == run_id) return;
    if (auto sub = subscriptions_.find(it->second); sub != subscriptions_.end()) {
      old = std::move(sub->second);
      subscriptions_.erase(sub);
    }
  }
  tracked_keys_[key] = run_id;
  std::shared_ptr<Shared> shared = shared_;
  subscriptions_[run_id] = deps_.bus.Subscribe(
      run_id, [shared, key](const runs::Event& event) { shared->OnPhase(key, event); });
}

void RunReconciler::Untrack(const std::string& key) {
  std::unique_ptr<bus::Subscription> sub;
  {
    std::lock_guard lock(mu_);
    auto it = tracked_keys_.find(key);
    if (it == tracked_keys_.end()) return;
    if (auto s = subscriptions_.find(it->second); s != subscriptions_.end()) {
      sub = std::move(s->second);
      subscriptions_.erase(s);
    }
    tracked_keys_.erase(it);
  }
  std::lock_guard lock(shared_->mu);
  shared_->hold_until.erase(key);
}

milliseconds RunReconciler::HoldRemaining(const std::string& key) const {
  std::lock_guard lock(shared_->mu);
  auto it = shared_->hold_until.find(key);
  if (it == shared_->hold_until.end()) return milliseconds::zero();
  auto remaining = it->second - deps_.clock.SteadyNow();
  if (remaining <= std::chrono::steady_clock::duration::zero()) return milliseconds::zero();
  // Round up so the requeue lands after the hold, not a hair before it.
  return std::chrono::ceil<milliseconds>(remaining);
}

void RunReconciler::Hold(const std::string& key) {
  if (options_.status_coalesce <= milliseconds::zero()) return;
  std::lock_guard lock(shared_->mu);
  shared_->hold_until[key] = deps_.clock.SteadyNow() + options_.status_coalesce;
}

void RunReconciler::ResyncPending() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!running_.load()) return;
  {
    std::lock_guard lock(mu_);
    refused_.clear();
  }
  for (const Json& object : reflector_->cache().List()) {
    if (StatusOf(object).value("runId", "").empty() && !IsBeingDeleted(object)) {
      queue_->Add(kube::KeyOf(object));
    }
  }
}

void RunReconciler::ResyncAll() {
  std::lock_guard lifecycle(lifecycle_mu_);
  if (!running_.load()) return;
  for (const Json& object : reflector_->cache().List()) queue_->Add(kube::KeyOf(object));
}

RunReconcilerStats RunReconciler::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

size_t RunReconciler::tracked_runs() const {
  std::lock_guard lock(mu_);
  return subscriptions_.size();
}

}  // namespace agentd::operator_
