#include "kube/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <sys/stat.h>

#include "core/env.h"
#include "core/text.h"
#include "resources/yaml_json.h"

namespace agentd::kube {
namespace {

using core::Json;

constexpr size_t kMaxConfigFileBytes = 4 << 20;

std::string StrError(int err) {
  char buf[256];
  return strerror_r(err, buf, sizeof(buf));  // GNU variant: returns the message
}

// Reads a whole file; kNotFound when it does not exist, `what` names it in messages.
core::Result<std::string> ReadFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string message =
        std::string(what) + " " + core::QuoteForMessage(path, 200) + ": " + StrError(err);
    if (err == ENOENT) return core::NotFound(message);
    if (err == EACCES) return core::PermissionDenied(message);
    return core::InvalidArgument(message);
  }
  std::ostringstream out;
  out << in.rdbuf();
  std::string data = std::move(out).str();
  if (data.size() > kMaxConfigFileBytes) {
    return core::InvalidArgument(std::string(what) + " " + core::QuoteForMessage(path, 200) +
                                 " is larger than " + std::to_string(kMaxConfigFileBytes) +
                                 " bytes");
  }
  return data;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string TrimSpace(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string DirName(std::string_view path) {
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string ResolvePath(std::string_view base_dir, const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  return std::string(base_dir) + "/" + path;
}

// A named entry (cluster, user, context) of a kubeconfig, with the file it came from.
struct Entry {
  Json body = Json::object();
  std::string file;
  std::string base_dir;
  std::string field;  // `users[name="me"].user` for messages
};

struct Merged {
  std::string current_context;
  std::string current_context_file;
  std::string first_file;
  std::map<std::string, Entry> clusters;
  std::map<std::string, Entry> users;
  std::map<std::string, Entry> contexts;
};

core::Error FieldError(const Entry& entry, std::string_view key, std::string_view problem) {
  return core::InvalidArgument("kubeconfig " + entry.file + ": " + entry.field + "." +
                               std::string(key) + ": " + std::string(problem));
}

core::Status MergeDocument(const Json& doc, const std::string& file, const std::string& base_dir,
                           Merged& merged) {
  if (doc.is_null()) return core::Ok();
  if (!doc.is_object()) return core::InvalidArgument("kubeconfig " + file + ": not a mapping");
  struct Section {
    const char* list;
    const char* item;
    std::map<std::string, Entry>* into;
  };
  for (const Section& section :
       {Section{"clusters", "cluster", &merged.clusters}, Section{"users", "user", &merged.users},
        Section{"contexts", "context", &merged.contexts}}) {
    auto it = doc.find(section.list);
    if (it == doc.end() || it->is_null()) continue;
    if (!it->is_array()) {
      return core::InvalidArgument("kubeconfig " + file + ": " + section.list + ": must be a list");
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& item = (*it)[i];
      std::string where = std::string(section.list) + "[" + std::to_string(i) + "]";
      if (!item.is_object()) {
        return core::InvalidArgument("kubeconfig " + file + ": " + where + ": must be a mapping");
      }
      auto name = item.find("name");
      if (name == item.end() || !name->is_string() || name->get<std::string>().empty()) {
        return core::InvalidArgument("kubeconfig " + file + ": " + where +
                                     ".name: missing or not a string");
      }
      Entry entry;
      entry.file = file;
      entry.base_dir = base_dir;
      entry.field =
          std::string(section.list) + "[name=\"" + name->get<std::string>() + "\"]." + section.item;
      auto body = item.find(section.item);
      if (body != item.end() && !body->is_null()) {
        if (!body->is_object()) {
          return core::InvalidArgument("kubeconfig " + file + ": " + entry.field +
                                       ": must be a mapping");
        }
        entry.body = *body;
      }
      section.into->emplace(name->get<std::string>(), std::move(entry));  // first one wins
    }
  }
  if (auto cc = doc.find("current-context"); cc != doc.end() && !cc->is_null()) {
    if (!cc->is_string()) {
      return core::InvalidArgument("kubeconfig " + file + ": current-context: must be a string");
    }
    if (merged.current_context.empty() && !cc->get<std::string>().empty()) {
      merged.current_context = cc->get<std::string>();
      merged.current_context_file = file;
    }
  }
  return core::Ok();
}

core::Status MergeText(std::string_view text, const std::string& file, const std::string& base_dir,
                       Merged& merged) {
  auto docs = resources::ParseYamlDocuments(text, file);
  if (!docs.ok()) return docs.error().Wrap("kubeconfig");
  if (merged.first_file.empty()) merged.first_file = file;
  for (const auto& doc : *docs)
    AGENTD_RETURN_IF_ERROR(MergeDocument(doc.value, file, base_dir, merged));
  return core::Ok();
}

// An optional string field of an entry.
core::Result<std::string> StringOf(const Entry& entry, const char* key) {
  auto it = entry.body.find(key);
  if (it == entry.body.end() || it->is_null()) return std::string();
  if (!it->is_string()) return FieldError(entry, key, "must be a string");
  return it->get<std::string>();
}

// `key` (a path) and `key`-data (base64 PEM): into *file or *pem.
core::Status FileOrData(const Entry& entry, const char* key, std::string* file, std::string* pem) {
  std::string data_key = std::string(key) + "-data";
  AGENTD_ASSIGN_OR_RETURN(std::string data, StringOf(entry, data_key.c_str()));
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded) return FieldError(entry, data_key, "invalid base64");
    if (decoded->find("-----BEGIN") == std::string::npos) {
      return FieldError(entry, data_key, "not PEM (no -----BEGIN line after base64 decoding)");
    }
    *pem = std::move(*decoded);
    return core::Ok();
  }
  AGENTD_ASSIGN_OR_RETURN(std::string path, StringOf(entry, key));
  if (path.empty()) return core::Ok();
  std::string resolved = ResolvePath(entry.base_dir, path);
  if (!FileExists(resolved)) {
    return core::NotFound("kubeconfig " + entry.file + ": " + entry.field + "." + key + ": file " +
                          core::QuoteForMessage(resolved, 200) + " does not exist");
  }
  *file = std::move(resolved);
  return core::Ok();
}

std::string Names(const std::map<std::string, Entry>& entries) {
  std::string out;
  for (const auto& [name, entry] : entries) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? "none" : out;
}

core::Result<KubeConfig> Resolve(const Merged& merged, const KubeconfigOptions& options) {
  std::string where = "kubeconfig " + merged.first_file;
  std::string context_name = options.context.empty() ? merged.current_context : options.context;
  if (context_name.empty()) {
    return core::InvalidArgument(where + ": current-context is not set and no context was given");
  }
  auto context = merged.contexts.find(context_name);
  if (context == merged.contexts.end()) {
    return core::InvalidArgument(where + ": context " + core::QuoteForMessage(context_name) +
                                 " not found (contexts: " + Names(merged.contexts) + ")");
  }
  const Entry& ctx = context->second;
  AGENTD_ASSIGN_OR_RETURN(std::string cluster_name, StringOf(ctx, "cluster"));
  if (cluster_name.empty()) return FieldError(ctx, "cluster", "missing");
  AGENTD_ASSIGN_OR_RETURN(std::string user_name, StringOf(ctx, "user"));
  AGENTD_ASSIGN_OR_RETURN(std::string ns, StringOf(ctx, "namespace"));

  auto cluster_it = merged.clusters.find(cluster_name);
  if (cluster_it == merged.clusters.end()) {
    return FieldError(ctx, "cluster",
                      "cluster " + core::QuoteForMessage(cluster_name) +
                          " not found (clusters: " + Names(merged.clusters) + ")");
  }
  const Entry& cluster = cluster_it->second;

  KubeConfig config;
  config.source = "kubeconfig " + ctx.file + " (context " + context_name + ")";
  config.ns = ns.empty() ? "default" : ns;
  AGENTD_ASSIGN_OR_RETURN(config.server, StringOf(cluster, "server"));
  if (config.server.empty()) return FieldError(cluster, "server", "missing");
  if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
    return FieldError(
        cluster, "server",
        "must start with https:// or http://, got " + core::QuoteForMessage(config.server));
  }
  while (config.server.size() > 8 && config.server.back() == '/') config.server.pop_back();
  AGENTD_RETURN_IF_ERROR(
      FileOrData(cluster, "certificate-authority", &config.ca_file, &config.ca_pem));
  if (auto it = cluster.body.find("insecure-skip-tls-verify");
      it != cluster.body.end() && !it->is_null()) {
    if (!it->is_boolean())
      return FieldError(cluster, "insecure-skip-tls-verify", "must be a boolean");
    config.insecure_skip_tls_verify = it->get<bool>();
  }

