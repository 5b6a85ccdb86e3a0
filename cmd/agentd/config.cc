#include "cmd/agentd/config.h"

#include "core/env.h"

namespace agentd::cmd {

core::Status ParseListen(const std::string& text, std::string& host, uint16_t& port) {
  std::string port_text = text;
  size_t colon = text.rfind(':');
  if (colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    if (host.empty()) host = "0.0.0.0";
  }
  AGENTD_ASSIGN_OR_RETURN(int64_t p, core::ParseInt(port_text, 0, 65535, "--listen port"));
  port = static_cast<uint16_t>(p);
  return core::Ok();
}

core::Result<ServeConfig> LoadServeConfig(const ServeFlags& flags) {
  ServeConfig c;
  if (!flags.config_dir.empty()) {
    c.config_dir = flags.config_dir;
  } else if (auto v = core::GetEnv("AGENTD_CONFIG")) {
    c.config_dir = *v;
  }
  if (!flags.data_dir.empty()) {
    c.data_dir = flags.data_dir;
  } else if (auto v = core::GetEnv("AGENTD_DATA")) {
    c.data_dir = *v;
  }
  if (auto v = core::GetEnv("PORT")) {
    AGENTD_ASSIGN_OR_RETURN(int64_t p, core::ParseInt(*v, 0, 65535, "PORT"));
    c.port = static_cast<uint16_t>(p);
  }
  if (!flags.listen.empty()) AGENTD_RETURN_IF_ERROR(ParseListen(flags.listen, c.host, c.port));
  c.workspace_dir = core::GetEnv("WORKSPACE_DIR").value_or(c.data_dir + "/workspaces");
  if (auto v = core::GetEnv("WORKER_CONCURRENCY")) {
    AGENTD_ASSIGN_OR_RETURN(int64_t n, core::ParseInt(*v, 0, 1024, "WORKER_CONCURRENCY"));
    c.worker_concurrency = static_cast<int>(n);
  }
  if (auto v = core::GetEnv("SUBMIT_API_KEYS")) c.api_keys = core::SplitList(*v);
  if (auto v = core::GetEnv("LOG_LEVEL")) {
    AGENTD_ASSIGN_OR_RETURN(c.log_level, core::ParseLogLevel(*v));
  }
  if (auto v = core::GetEnv("AGENTD_HTTP_THREADS")) {
    AGENTD_ASSIGN_OR_RETURN(int64_t n, core::ParseInt(*v, 1, 64, "AGENTD_HTTP_THREADS"));
    c.http_threads = static_cast<int>(n);
  }
  if (auto v = core::GetEnv("AGENTD_SQLITE_SYNC")) {
    if (*v == "full") {
      c.sync_full = true;
    } else if (*v == "normal") {
      c.sync_full = false;
    } else {
      return core::InvalidArgument("AGENTD_SQLITE_SYNC: \"" + v->substr(0, 20) +
                                   "\" is not full or normal");
    }
  }
  if (auto v = core::GetEnv("AGENTD_RELOAD_DEBOUNCE")) {
    AGENTD_ASSIGN_OR_RETURN(c.reload_debounce, core::ParseDuration(*v, "AGENTD_RELOAD_DEBOUNCE"));
  }
  if (auto v = core::GetEnv("AGENTD_STOP_GRACE")) {
    AGENTD_ASSIGN_OR_RETURN(auto d, core::ParseDuration(*v, "AGENTD_STOP_GRACE"));
    c.stop_grace = std::chrono::duration_cast<std::chrono::seconds>(d);
  }
  c.audit_key_file =
      core::GetEnv("AGENTD_AUDIT_KEY_FILE").value_or(c.data_dir + "/audit-signing.key");
  if (auto v = core::GetEnv("AGENTD_AUDIT_CHECKPOINT_INTERVAL")) {
    AGENTD_ASSIGN_OR_RETURN(auto d, core::ParseDuration(*v, "AGENTD_AUDIT_CHECKPOINT_INTERVAL"));
    if (d < std::chrono::seconds(1)) {
      return core::InvalidArgument("AGENTD_AUDIT_CHECKPOINT_INTERVAL must be at least 1s");
    }
    c.audit_checkpoint_interval = std::chrono::duration_cast<std::chrono::seconds>(d);
  }
  if (auto v = core::GetEnv("AGENTD_ALLOW_SELF_APPROVAL")) {
    if (*v == "true" || *v == "1") {
      c.allow_self_approval = true;
    } else if (*v == "false" || *v == "0") {
      c.allow_self_approval = false;
    } else {
      return core::InvalidArgument("AGENTD_ALLOW_SELF_APPROVAL: \"" + v->substr(0, 20) +
                                   "\" is not true or false");
    }
  }
  if (auto v = core::GetEnv("TZDIR"); v && !v->empty()) c.zoneinfo_dir = *v;
  c.executor = !flags.executor.empty() ? flags.executor
                                       : core::GetEnv("AGENTD_EXECUTOR").value_or(c.executor);
  if (c.executor != "local" && c.executor != "kubernetes") {
    return core::InvalidArgument("--executor (AGENTD_EXECUTOR): \"" + c.executor.substr(0, 20) +
                                 "\" is not local or kubernetes");
  }
  c.catalog =
      !flags.catalog.empty() ? flags.catalog : core::GetEnv("AGENTD_CATALOG").value_or(c.catalog);
  if (c.catalog != "dir" && c.catalog != "kubernetes") {
    return core::InvalidArgument("--catalog (AGENTD_CATALOG): \"" + c.catalog.substr(0, 20) +
                                 "\" is not dir or kubernetes");
  }
  return c;
}

}  // namespace agentd::cmd
