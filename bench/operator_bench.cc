// operator_bench: what reconciling Run custom resources costs in API writes, against the fake
// Kubernetes API server (testing/fake_kube_api_server.h, which counts writes by resource).
//
//   operator_bench [N]     (default 1000)
//
// N Run resources are created in the fake server; a fake RunService (src/operator/
// operator_test_util.h over a SQLite :memory: store and the in-process bus) moves each run
// Queued -> Starting -> Running (after 20 ms) -> Succeeded, publishing every phase on the bus as
// the scheduler does. Scenarios, one JSON line each (status coalescing window 1 s, the default,
// unless said otherwise):
//   burst-short-runs      N Runs created at once; each run ends 300 ms after its submission
//   steady-short-runs     N Runs created at 200/s; each run ends after 300 ms
//   steady-long-runs      N Runs created at 200/s; each run stays Running for 3 s
//   steady-long-runs-no-coalescing   the same with coalescing off: every phase change written
//   steady-long-runs-with-finalizer  the same with OPERATOR_RUN_FINALIZER=true
//   resync                the reconciler restarted over N finished Runs: relist, reconcile each
//   idle                  2 s with nothing changing: API requests of any kind (0 = no polling)
//   delete                every Run deleted (kubectl delete): finalizer removals, if any
// (resync, idle and delete run twice: over burst-short-runs, without the finalizer, and over
// steady-long-runs-with-finalizer.)
// "writes" counts the operator's create/update/patch/delete requests on runs (incl. /status),
// 409s included; the benchmark's own deletes are subtracted.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "bus/memory_bus.h"
#include "core/log.h"
#include "httpclient/curl_transport.h"
#include "kube/http_kube_client.h"
#include "operator/conditions.h"
#include "operator/operator_test_util.h"
#include "operator/run_reconciler.h"
#include "store/sqlite/sqlite_run_store.h"
#include "testing/fake_kube_api_server.h"

namespace agentd::bench {
namespace {

using core::Json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Wraps the fake run service: every run it creates is moved along a schedule by a driver thread.
class DrivenRunService final : public operator_::test::ForwardingRunService {
 public:
  explicit DrivenRunService(operator_::test::FakeRunService& inner)
      : ForwardingRunService(inner), fake_(inner) {
    driver_ = std::thread([this] { Drive(); });
  }
  ~DrivenRunService() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    driver_.join();
  }
  void SetSchedule(milliseconds to_running, milliseconds to_succeeded) {
    std::lock_guard lock(mu_);
    to_running_ = to_running;
    to_succeeded_ = to_succeeded;
  }
  int64_t finished() const {
    std::lock_guard lock(mu_);
    return finished_;
  }

  void SubmitAsync(scheduler::SubmitRequest request,
                   std::function<void(core::Result<store::CreateRunResult>)> done) override {
    inner_.SubmitAsync(std::move(request), [this, done = std::move(done)](
                                               core::Result<store::CreateRunResult> created) {
      if (created.ok() && created->created) {
        std::lock_guard lock(mu_);
        auto now = Clock::now();
        steps_.push({now + to_running_, created->run.id, runs::Phase::kRunning});
        steps_.push({now + to_succeeded_, created->run.id, runs::Phase::kSucceeded});
        cv_.notify_all();
      }
      done(std::move(created));
    });
  }

 private:
  struct Step {
    Clock::time_point at;
    std::string run_id;
    runs::Phase phase;
    bool operator>(const Step& other) const { return at > other.at; }
  };

  void Drive() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      if (steps_.empty()) {
        cv_.wait(lock);
        continue;
      }
      Step next = steps_.top();
      if (Clock::now() < next.at) {
        cv_.wait_until(lock, next.at);
        continue;
      }
      steps_.pop();
      lock.unlock();
      auto moved = fake_.MoveTo(next.run_id, next.phase, "", "done",
                                next.phase == runs::Phase::kRunning
                                    ? Json{{"job", "run-" + next.run_id.substr(4, 12)}}
                                    : Json::object());
      if (!moved.ok()) std::cerr << "move " << next.run_id << ": " << moved.error().message << "\n";
      lock.lock();
      if (next.phase == runs::Phase::kSucceeded) ++finished_;
    }
  }

  operator_::test::FakeRunService& fake_;  // the same object as inner_, for MoveTo
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Step, std::vector<Step>, std::greater<Step>> steps_;
  milliseconds to_running_{20};
  milliseconds to_succeeded_{200};
  int64_t finished_ = 0;
  bool stop_ = false;
  std::thread driver_;
};

struct World {
  std::unique_ptr<testing::FakeKubeApiServer> server;
  httpclient::CurlHttpTransport transport;
  std::unique_ptr<kube::HttpKubeClient> client;
  core::SystemClock clock;
  bus::MemoryBus bus;
  std::unique_ptr<store::SqliteRunStore> store;
  std::unique_ptr<operator_::test::FakeRunService> fake;
  std::unique_ptr<DrivenRunService> service;