  if (user_name.empty()) return config;  // anonymous
  auto user_it = merged.users.find(user_name);
  if (user_it == merged.users.end()) {
    return FieldError(ctx, "user",
                      "user " + core::QuoteForMessage(user_name) +
                          " not found (users: " + Names(merged.users) + ")");
  }
  const Entry& user = user_it->second;
  for (const char* unsupported : {"exec", "auth-provider"}) {
    if (user.body.contains(unsupported) && !user.body[unsupported].is_null()) {
      return FieldError(user, unsupported,
                        "credential plugins are not supported; use token, tokenFile or "
                        "client-certificate/client-key");
    }
  }
  if (user.body.contains("username") || user.body.contains("password")) {
    return FieldError(user, "username",
                      "basic authentication is not supported; use a token or a client certificate");
  }
  AGENTD_ASSIGN_OR_RETURN(config.token, StringOf(user, "token"));
  AGENTD_ASSIGN_OR_RETURN(std::string token_file, StringOf(user, "tokenFile"));
  if (!token_file.empty()) {
    config.token_file = ResolvePath(user.base_dir, token_file);
    if (!FileExists(config.token_file)) {
      return core::NotFound("kubeconfig " + user.file + ": " + user.field + ".tokenFile: file " +
                            core::QuoteForMessage(config.token_file, 200) + " does not exist");
    }
  }
  AGENTD_RETURN_IF_ERROR(
      FileOrData(user, "client-certificate", &config.client_cert_file, &config.client_cert_pem));
  AGENTD_RETURN_IF_ERROR(
      FileOrData(user, "client-key", &config.client_key_file, &config.client_key_pem));
  bool has_cert = !config.client_cert_file.empty() || !config.client_cert_pem.empty();
  bool has_key = !config.client_key_file.empty() || !config.client_key_pem.empty();
  if (has_cert != has_key) {
    return FieldError(user, has_cert ? "client-key" : "client-certificate",
                      "missing (a client certificate needs its key and the other way round)");
  }
  return config;
}

}  // namespace

