// CurlHttpTransport: the libcurl implementation of HttpTransport.
//
// Each call uses its own easy handle driven by a private multi handle, so one transport is safe
// to share between threads and a call can be cancelled (Request::cancel) or timed out for
// silence (Request::idle_timeout) with millisecond precision. Only http and https are allowed,
// redirects are not followed, TLS peers and host names are always verified, no signals are used
// (CURLOPT_NOSIGNAL) and nothing about a request is logged (headers carry API keys).
//
// Error mapping (HTTP error statuses are not errors, see HttpTransport):
//   kInvalidArgument    malformed URL, unsupported scheme, CR/LF in a header
//   kUnavailable        DNS, connect, reset, peer closed mid-body, TLS handshake failures
//   kFailedPrecondition TLS certificate verification failed (retrying will not help)
//   kDeadlineExceeded   connect_timeout, timeout, or idle_timeout elapsed
//   kResourceExhausted  body larger than max_response_bytes
//   kAborted            on_body returned false, or Request::cancel became true
//   kInternal           anything else libcurl reports
#pragma once

#include <string>

#include "httpclient/http_client.h"

namespace agentd::httpclient {

struct CurlTransportOptions {
  std::string user_agent = "agentd/0.1";
  // PEM bundle of trusted CAs; empty = the system default store.
  std::string ca_file;
};

class CurlHttpTransport final : public HttpTransport {
 public:
  // Initialises libcurl once per process (thread-safe).
  explicit CurlHttpTransport(CurlTransportOptions options = {});

  core::Result<Response> Send(const Request& request) override;
  core::Result<Response> SendStreaming(
      const Request& request, const std::function<bool(std::string_view)>& on_body) override;

 private:
  core::Result<Response> Perform(const Request& request,
                                 const std::function<bool(std::string_view)>* on_body);

  CurlTransportOptions options_;
};

}  // namespace agentd::httpclient