  std::unique_ptr<operator_::RunReconciler> Reconciler(const std::string& ns, milliseconds coalesce,
                                                       bool finalizer) {
    auto r = std::make_unique<operator_::RunReconciler>(
        operator_::RunReconcilerDeps{*client, *service, *store, bus, clock},
        operator_::RunReconcilerOptions{
            .ns = ns, .workers = 4, .finalizer = finalizer, .status_coalesce = coalesce});
    r->Start();
    r->WaitForSync(10s);
    return r;
  }

  int CountPhase(const std::string& ns, const std::string& phase) const {
    int n = 0;
    for (const Json& o : server->List("agentd.dev", "runs", ns)) {
      if (o.contains("status") && o["status"].value("phase", "") == phase) ++n;
    }
    return n;
  }
  // Waits until `done` holds, then until the write count has not moved for `quiet`.
  template <typename F>
  bool WaitSettled(F done, milliseconds quiet, milliseconds timeout = 300s) {
    auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(20ms);
    }
    int64_t writes = server->TotalWrites();
    auto stable_since = Clock::now();
    while (Clock::now() - stable_since < quiet) {
      std::this_thread::sleep_for(20ms);
      if (server->TotalWrites() != writes) {
        writes = server->TotalWrites();
        stable_since = Clock::now();
      }
    }
    return true;
  }
};

// Creates `n` Runs, all at once (rate 0) or `rate` per second.
void SeedRuns(World& w, const std::string& ns, int n, double rate) {
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (rate > 0) {
      std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(i / rate)));
    }
    w.server->Seed("agentd.dev", "v1alpha1", "runs",
                   {{"apiVersion", "agentd.dev/v1alpha1"},
                    {"kind", "Run"},
                    {"metadata", {{"name", "run-" + std::to_string(i)}, {"namespace", ns}}},
                    {"spec", {{"agent", "triage"}, {"input", "task " + std::to_string(i)}}}});
  }
}

// Creates N Runs, lets every run finish, and prints what it cost.
int Lifecycle(World& w, const std::string& scenario, int n, double rate, milliseconds coalesce,
              milliseconds to_running, milliseconds to_succeeded, bool finalizer = false) {
  const std::string ns = scenario;
  w.service->SetSchedule(to_running, to_succeeded);
  auto reconciler = w.Reconciler(ns, coalesce, finalizer);
  const int64_t writes_before = w.server->Writes("runs");
  auto start = Clock::now();
  SeedRuns(w, ns, n, rate);
  bool ok = w.WaitSettled([&] { return w.CountPhase(ns, "Succeeded") == n; }, coalesce + 1s);
  double seconds = Seconds(start);
  auto stats = reconciler->stats();
  reconciler->Stop();
  int64_t writes = w.server->Writes("runs") - writes_before;
  std::printf(
      "{\"bench\":\"operator\",\"scenario\":\"%s\",\"runs\":%d,\"created_per_s\":%s,"
      "\"coalesce_ms\":%lld,\"finalizer\":%s,"
      "\"running_after_ms\":%lld,\"succeeded_after_ms\":%lld,\"all_succeeded\":%s,"
      "\"writes\":%lld,\"writes_per_run\":%.3f,\"finalizer_adds\":%lld,\"status_writes\":%lld,"
      "\"conflicts\":%lld,\"reconciles\":%lld,\"submissions\":%lld,\"runs_created\":%lld,"
      "\"seconds\":%.2f}\n",
      scenario.c_str(), n, rate > 0 ? std::to_string(static_cast<int>(rate)).c_str() : "\"burst\"",
      static_cast<long long>(coalesce.count()), finalizer ? "true" : "false",
      static_cast<long long>(to_running.count()), static_cast<long long>(to_succeeded.count()),
      ok ? "true" : "false", static_cast<long long>(writes), static_cast<double>(writes) / n,
      static_cast<long long>(stats.finalizer_adds), static_cast<long long>(stats.status_writes),
      static_cast<long long>(stats.conflicts), static_cast<long long>(stats.reconciles),
      static_cast<long long>(stats.submissions), static_cast<long long>(stats.runs_created),
      seconds);
  std::fflush(stdout);
  return ok ? 0 : 1;
}

