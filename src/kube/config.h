// Where the Kubernetes API is and how to authenticate to it: in-cluster (service-account token,
// CA and namespace mounted into the pod) or a kubeconfig file (current context, cluster server
// and CA, user token or client certificate).
//
// Supported kubeconfig fields: current-context; contexts[].context.{cluster,user,namespace};
// clusters[].cluster.{server, certificate-authority, certificate-authority-data,
// insecure-skip-tls-verify}; users[].user.{token, tokenFile, client-certificate,
// client-certificate-data, client-key, client-key-data}. Relative file paths are resolved against
// the directory of the kubeconfig that names them. `exec`, `auth-provider` and basic auth are
// refused with a message that says so. KUBECONFIG may list several files (':'); as with kubectl,
// the first file that defines a name (or current-context) wins.
//
// Every error says which file and which field: `kubeconfig /home/a/.kube/config: users[name="me"]
// .user.client-key-data: invalid base64`. Missing files are kNotFound, everything else
// kInvalidArgument.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "core/result.h"
#include "httpclient/curl_transport.h"

namespace agentd::kube {

struct KubeConfig {
  // "https://host:port", possibly with a path prefix; no trailing '/'.
  std::string server;
  // Trusted CA: a PEM file or PEM text (the text wins); both empty = the system store.
  std::string ca_file;
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // Bearer token: fixed text, or a file re-read when it changes (bound service-account tokens
  // rotate). The file wins when both are set.
  std::string token;
  std::string token_file;
  // TLS client certificate and key: files or PEM text (the text wins).
  std::string client_cert_file;
  std::string client_cert_pem;
  std::string client_key_file;
  std::string client_key_pem;
  // The default namespace: the context's, or the pod's own in cluster, else "default".
  std::string ns = "default";
  // Where this came from, for logs: "in-cluster" or "kubeconfig <file> (context <name>)".
  std::string source;
};

// The transport options that carry the TLS half of `config` (CA, client certificate).
httpclient::CurlTransportOptions TransportOptionsFor(const KubeConfig& config);

// Where an in-cluster configuration is read from; InClusterSourceFromEnv() gives the real one.
struct InClusterSource {
  std::string host;  // KUBERNETES_SERVICE_HOST
  std::string port;  // KUBERNETES_SERVICE_PORT
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};
InClusterSource InClusterSourceFromEnv();
// True when KUBERNETES_SERVICE_HOST is set (we run in a pod).
bool RunningInCluster();

// Reads the in-cluster configuration. The token and CA files must exist (kNotFound naming the
// file otherwise); the namespace file is optional. The token is read per request from the
// file (see TokenSource), not copied here.
core::Result<KubeConfig> LoadInClusterConfig(const InClusterSource& source);

struct KubeconfigOptions {
  // Use this context instead of current-context.
  std::string context;
};

// Parses one kubeconfig document. `file_name` names it in errors; relative paths are resolved
// against `base_dir`.
core::Result<KubeConfig> ParseKubeconfig(std::string_view text, std::string_view file_name,
                                         std::string_view base_dir,
                                         const KubeconfigOptions& options = {});
// Reads and merges the files (missing files after the first existing one are skipped, as
// kubectl does; none existing is kNotFound).
core::Result<KubeConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                        const KubeconfigOptions& options = {});
// KUBECONFIG split on ':', else $HOME/.kube/config.
std::vector<std::string> DefaultKubeconfigPaths();

// In cluster when RunningInCluster(), else the default kubeconfig.
core::Result<KubeConfig> LoadDefaultConfig(const KubeconfigOptions& options = {});

// The bearer token for each request. A file-backed source re-reads the file when its identity
// (device, inode, size, modification time) changes, which covers kubelet's atomic symlink swap
// of projected tokens, and when Invalidate() was called (after a 401). Thread-safe.
class TokenSource {
 public:
  // A source for `config`: null when it has neither token nor token_file.
  static std::shared_ptr<TokenSource> ForConfig(const KubeConfig& config);
  static std::shared_ptr<TokenSource> Fixed(std::string token);
  static std::shared_ptr<TokenSource> FromFile(std::string path);

  // The current token; kNotFound / kInvalidArgument (empty file) naming the file.
  core::Result<std::string> Token();
  // Forces a re-read on the next Token(); false for fixed tokens (nothing could change).
  bool Invalidate();

 private:
  struct FileIdentity {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
  };

  std::mutex mu_;
  std::string token_;
  std::string path_;  // empty for a fixed token
  std::optional<FileIdentity> identity_;
};

// Strict RFC 4648 base64 (padding optional, whitespace ignored); nullopt when malformed.
std::optional<std::string> DecodeBase64(std::string_view text);

}  // namespace agentd::kube
