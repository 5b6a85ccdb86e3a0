// Configuration of `agentd serve` from flags and the environment (12-factor): a flag wins over
// its environment variable, which wins over the default. Parsing is pure and reports every
// problem with the name of the setting.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/log.h"
#include "core/result.h"

namespace agentd::cmd {

struct ServeConfig {
  std::string config_dir = "examples";  // --config / AGENTD_CONFIG
  std::string data_dir = "data";        // --data / AGENTD_DATA
  std::string host = "127.0.0.1";       // --listen HOST:PORT
  uint16_t port = 8080;                 // --listen / PORT
  std::string workspace_dir;            // WORKSPACE_DIR, default <data>/workspaces
  int worker_concurrency = 5;           // WORKER_CONCURRENCY (0 = accept runs, start none)
  std::vector<std::string> api_keys;    // SUBMIT_API_KEYS
  core::LogLevel log_level = core::LogLevel::kInfo;  // LOG_LEVEL
  int http_threads = 2;                              // AGENTD_HTTP_THREADS
  bool sync_full = true;                             // AGENTD_SQLITE_SYNC=full|normal
  std::chrono::milliseconds reload_debounce{2000};   // AGENTD_RELOAD_DEBOUNCE
  std::chrono::seconds stop_grace{10};               // AGENTD_STOP_GRACE
  std::string audit_key_file;  // AGENTD_AUDIT_KEY_FILE, default <data>/audit-signing.key
  std::chrono::seconds audit_checkpoint_interval{600};  // AGENTD_AUDIT_CHECKPOINT_INTERVAL
  bool allow_self_approval = false;                     // AGENTD_ALLOW_SELF_APPROVAL
  std::string zoneinfo_dir = "/usr/share/zoneinfo";     // TZDIR
  std::string executor = "local";  // --executor / AGENTD_EXECUTOR: local | kubernetes
  std::string catalog = "dir";     // --catalog / AGENTD_CATALOG: dir | kubernetes
};

// The flag values as given (empty = not given).
struct ServeFlags {
  std::string config_dir, data_dir, listen, executor, catalog;
};

core::Result<ServeConfig> LoadServeConfig(const ServeFlags& flags);

// Parses "HOST:PORT", ":PORT" or "PORT".
core::Status ParseListen(const std::string& text, std::string& host, uint16_t& port);

}  // namespace agentd::cmd