httpclient::CurlTransportOptions TransportOptionsFor(const KubeConfig& config) {
  httpclient::CurlTransportOptions options;
  options.user_agent = "agentd/0.1 (kube)";
  options.ca_file = config.ca_file;
  options.ca_pem = config.ca_pem;
  options.client_cert_file = config.client_cert_file;
  options.client_cert_pem = config.client_cert_pem;
  options.client_key_file = config.client_key_file;
  options.client_key_pem = config.client_key_pem;
  options.insecure_skip_tls_verify = config.insecure_skip_tls_verify;
  return options;
}

InClusterSource InClusterSourceFromEnv() {
  InClusterSource source;
  source.host = core::GetEnv("KUBERNETES_SERVICE_HOST").value_or("");
  source.port = core::GetEnv("KUBERNETES_SERVICE_PORT").value_or("");
  return source;
}

bool RunningInCluster() { return core::GetEnv("KUBERNETES_SERVICE_HOST").has_value(); }

core::Result<KubeConfig> LoadInClusterConfig(const InClusterSource& source) {
  if (source.host.empty() || source.port.empty()) {
    return core::FailedPrecondition(
        "in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT");
  }
  auto port = core::ParseInt(source.port, 1, 65535, "KUBERNETES_SERVICE_PORT");
  if (!port.ok()) return port.error();
  KubeConfig config;
  config.source = "in-cluster";
  // An IPv6 service address needs brackets in a URL.
  std::string host =
      source.host.find(':') != std::string::npos ? "[" + source.host + "]" : source.host;
  config.server = "https://" + host + ":" + std::to_string(*port);
  if (!FileExists(source.token_file)) {
    return core::NotFound("in-cluster service-account token " +
                          core::QuoteForMessage(source.token_file, 200) + " does not exist");
  }
  config.token_file = source.token_file;
  if (!FileExists(source.ca_file)) {
    return core::NotFound("in-cluster CA certificate " +
                          core::QuoteForMessage(source.ca_file, 200) + " does not exist");
  }
  config.ca_file = source.ca_file;
  if (FileExists(source.namespace_file)) {
    AGENTD_ASSIGN_OR_RETURN(std::string ns, ReadFile(source.namespace_file, "namespace file"));
    ns = TrimSpace(ns);
    if (!ns.empty()) config.ns = ns;
  }
  return config;
}

