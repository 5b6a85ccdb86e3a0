// Helpers shared by the kube tests (not part of the library).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "httpclient/curl_transport.h"
#include "kube/cancellation.h"
#include "kube/http_kube_client.h"
#include "testing/fake_kube_api_server.h"

namespace agentd::kube::test {

using namespace std::chrono_literals;

// Polls `condition` until it holds or the deadline passes.
template <typename F>
bool Eventually(F condition, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

// Records every requested wait and returns at once (false when already cancelled).
class RecordingSleeper final : public Sleeper {
 public:
  bool SleepFor(std::chrono::nanoseconds duration, const Cancellation* cancel) override {
    std::lock_guard lock(mu_);
    waits_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(duration));
    return cancel == nullptr || !cancel->cancelled();
  }
  // The waits of at least `min` (rate-limiter waits of zero are recorded too).
  std::vector<std::chrono::milliseconds> Waits(std::chrono::milliseconds min = 1ms) const {
    std::lock_guard lock(mu_);
    std::vector<std::chrono::milliseconds> out;
    for (auto w : waits_) {
      if (w >= min) out.push_back(w);
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::chrono::milliseconds> waits_;
};

// A fake API server plus a client of it.
class FakeClusterTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer({}); }

  void StartServer(testing::FakeKubeApiServerOptions options) {
    client_.reset();
    server_.reset();
    auto server = testing::FakeKubeApiServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server).value();
    client_ = MakeClient();
  }

  std::unique_ptr<HttpKubeClient> MakeClient(HttpKubeClientOptions options = {}) {
    KubeConfig config;
    config.server = server_->url();
    config.token = "test-token";
    config.ns = "ns";
    if (options.sleeper == nullptr) options.sleeper = &sleeper_;
    return std::make_unique<HttpKubeClient>(config, transport_, options);
  }

  RecordingSleeper sleeper_;
  httpclient::CurlHttpTransport transport_;
  std::unique_ptr<testing::FakeKubeApiServer> server_;
  std::unique_ptr<HttpKubeClient> client_;
};

}  // namespace agentd::kube::test