// Restarts the reconciler over the finished Runs of `ns`, then watches it idle, then deletes
// every Run.
int ResyncIdleDelete(World& w, const std::string& ns, int n, bool finalizer) {
  const int64_t writes_before = w.server->Writes("runs");
  const int64_t created_before = w.fake->created();
  auto start = Clock::now();
  auto reconciler = w.Reconciler(ns, 1s, finalizer);
  auto deadline = Clock::now() + 120s;
  while (reconciler->stats().reconciles < n && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  double seconds = Seconds(start);
  int64_t reconciles = reconciler->stats().reconciles;
  std::printf(
      "{\"bench\":\"operator\",\"scenario\":\"resync\",\"of\":\"%s\",\"runs\":%d,"
      "\"reconciles\":%lld,"
      "\"writes\":%lld,\"writes_per_run\":%.3f,\"runs_created\":%lld,\"seconds\":%.2f}\n",
      ns.c_str(), n, static_cast<long long>(reconciles),
      static_cast<long long>(w.server->Writes("runs") - writes_before),
      static_cast<double>(w.server->Writes("runs") - writes_before) / n,
      static_cast<long long>(w.fake->created() - created_before), seconds);
  std::fflush(stdout);

  std::map<std::string, int64_t> before;
  const char* verbs[] = {"get", "list", "watch", "create", "update", "patch", "delete"};
  for (const char* verb : verbs) before[verb] = w.server->Requests(verb);
  std::this_thread::sleep_for(2s);
  int64_t requests = 0;
  for (const char* verb : verbs) requests += w.server->Requests(verb) - before[verb];
  std::printf(
      "{\"bench\":\"operator\",\"scenario\":\"idle\",\"of\":\"%s\",\"runs\":%d,"
      "\"seconds\":2,"
      "\"api_requests\":%lld,\"open_watches\":%zu}\n",
      ns.c_str(), n, static_cast<long long>(requests), w.server->open_watches());
  std::fflush(stdout);

  const int64_t writes_before_delete = w.server->Writes("runs");
  start = Clock::now();
  for (int i = 0; i < n; ++i) {
    auto deleted = w.client->Delete({operator_::kinds::kRuns, ns, "run-" + std::to_string(i)});
    if (!deleted.ok()) std::cerr << deleted.error().message << "\n";
  }
  bool gone =
      w.WaitSettled([&] { return w.server->List("agentd.dev", "runs", ns).empty(); }, 500ms);
  auto stats = reconciler->stats();
  reconciler->Stop();
  int64_t writes = w.server->Writes("runs") - writes_before_delete - n;  // minus our deletes
  std::printf(
      "{\"bench\":\"operator\",\"scenario\":\"delete\",\"of\":\"%s\",\"runs\":%d,"
      "\"all_gone\":%s,"
      "\"writes\":%lld,\"writes_per_run\":%.3f,\"finalizer_removals\":%lld,\"cancels\":%lld,"
      "\"seconds\":%.2f}\n",
      ns.c_str(), n, gone ? "true" : "false", static_cast<long long>(writes),
      static_cast<double>(writes) / n, static_cast<long long>(stats.finalizer_removals),
      static_cast<long long>(stats.cancels), Seconds(start));
  std::fflush(stdout);
  return gone ? 0 : 1;
}

int Run(int n) {
  core::SetLogLevel(core::LogLevel::kError);
  World w;
  auto server = testing::FakeKubeApiServer::Start({.history_size = 200'000});
  if (!server.ok()) {
    std::cerr << server.error().message << "\n";
    return 1;
  }
  w.server = std::move(server).value();
  kube::KubeConfig config;
  config.server = w.server->url();
  config.token = "bench";
  // No client-side QPS limit: the benchmark measures the operator, not the limiter (at the
  // default 20 qps, N runs x 2 writes take N/10 seconds).
  w.client = std::make_unique<kube::HttpKubeClient>(config, w.transport,
                                                    kube::HttpKubeClientOptions{.qps = 0});
  auto store = store::SqliteRunStore::Open(":memory:");
  if (!store.ok()) {
    std::cerr << store.error().message << "\n";
    return 1;
  }
  w.store = std::move(store).value();
  w.fake = std::make_unique<operator_::test::FakeRunService>(*w.store, w.bus, w.clock);
  w.service = std::make_unique<DrivenRunService>(*w.fake);

  int failed = 0;
  // The default coalescing window (1 s) throughout, except the last, which shows what it saves.
  failed += Lifecycle(w, "burst-short-runs", n, 0, 1000ms, 20ms, 300ms);
  failed += Lifecycle(w, "steady-short-runs", n, 200, 1000ms, 20ms, 300ms);
  failed += Lifecycle(w, "steady-long-runs", n, 200, 1000ms, 20ms, 3000ms);
  failed += Lifecycle(w, "steady-long-runs-no-coalescing", n, 200, 0ms, 20ms, 3000ms);
  failed += Lifecycle(w, "steady-long-runs-with-finalizer", n, 200, 1000ms, 20ms, 3000ms,
                      /*finalizer=*/true);
  failed += ResyncIdleDelete(w, "burst-short-runs", n, /*finalizer=*/false);
  failed += ResyncIdleDelete(w, "steady-long-runs-with-finalizer", n, /*finalizer=*/true);
  return failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace agentd::bench

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: operator_bench [N]\n");
    return 2;
  }
  return agentd::bench::Run(n);
}
