// HttpKubeClient: KubeClient over HTTP(S) with an HttpTransport (libcurl in production).
//
// Every request takes a token from the client's TokenBucket first (QPS/burst shared by all
// threads using this client), carries `Authorization: Bearer` from the TokenSource (re-read when
// the token file rotates; one retry after a 401 when the file changed), and is retried on 429 and
// 503 up to max_retries times, waiting Retry-After (capped) or an exponential default. Waiting
// goes through the Sleeper, and a Cancellation in List/Watch options cuts it short.
// Thread-safe; the transport must outlive the client.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/clock.h"
#include "httpclient/http_client.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/rate_limit.h"

namespace agentd::kube {

struct HttpKubeClientOptions {
  // controller-runtime's defaults; qps <= 0 disables the limit.
  double qps = 20;
  int burst = 30;
  // Retries of one call answered 429 or 503.
  int max_retries = 3;
  // Retry-After is honoured up to this; without Retry-After the wait is default_retry_wait,
  // doubled per retry.
  std::chrono::milliseconds max_retry_wait{30'000};
  std::chrono::milliseconds default_retry_wait{500};
  std::chrono::milliseconds request_timeout{30'000};
  std::chrono::milliseconds connect_timeout{10'000};
  size_t max_response_bytes = 64 << 20;
  const core::Clock* clock = nullptr;  // for the rate limiter; null = SystemClock
  Sleeper* sleeper = nullptr;          // null = RealSleeper
};

class HttpKubeClient final : public KubeClient {
 public:
  HttpKubeClient(KubeConfig config, httpclient::HttpTransport& transport,
                 HttpKubeClientOptions options = {});
  // Builds a CurlHttpTransport with the config's TLS settings and owns it.
  static std::unique_ptr<HttpKubeClient> Connect(KubeConfig config,
                                                 HttpKubeClientOptions options = {});
  ~HttpKubeClient() override;

  const KubeConfig& config() const { return config_; }

  core::Result<core::Json> Get(const ObjectRef& ref) override;
  core::Result<ObjectList> List(const GroupVersionResource& gvr, std::string_view ns,
                                const ListOptions& options = {}) override;
  core::Result<core::Json> Create(const GroupVersionResource& gvr, std::string_view ns,
                                  const core::Json& object) override;
  core::Result<core::Json> Update(const ObjectRef& ref, const core::Json& object) override;
  core::Result<core::Json> UpdateStatus(const ObjectRef& ref, const core::Json& object) override;
  core::Result<core::Json> Patch(const ObjectRef& ref, PatchType type,
                                 const core::Json& patch) override;
  core::Result<core::Json> PatchStatus(const ObjectRef& ref, PatchType type,
                                       const core::Json& patch) override;
  core::Result<core::Json> Apply(const ObjectRef& ref, const core::Json& object,
                                 const ApplyOptions& options = {}) override;
  core::Result<core::Json> ApplyStatus(const ObjectRef& ref, const core::Json& object,
                                       const ApplyOptions& options = {}) override;
  core::Result<core::Json> Delete(const ObjectRef& ref, const DeleteOptions& options = {}) override;
  core::Result<WatchEnd> Watch(const GroupVersionResource& gvr, std::string_view ns,
                               const WatchOptions& options, const WatchHandler& handler) override;

 private:
  HttpKubeClient(KubeConfig config, std::unique_ptr<httpclient::HttpTransport> owned,
                 HttpKubeClientOptions options);

  struct Call {
    std::string method;
    std::string path;
    std::string query;  // encoded, without '?'
    std::string content_type;
    std::string body;
    std::string what;  // "get jobs.batch/v1 ns/x", for messages
    const Cancellation* cancel = nullptr;
  };

  // Rate limit, authentication and retries; `on_body` streams a 2xx body (watch).
  core::Result<httpclient::Response> Send(const Call& call,
                                          const std::function<bool(std::string_view)>* on_body,
                                          std::chrono::milliseconds idle_timeout);
  // Send, then the 2xx body parsed as JSON, or the mapped error.
  core::Result<core::Json> SendForObject(const Call& call);
  core::Result<core::Json> PatchAt(const ObjectRef& ref, std::string_view subresource,
                                   PatchType type, const core::Json& patch);
  core::Result<core::Json> ApplyAt(const ObjectRef& ref, std::string_view subresource,
                                   const core::Json& object, const ApplyOptions& options);
  core::Result<core::Json> UpdateAt(const ObjectRef& ref, std::string_view subresource,
                                    const core::Json& object);

  KubeConfig config_;
  std::unique_ptr<httpclient::HttpTransport> owned_transport_;
  httpclient::HttpTransport& transport_;
  HttpKubeClientOptions options_;
  std::shared_ptr<TokenSource> token_source_;
  TokenBucket limiter_;
  Sleeper& sleeper_;
};

}  // namespace agentd::kube
