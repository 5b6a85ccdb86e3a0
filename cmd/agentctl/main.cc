// Composition root of agentctl: the real HTTP transport (libcurl) and the process's streams.
#include <iostream>

#include "cli/cli.h"
#include "httpclient/curl_transport.h"

int main(int argc, char** argv) {
  agentd::httpclient::CurlHttpTransport transport;
  return agentd::cli::RunCli(argc, argv, std::cout, std::cerr, transport);
}