core::Result<KubeConfig> ParseKubeconfig(std::string_view text, std::string_view file_name,
                                         std::string_view base_dir,
                                         const KubeconfigOptions& options) {
  Merged merged;
  AGENTD_RETURN_IF_ERROR(MergeText(text, std::string(file_name), std::string(base_dir), merged));
  return Resolve(merged, options);
}

core::Result<KubeConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                        const KubeconfigOptions& options) {
  Merged merged;
  for (const auto& path : paths) {
    auto text = ReadFile(path, "kubeconfig");
    if (!text.ok()) {
      if (text.error().code == core::ErrorCode::kNotFound) continue;
      return text.error();
    }
    AGENTD_RETURN_IF_ERROR(MergeText(*text, path, DirName(path), merged));
  }
  if (merged.first_file.empty()) {
    std::string list;
    for (const auto& path : paths) list += (list.empty() ? "" : ", ") + path;
    return core::NotFound("no kubeconfig found (looked at: " + (list.empty() ? "nothing" : list) +
                          ")");
  }
  return Resolve(merged, options);
}

std::vector<std::string> DefaultKubeconfigPaths() {
  if (auto env = core::GetEnv("KUBECONFIG")) return core::SplitList(*env, ':');
  if (auto home = core::GetEnv("HOME")) return {*home + "/.kube/config"};
  return {};
}

core::Result<KubeConfig> LoadDefaultConfig(const KubeconfigOptions& options) {
  if (RunningInCluster()) return LoadInClusterConfig(InClusterSourceFromEnv());
  return LoadKubeconfig(DefaultKubeconfigPaths(), options);
}

std::shared_ptr<TokenSource> TokenSource::ForConfig(const KubeConfig& config) {
  if (!config.token_file.empty()) return FromFile(config.token_file);
  if (!config.token.empty()) return Fixed(config.token);
  return nullptr;
}

std::shared_ptr<TokenSource> TokenSource::Fixed(std::string token) {
  auto source = std::make_shared<TokenSource>();
  source->token_ = std::move(token);
  return source;
}

std::shared_ptr<TokenSource> TokenSource::FromFile(std::string path) {
  auto source = std::make_shared<TokenSource>();
  source->path_ = std::move(path);
  return source;
}

core::Result<std::string> TokenSource::Token() {
  std::lock_guard lock(mu_);
  if (path_.empty()) return token_;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    int err = errno;
    // Keep using the token we have while the file is being swapped.
    if (identity_.has_value() && !token_.empty()) return token_;
    std::string message = "token file " + core::QuoteForMessage(path_, 200) + ": " + StrError(err);
    return err == ENOENT ? core::NotFound(message) : core::InvalidArgument(message);
  }
  FileIdentity now{st.st_dev, st.st_ino, st.st_size,
                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  if (identity_.has_value() && *identity_ == now) return token_;
  AGENTD_ASSIGN_OR_RETURN(std::string text, ReadFile(path_, "token file"));
  std::string token = TrimSpace(text);
  if (token.empty()) {
    if (!token_.empty()) return token_;
    return core::InvalidArgument("token file " + core::QuoteForMessage(path_, 200) + " is empty");
  }
  token_ = std::move(token);
  identity_ = now;
  return token_;
}

bool TokenSource::Invalidate() {
  std::lock_guard lock(mu_);
  if (path_.empty()) return false;
  identity_.reset();
  return true;
}

std::optional<std::string> DecodeBase64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  int symbols = 0;
  int padding = 0;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return std::nullopt;  // data after padding
    int v = value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    ++symbols;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (symbols % 4 == 1 || padding > 2) return std::nullopt;
  if (padding > 0 && (symbols + padding) % 4 != 0) return std::nullopt;
  return out;
}

}  // namespace agentd::kube
