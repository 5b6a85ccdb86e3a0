#include "httpclient/curl_transport.h"

#include <algorithm>
#include <memory>
#include <mutex>

#include <curl/curl.h>

namespace agentd::httpclient {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How often the transfer loop wakes up to look at Request::cancel and the idle deadline.
constexpr std::chrono::milliseconds kPollInterval{50};
// Error bodies of streamed calls are kept up to this size (they are JSON error documents).
constexpr size_t kMaxErrorBodyBytes = 64 * 1024;

std::once_flag g_curl_init_once;

struct EasyDeleter {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct MultiDeleter {
  void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
};
struct SlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// State shared with the libcurl callbacks; lives on the stack of Perform.
struct Transfer {
  const Request* request = nullptr;
  const std::function<bool(std::string_view)>* on_body = nullptr;  // null for Send
  CURL* easy = nullptr;
  Response response;
  size_t received = 0;
  bool status_known = false;
  bool stream_body = false;
  bool too_large = false;
  bool aborted_by_caller = false;
  SteadyClock::time_point last_activity;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The URL as it may appear in error messages: no userinfo, query or fragment.
std::string RedactUrl(std::string_view url) {
  std::string_view rest = url;
  std::string scheme;
  if (auto p = rest.find("://"); p != std::string_view::npos) {
    scheme = std::string(rest.substr(0, p + 3));
    rest.remove_prefix(p + 3);
  }
  if (auto at = rest.find('@'); at != std::string_view::npos && at < rest.find('/')) {
    rest.remove_prefix(at + 1);
  }
  rest = rest.substr(0, rest.find_first_of("?#"));
  return scheme + std::string(rest);
}

size_t OnHeader(char* data, size_t size, size_t count, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * count;
  t->last_activity = SteadyClock::now();
  std::string_view line(data, len);
  if (line.substr(0, 5) == "HTTP/") {
    // A new response head (after 100 Continue or a proxy's CONNECT): forget earlier headers.
    t->response.headers.clear();
    return len;
  }
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return len;  // blank line, folding
  t->response.headers.emplace_back(Lowercase(Trim(line.substr(0, colon))),
                                   std::string(Trim(line.substr(colon + 1))));
  return len;
}

size_t OnWrite(char* data, size_t size, size_t count, void* userp) {
  auto* t = static_cast<Transfer*>(userp);
  size_t len = size * count;
  t->last_activity = SteadyClock::now();
  t->received += len;
  if (t->received > t->request->max_response_bytes) {
    t->too_large = true;
    return len == 0 ? 1 : 0;  // any count other than len aborts the transfer
  }
  if (t->on_body == nullptr) {
    t->response.body.append(data, len);
    return len;
  }
  if (!t->status_known) {
    long code = 0;  // NOLINT(google-runtime-int): libcurl's type
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    t->response.status = static_cast<int>(code);
    t->stream_body = code >= 200 && code < 300;
    t->status_known = true;
  }
  if (!t->stream_body) {
    size_t room = kMaxErrorBodyBytes - std::min(kMaxErrorBodyBytes, t->response.body.size());
    t->response.body.append(data, std::min(room, len));
    return len;
  }
  if (!(*t->on_body)(std::string_view(data, len))) {
    t->aborted_by_caller = true;
    return len == 0 ? 1 : 0;
  }
  return len;
}

core::Status CheckHeader(const std::string& name, const std::string& value) {
  auto bad = [](const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; };
  if (name.empty() || bad(name) || bad(value) || name.find(':') != std::string::npos) {
    return core::InvalidArgument("invalid HTTP header name or value for \"" + name.substr(0, 40) +
                                 "\"");
  }
  return core::Ok();
}

core::Error MapCurlError(CURLcode code, const Transfer& t, const char* detail) {
  std::string what =
      t.request->method + " " + RedactUrl(t.request->url) + ": " + curl_easy_strerror(code);
  if (detail != nullptr && detail[0] != '\0') what += std::string(" (") + detail + ")";
  switch (code) {
    case CURLE_WRITE_ERROR:
      if (t.too_large) {
        return core::ResourceExhausted(t.request->method + " " + RedactUrl(t.request->url) +
                                       ": response body exceeds " +
                                       std::to_string(t.request->max_response_bytes) + " bytes");
      }
      if (t.aborted_by_caller) return core::Aborted(what + ": aborted by the caller");
      return core::Internal(what);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return core::InvalidArgument(what);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      return core::Unavailable(what);
    case CURLE_OPERATION_TIMEDOUT:
      return core::DeadlineExceeded(what);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return core::FailedPrecondition(what);
    case CURLE_ABORTED_BY_CALLBACK:
      return core::Aborted(what);
    default:
      return core::Internal(what);
  }
}

}  // namespace

CurlHttpTransport::CurlHttpTransport(CurlTransportOptions options) : options_(std::move(options)) {
  std::call_once(g_curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

core::Result<Response> CurlHttpTransport::Send(const Request& request) {
  return Perform(request, nullptr);
}

core::Result<Response> CurlHttpTransport::SendStreaming(
    const Request& request, const std::function<bool(std::string_view)>& on_body) {
  return Perform(request, &on_body);
}

core::Result<Response> CurlHttpTransport::Perform(
    const Request& request, const std::function<bool(std::string_view)>* on_body) {
  if (request.url.empty()) return core::InvalidArgument("HTTP request without a URL");
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const auto& [name, value] : request.headers) {
    AGENTD_RETURN_IF_ERROR(CheckHeader(name, value));
    // "Name;" is libcurl's syntax for a header with an empty value.
    std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* appended = curl_slist_append(headers.get(), line.c_str());
    if (appended == nullptr) return core::Internal("out of memory building HTTP headers");
    (void)headers.release();  // `appended` is the same list (or a new one when it was empty)
    headers.reset(appended);
  }
  // No "Expect: 100-continue" round trip for large bodies.
  curl_slist* appended = curl_slist_append(headers.get(), "Expect:");
  if (appended == nullptr) return core::Internal("out of memory building HTTP headers");
  (void)headers.release();  // as above
  headers.reset(appended);

  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
  if (!easy || !multi) return core::Internal("curl_easy_init failed");
  CURL* e = easy.get();

  Transfer t;
  t.request = &request;
  t.on_body = on_body;
  t.easy = e;
  char error_buffer[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(e, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  const bool verify = !options_.insecure_skip_tls_verify;
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  // libcurl copies blobs with CURL_BLOB_COPY, so these may go out of scope after setopt.
  auto set_blob = [e](CURLoption option, const std::string& pem) {
    curl_blob blob{const_cast<char*>(pem.data()), pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(e, option, &blob);
  };
  if (!options_.ca_pem.empty()) {
    set_blob(CURLOPT_CAINFO_BLOB, options_.ca_pem);
  } else if (!options_.ca_file.empty()) {
    curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
  }
  if (!options_.client_cert_pem.empty()) {
    set_blob(CURLOPT_SSLCERT_BLOB, options_.client_cert_pem);
    curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!options_.client_cert_file.empty()) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, options_.client_cert_file.c_str());
  }
  if (!options_.client_key_pem.empty()) {
    set_blob(CURLOPT_SSLKEY_BLOB, options_.client_key_pem);
    curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!options_.client_key_file.empty()) {
    curl_easy_setopt(e, CURLOPT_SSLKEY, options_.client_key_file.c_str());
  }
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));  // NOLINT
  if (on_body == nullptr) {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));  // NOLINT
  }
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_buffer);

  if (request.method == "GET") {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else {
    if (request.method != "POST")
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (request.method == "POST" || !request.body.empty()) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, request.body.data());
    }
  }

  if (curl_multi_add_handle(multi.get(), e) != CURLM_OK) {
    return core::Internal("curl_multi_add_handle failed");
  }
  enum class Stop { kNone, kCancelled, kIdle } stop = Stop::kNone;
  t.last_activity = SteadyClock::now();
  while (true) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi.get(), &running);
    if (mc != CURLM_OK) {
      curl_multi_remove_handle(multi.get(), e);
      return core::Internal(std::string("curl_multi_perform: ") + curl_multi_strerror(mc));
    }
    if (running == 0) break;
    if (request.cancel != nullptr && request.cancel->load()) {
      stop = Stop::kCancelled;
      break;
    }
    if (request.idle_timeout.count() > 0 &&
        SteadyClock::now() - t.last_activity >= request.idle_timeout) {
      stop = Stop::kIdle;
      break;
    }
    curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(kPollInterval.count()), nullptr);
  }

  CURLcode code = CURLE_OK;
  if (stop == Stop::kNone) {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &left)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == e) code = msg->data.result;
    }
  }
  curl_multi_remove_handle(multi.get(), e);

  std::string target = request.method + " " + RedactUrl(request.url);
  if (stop == Stop::kCancelled) return core::Aborted(target + ": cancelled");
  if (stop == Stop::kIdle) {
    return core::DeadlineExceeded(target + ": no data for " +
                                  std::to_string(request.idle_timeout.count()) + " ms");
  }
  if (code != CURLE_OK) return MapCurlError(code, t, error_buffer);

  long status = 0;  // NOLINT(google-runtime-int): libcurl's type
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  t.response.status = static_cast<int>(status);
  return std::move(t.response);
}

}  // namespace agentd::httpclient
