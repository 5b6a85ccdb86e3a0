// agentd: the composition root of the daemon. The only place concrete classes are built and
// wired together; everything else receives its dependencies through its constructor.
//
//   agentd serve    the control plane: REST API, scheduler, local executor, SQLite store
//   agentd runner   one agent run (started by the executor, not by people)
//   agentd migrate  applies the store's schema migrations and exits
//   agentd crds     prints the CustomResourceDefinitions of the object kinds
//   agentd version
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit_service.h"
#include "audit/catalog_audit.h"
#include "auth/api_key_authenticator.h"
#include "bus/memory_bus.h"
#include "catalog/directory_source.h"
#include "cmd/agentd/config.h"
#include "core/ids.h"
#include "core/log.h"
#include "exec/kubernetes/job_executor.h"
#include "exec/local/local_process_executor.h"
#include "kube/config.h"
#include "kube/http_kube_client.h"
#include "net/http_server.h"
#include "operator/operator.h"
#include "resources/schema.h"
#include "runner/runner_main.h"
#include "scheduler/scheduler.h"
#include "server/api_server.h"
#include "store/sqlite/sqlite_run_store.h"
#include "telemetry/metrics.h"

namespace agentd::cmd {
namespace {

constexpr char kVersion[] = "0.1.0";

// Exit codes of agentd itself: 0 ok, 1 runtime failure, 2 bad configuration or usage.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

int Fail(int code, const core::Error& error, std::string_view what) {
  core::LogError(std::string(what), {{"error", error.message}});
  return code;
}

// The admin API key when SUBMIT_API_KEYS is empty: generated once, kept in <data>/admin.key
// (mode 0600) so restarts keep it.
core::Result<std::string> LoadOrCreateAdminKey(const std::string& data_dir, bool& created) {
  std::string path = data_dir + "/admin.key";
  std::ifstream in(path);
  std::string key;
  if (in && std::getline(in, key) && !key.empty()) {
    created = false;
    return key;
  }
  key = "agentd_" + core::RandomHex(24);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return core::Unavailable("cannot write " + path + ": " + std::strerror(errno));
  std::string line = key + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) return core::Unavailable("cannot write " + path);
  created = true;
  return key;
}

int Serve(const ServeFlags& flags) {
  auto loaded = LoadServeConfig(flags);
  if (!loaded.ok()) {
    std::cerr << "agentd serve: " << loaded.error().message << "\n";
    return kExitUsage;
  }
  ServeConfig config = *loaded;
  // Runners and journals are addressed by absolute paths (the runner's cwd is its workspace).
  config.data_dir = std::filesystem::absolute(config.data_dir).lexically_normal().string();
  config.workspace_dir =
      std::filesystem::absolute(config.workspace_dir).lexically_normal().string();
  core::SetLogLevel(config.log_level);

  // Signals: block them in every thread (threads inherit the mask) and wait for them in one.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // Each SSE follower and each runner holds descriptors: raise the soft limit to the hard one.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }

  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  if (ec) {
    return Fail(kExitFailure, core::Unavailable(ec.message()), "cannot create the data directory");
  }
  ::chmod(config.data_dir.c_str(), 0700);

  std::vector<std::string> keys = config.api_keys;
  bool generated = false;
  if (keys.empty()) {
    auto key = LoadOrCreateAdminKey(config.data_dir, generated);
    if (!key.ok()) return Fail(kExitFailure, key.error(), "cannot set up the admin API key");
    keys.push_back("admin:" + *key);
    std::cout << "admin API key: " << *key << "  (kept in " << config.data_dir << "/admin.key"
              << (generated ? ", new" : "") << ")\n"
              << std::flush;
  }
  std::string key_list;
  for (const auto& k : keys) key_list += (key_list.empty() ? "" : ",") + k;
  auto authenticator = auth::ApiKeyAuthenticator::FromList(key_list);
  if (!authenticator.ok()) return Fail(kExitUsage, authenticator.error(), "bad SUBMIT_API_KEYS");

  core::Clock& clock = core::SystemClock::Instance();
  auto store = store::SqliteRunStore::Open(
      config.data_dir + "/agentd.db",
      {.synchronous =
           config.sync_full ? store::SqliteSynchronous::kFull : store::SqliteSynchronous::kNormal,
       .clock = &clock});
  if (!store.ok()) return Fail(kExitFailure, store.error(), "cannot open the store");

  catalog::Catalog catalog;
  // Every accepted catalog change is audited (what changed, with its digest).
  std::shared_ptr<const catalog::Snapshot> audited;
  std::function<void()> on_catalog_change;  // set once the operator exists
  std::mutex catalog_mu;
  auto audit_catalog = [&](const catalog::Snapshot& next) {
    std::lock_guard lock(catalog_mu);
    auto drafts = audit::CatalogChangeAudit(audited.get(), next, clock.Now());
    audited = std::make_shared<const catalog::Snapshot>(next);
    if (!drafts.empty()) {
      if (auto wrote = (*store)->AppendAudit(std::move(drafts)); !wrote.ok()) {
        core::LogError("cannot audit a catalog change", {{"error", wrote.error().message}});
      }
    }
    if (on_catalog_change) on_catalog_change();
  };

  // Kubernetes: one client for the catalog, the operator and the executor.
  std::unique_ptr<kube::HttpKubeClient> kube_client;
  std::optional<operator_::OperatorConfig> operator_config;
  if (config.executor == "kubernetes" || config.catalog == "kubernetes") {
    auto kube_config = kube::LoadDefaultConfig();
    if (!kube_config.ok()) {
      return Fail(kExitUsage, kube_config.error(),
                  "cannot find a Kubernetes API (in-cluster service account or KUBECONFIG)");
    }
    kube_client = kube::HttpKubeClient::Connect(std::move(*kube_config));
  }
  std::unique_ptr<catalog::CatalogSource> source;
  operator_::KubernetesCatalogSource* kube_source = nullptr;
  if (config.catalog == "kubernetes") {
    auto loaded_config = operator_::OperatorConfigFromEnv();
    if (!loaded_config.ok())
      return Fail(kExitUsage, loaded_config.error(), "bad operator settings");
    operator_config = std::move(*loaded_config);
    auto made = operator_::MakeKubernetesCatalogSource(*kube_client, catalog, *operator_config,
                                                       audit_catalog);
    kube_source = made.get();
    source = std::move(made);
  } else {
    source = std::make_unique<catalog::DirectoryCatalogSource>(
        config.config_dir, catalog,
        catalog::DirectoryCatalogOptions{.debounce = config.reload_debounce,
                                         .on_change = audit_catalog});
  }
  if (auto started = source->Start(); !started.ok()) {
    return Fail(kExitUsage, started.error(),
                config.catalog == "kubernetes" ? "cannot load the objects from the cluster"
                                               : "cannot load the objects in --config");
  }

  bus::MemoryBus bus;
  telemetry::Registry registry;
  auto signing_key = audit::LoadOrCreateSigningKey(config.audit_key_file);
  if (!signing_key.ok()) {
    return Fail(kExitFailure, signing_key.error(), "cannot set up the audit signing key");
  }
  audit::AuditService audit_service(**store, std::move(*signing_key), clock,
                                    {.checkpoint_interval = config.audit_checkpoint_interval});
  audit_service.Start();

  std::unique_ptr<exec::Executor> executor;
  exec::kubernetes::StuckPodGrace pod_grace;
  std::optional<exec::kubernetes::JobExecutorOptions> job_options;
  if (config.executor == "kubernetes") {
    auto options = exec::kubernetes::JobExecutorOptionsFromEnv();
    if (!options.ok()) return Fail(kExitUsage, options.error(), "bad Kubernetes executor settings");
    options->snapshot = [&catalog] { return catalog.Current(); };
    pod_grace = options->grace;
    job_options = std::move(*options);
  }
  scheduler::Scheduler::Options scheduler_options{
      .global_concurrency = config.worker_concurrency,
      .workspace_root = config.workspace_dir,
      .allow_self_approval = config.allow_self_approval,
      .governor = {.zoneinfo_dir = config.zoneinfo_dir}};
  if (job_options) {
    // A pod may wait for its image or a node longer than a process takes to start; the executor
    // reports those itself once its grace has passed.
    scheduler_options.start_timeout =
        std::max(pod_grace.pending, pod_grace.unschedulable) + std::chrono::seconds(60);
  }
  scheduler::Scheduler scheduler(**store, catalog, bus, registry, clock, scheduler_options);

  if (job_options) {
    auto created = exec::kubernetes::KubernetesJobExecutor::Create(std::move(*job_options),
                                                                   *kube_client, scheduler, clock);
    if (!created.ok()) return Fail(kExitFailure, created.error(), "cannot start the executor");
    if (!(*created)->WaitForSync(std::chrono::seconds(30))) {
      core::LogWarn("the Job and Pod watches did not sync within 30s; going on");
    }
    executor = std::move(*created);
  } else {
    std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    auto created =
        exec::local::LocalProcessExecutor::Create({.runner_path = self,
                                                   .workspace_root = config.workspace_dir,
                                                   .state_dir = config.data_dir,
                                                   .stop_grace = config.stop_grace},
                                                  scheduler, clock);
    if (!created.ok()) return Fail(kExitFailure, created.error(), "cannot start the executor");
    executor = std::move(*created);
  }
  scheduler.SetExecutor(executor.get());

  // Only the leader dispatches. Without the operator (or without leader election) that is this
  // process from the start; with it, the scheduler starts when the Lease is won, and losing the
  // Lease ends the process (the next start is a standby), so two never dispatch at once.
  std::atomic<bool> scheduler_started{false};
  auto start_scheduler = [&]() -> core::Status {
    if (scheduler_started.exchange(true)) return core::Ok();
    AGENTD_RETURN_IF_ERROR(scheduler.Recover());
    scheduler.Start();
    core::LogInfo("scheduler started");
    return core::Ok();
  };
  std::unique_ptr<operator_::Operator> op;
  if (operator_config) {
    auto made = operator_::Operator::Create(
        {.client = *kube_client, .runs = scheduler, .store = **store, .bus = bus, .clock = clock},
        *operator_config,
        {.on_started_leading =
             [&] {
               if (auto started = start_scheduler(); !started.ok()) {
                 core::LogError("cannot recover runs from the store; stopping",
                                {{"error", started.error().message}});
                 ::kill(::getpid(), SIGTERM);
               }
             },
         .on_stopped_leading =
             [] {
               core::LogWarn("lost the operator Lease; stopping so a standby can take over");
               ::kill(::getpid(), SIGTERM);
             }},
        kube_source);
    if (!made.ok()) return Fail(kExitUsage, made.error(), "cannot set up the operator");
    op = std::move(*made);
    {
      std::lock_guard lock(catalog_mu);
      on_catalog_change = [&op] { op->reconciler().ResyncPending(); };
    }
  }
  if (!operator_config || !operator_config->leader_election) {
    if (auto started = start_scheduler(); !started.ok()) {
      scheduler.Shutdown();
      return Fail(kExitFailure, started.error(), "cannot recover runs from the store");
    }
  }
  if (op) op->Start();

  server::ApiServer api({.runs = scheduler,
                         .store = **store,
                         .bus = bus,
                         .catalog = catalog,
                         .metrics = registry,
                         .auth = *authenticator,
                         .clock = clock,
                         .audit = &audit_service},
                        {});
  auto http = net::HttpServer::Listen(
      {.host = config.host, .port = config.port, .threads = config.http_threads}, api.Handler());
  if (!http.ok()) {
    if (op) op->Stop();
    scheduler.Shutdown();
    return Fail(kExitFailure, http.error(), "cannot listen");
  }
  std::string host =
      config.host.find(':') != std::string::npos ? "[" + config.host + "]" : config.host;
  std::string url = "http://" + host + ":" + std::to_string((*http)->port());
  core::LogInfo("listening",
                {{"url", url},
                 {"config", config.catalog == "kubernetes" ? "kubernetes" : config.config_dir},
                 {"executor", config.executor},
                 {"data", config.data_dir},
                 {"workers", config.worker_concurrency}});
  std::cout << "agentd " << kVersion << " listening on " << url << "\n" << std::flush;

  std::thread waiter([&] {
    int signal = 0;
    sigwait(&signals, &signal);
    core::LogInfo("stopping", {{"signal", signal}});
    (*http)->Stop();
  });
  (*http)->Run();
  waiter.join();
  if (op) op->Stop();    // releases the Lease
  scheduler.Shutdown();  // runners keep running; the next start re-adopts them
  source->Stop();
  audit_service.Stop();  // signs a last checkpoint
  core::LogInfo("stopped");
  return 0;
}

int Migrate(const std::string& data_dir) {
  std::filesystem::create_directories(data_dir);
  auto store = store::SqliteRunStore::Open(data_dir + "/agentd.db");
  if (!store.ok()) return Fail(kExitFailure, store.error(), "migration failed");
  std::cout << "store at " << data_dir << "/agentd.db is up to date\n";
  return 0;
}

}  // namespace
}  // namespace agentd::cmd

