// CurlHttpTransport: the libcurl implementation of HttpTransport.
//
// Each call uses its own easy handle driven by a private multi handle, so one transport is safe
// to share between threads and a call can be cancelled (Request::cancel) or timed out for
// silence (Request::idle_timeout) with millisecond precision. Only http and https are allowed,
// redirects are not followed, TLS peers and host names are verified (unless the options say
// insecure_skip_tls_verify), client certificates are optional, no signals are used
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
  // PEM text of trusted CAs held in memory (e.g. a kubeconfig's certificate-authority-data);
  // used instead of ca_file when set.
  std::string ca_pem;
  // A TLS client certificate and its private key, as PEM files or as PEM text in memory (the
  // text wins when both are set). Both halves must be given together.
  std::string client_cert_file;
  std::string client_key_file;
  std::string client_cert_pem;
  std::string client_key_pem;
  // Disables verification of the server's certificate and host name. Only for a kubeconfig that
  // says insecure-skip-tls-verify; never the default.
  bool insecure_skip_tls_verify = false;
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
