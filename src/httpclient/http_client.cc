#include "httpclient/http_client.h"

namespace agentd::httpclient {

std::optional<std::string> Response::Header(std::string_view lowercase_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lowercase_name) return value;
  }
  return std::nullopt;
}

}  // namespace agentd::httpclient