int main(int argc, char** argv) {
  using namespace agentd;
  CLI::App app{
      "agentd runs AI agents as governed, isolated, observable jobs.\n"
      "On one machine: `agentd serve` with SQLite; each run is a local process."};
  app.require_subcommand(1);
  app.set_version_flag("--version", agentd::cmd::kVersion);

  cmd::ServeFlags serve_flags;
  CLI::App* serve =
      app.add_subcommand("serve", "Run the control plane: REST API, scheduler, executor.");
  serve->add_option(
      "--config", serve_flags.config_dir,
      "Directory of object YAML (Model, Instruction, Agent), watched and reloaded "
      "on change, git-sync symlink swaps included. Env AGENTD_CONFIG. Default: examples");
  serve->add_option("--data", serve_flags.data_dir,
                    "Data directory: SQLite database, run journals, admin.key. Env AGENTD_DATA. "
                    "Default: data");
  serve->add_option("--executor", serve_flags.executor,
                    "local: each run is a process on this machine (default); kubernetes: each "
                    "run is a batch/v1 Job in EXECUTOR_NAMESPACE (default K8S_NAMESPACE; env "
                    "AGENTD_EXECUTOR; see docs/kubernetes.md)");
  serve->add_option("--catalog", serve_flags.catalog,
                    "dir: objects from --config (default); kubernetes: Models, Agents, ... from "
                    "K8S_NAMESPACE and Run custom resources from EXECUTOR_NAMESPACE, with the "
                    "operator (env AGENTD_CATALOG)");
  serve->add_option("--listen", serve_flags.listen,
                    "HOST:PORT to serve HTTP on (port 0 picks one). Env PORT sets the port. "
                    "Default: 127.0.0.1:8080");
  serve->footer(
      "Environment:\n"
      "  WORKSPACE_DIR       where run workspaces are created (default <data>/workspaces)\n"
      "  WORKER_CONCURRENCY  runs executing at once (default 5; 0 accepts runs but starts none)\n"
      "  SUBMIT_API_KEYS     comma-separated API keys, each `key` or `name:key`; when empty an\n"
      "                      admin key is generated into <data>/admin.key and printed\n"
      "  LOG_LEVEL           debug | info | warn | error (default info)\n"
      "  AGENTD_HTTP_THREADS HTTP event-loop threads (default 2)\n"
      "  AGENTD_SQLITE_SYNC  full (default: acknowledged runs survive power loss) | normal\n"
      "                      (they survive a crash of agentd, not of the machine)\n"
      "  AGENTD_RELOAD_DEBOUNCE  wait after a config change before reloading (default 2s)\n"
      "  AGENTD_STOP_GRACE   SIGTERM-to-SIGKILL grace when stopping a run (default 10s)\n"
      "  AGENTD_AUDIT_KEY_FILE  Ed25519 key (PKCS#8 PEM) that signs audit checkpoints; created\n"
      "                      when missing (default <data>/audit-signing.key)\n"
      "  AGENTD_AUDIT_CHECKPOINT_INTERVAL  how often a checkpoint is signed when the audit log\n"
      "                      grew (default 10m; one more at shutdown)\n"
      "  AGENTD_ALLOW_SELF_APPROVAL  true lets the submitter of a run approve it (default false)\n"
      "  TZDIR               time zone database for Budget timeZone (default /usr/share/zoneinfo)\n"
      "  Kubernetes (--executor/--catalog kubernetes; docs/kubernetes.md): KUBECONFIG (else the\n"
      "  in-cluster service account), K8S_NAMESPACE (catalog objects, the Lease),\n"
      "  EXECUTOR_NAMESPACE (Run objects and their Jobs; default K8S_NAMESPACE), EXECUTOR_IMAGE,\n"
      "  AGENTD_API_URL (how pods reach this API), EXECUTOR_SERVICE_ACCOUNT, UPLOADS_PVC_NAME,\n"
      "  MODELS_CACHE_PVC, POD_NAME, OPERATOR_LEADER_ELECTION, OPERATOR_STATUS_COALESCE,\n"
      "  OPERATOR_RUN_FINALIZER, OPERATOR_LEASE_DURATION, OPERATOR_RENEW_DEADLINE,\n"
      "  OPERATOR_RETRY_PERIOD\n"
      "  the env var each Model's apiKey names (e.g. OPENAI_API_KEY) is passed to its runners");

  runner::RunnerOptions runner_options;
  CLI::App* runner_cmd = app.add_subcommand(
      "runner", "Execute one run (started by the executor: spec on stdin, events on a pipe).");
  runner_cmd->add_option("--events-fd", runner_options.events_fd, "Descriptor for event lines");
  runner_cmd
      ->add_option("--journal", runner_options.journal_path,
                   "File every event line is appended to first")
      ->required();
  // A runner in a Kubernetes pod (exec/kubernetes/job_builder.h): spec and token from the
  // mounted Secret, events POSTed to the API instead of written to --events-fd.
  runner_cmd->add_option("--run-id", runner_options.run_id,
                         "The run this runner is for; must match the spec");
  runner_cmd
      ->add_option("--attempt", runner_options.attempt,
                   "The attempt this runner is for; must match the spec (sent as "
                   "X-Agentd-Attempt)")
      ->check(CLI::Range(1, 1'000'000));
  runner_cmd->add_option("--spec-file", runner_options.spec_file,
                         "Read the RunnerSpec JSON from this file instead of stdin");
  runner_cmd->add_option("--token-file", runner_options.token_file,
                         "File with the run- and attempt-scoped runner token (with --events-url)");
  runner_cmd
      ->add_option("--events-url", runner_options.events_url,
                   "POST event lines in batches to this URL (.../api/v1/runs/ID/events) "
                   "instead of --events-fd; the runner instance is $HOSTNAME (the pod name)")
      ->needs(runner_cmd->get_option("--token-file"));

  std::string migrate_data = "data";
  CLI::App* migrate = app.add_subcommand("migrate", "Apply the store's schema migrations.");
  migrate->add_option("--data", migrate_data, "Data directory (env AGENTD_DATA)")
      ->envname("AGENTD_DATA");

  std::string crds_dir;
  CLI::App* crds = app.add_subcommand(
      "crds", "Print the CustomResourceDefinitions of the agentd kinds (YAML, deploy/crds/).");
  crds->add_option("--output-dir", crds_dir,
                   "Write one file per kind into this directory instead of printing them");

  app.add_subcommand("version", "Print the version.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (*serve) return cmd::Serve(serve_flags);
  if (*runner_cmd) return runner::RunnerMain(runner_options);
  if (*migrate) return cmd::Migrate(migrate_data);
  if (*crds) {
    if (crds_dir.empty()) {
      std::cout << resources::CrdsYaml();
      return 0;
    }
    auto written = resources::WriteCrdFiles(crds_dir);
    if (!written.ok()) std::cerr << "agentd crds: " << written.error().message << "\n";
    return written.ok() ? 0 : 1;
  }
  std::cout << "agentd " << cmd::kVersion << "\n";
  return 0;
}
