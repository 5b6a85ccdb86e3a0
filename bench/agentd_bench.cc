// agentd_bench: measurements of the real `agentd serve` binary that wrk cannot make.
//
//   agentd_bench startup     idle RSS after start, and time from exec to the first 200 on /ready
//   agentd_bench dispatch    Queued -> runner process started, per run (p50/p99 over N runs)
//   agentd_bench followers   N concurrent SSE followers of one run: does each get every event?
//
// Each prints one JSON line of results. Needs AGENTD_BUILD_DIR (the build tree) and
// AGENTD_SOURCE_DIR (the source tree); bench/run.sh sets both.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/time.h"
#include "testing/fake_model_server.h"
#include "tests/integration/harness.h"

namespace agentd::bench {
namespace {

using integration::AgentdServer;
using integration::TempDir;
using Clock = std::chrono::steady_clock;

std::string Config(const std::string& base_url) {
  return "apiVersion: agentd.dev/v1alpha1\nkind: Model\nmetadata: {name: fake}\nspec:\n"
         "  provider: openai-compatible\n  baseUrl: " +
         base_url +
         "\n  model: fake-model\n"
         "  pricing: {inputPerMillionUsd: \"0.50\", outputPerMillionUsd: \"1.50\"}\n---\n"
         "apiVersion: agentd.dev/v1alpha1\nkind: Agent\nmetadata: {name: developer}\nspec:\n"
         "  role: developer\n  model: fake\n  systemPrompt: You are a careful engineer.\n"
         "  tools: [read_file, write_file, list_files, shell]\n";
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

int Startup(int rounds) {
  testing::FakeModelServer model;
  if (!model.Start().ok()) return 1;
  std::vector<double> ready_ms;
  std::vector<long> rss;
  for (int i = 0; i < rounds; ++i) {
    TempDir config;
    integration::WriteFile(config.Sub("objects.yaml"), Config(model.base_url()));
    auto start = Clock::now();
    auto server = AgentdServer::Start({.config_dir = config.path()});
    if (!server.ok()) {
      std::cerr << server.error().message << "\n";
      return 1;
    }
    // "listening" is logged once the port is bound; /ready is what a probe sees.
    while ((*server)->Get("/ready").value_or(httpclient::Response{}).status != 200) {
    }
    ready_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    // Let allocation settle: a few probes, then read RSS of the idle process.
    for (int k = 0; k < 10; ++k) (void)(*server)->Get("/health");
    rss.push_back(RssKb((*server)->process().pid()));
  }
  std::sort(rss.begin(), rss.end());
  std::printf(
      "{\"bench\":\"startup\",\"rounds\":%d,\"ready_ms_p50\":%.1f,\"ready_ms_max\":%.1f,"
      "\"idle_rss_kb_p50\":%ld,\"idle_rss_kb_max\":%ld}\n",
      rounds, Percentile(ready_ms, 50), Percentile(ready_ms, 100), rss[rss.size() / 2], rss.back());
  return 0;
}

int Dispatch(int runs) {
  testing::FakeModelServer model({.mode = testing::FakeMode::kEcho});
  if (!model.Start().ok()) return 1;
  TempDir config;
  integration::WriteFile(config.Sub("objects.yaml"), Config(model.base_url()));
  auto server = AgentdServer::Start({.config_dir = config.path()});
  if (!server.ok()) return 1;
  std::vector<double> queued_to_started_ms;
  for (int i = 0; i < runs; ++i) {
    auto r = (*server)->Post("/api/v1/runs", R"({"agent":"developer","input":"hi"})");
    if (!r.ok() || r->status != 201) return 1;
    std::string id = core::ParseJson(r->body).value()["id"];
    if (!(*server)->WaitForRunEnd(id, std::chrono::seconds(30)).ok()) return 1;
    auto events =
        core::ParseJson((*server)->Get("/api/v1/runs/" + id + "/events")->body).value()["items"];
    // The scheduler writes the Running phase event right after the executor has spawned the
    // runner process, so Queued -> Running is "queued until the process started" (ms precision).
    std::optional<double> queued, spawned;
    for (const auto& e : events) {
      if (e["type"] != "phase") continue;
      double t = static_cast<double>(
          core::ToUnixMillis(core::ParseRfc3339(e["time"].get<std::string>()).value()));
      if (e["data"]["phase"] == "Queued") queued = t;
      if (e["data"]["phase"] == "Running") spawned = t;
    }
    if (queued && spawned) queued_to_started_ms.push_back(*spawned - *queued);
  }
  std::printf(
      "{\"bench\":\"dispatch\",\"runs\":%d,\"measured\":%zu,\"queued_to_spawned_ms_p50\":%.2f,"
      "\"p99\":%.2f}\n",
      runs, queued_to_started_ms.size(), Percentile(queued_to_started_ms, 50),
      Percentile(queued_to_started_ms, 99));
  return 0;
}

// Opens `n` raw TCP connections, sends an SSE request on each, and reads them all with epoll
// until every stream has closed; returns per-connection event ids.
std::vector<std::vector<int64_t>> FollowAll(uint16_t port, const std::string& path,
                                            const std::string& key, int n,
                                            const std::function<void()>& after_connect) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<int> fds;
  std::vector<std::string> bufs(static_cast<size_t>(n));
  std::string request = "GET " + path +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
                        "Authorization: Bearer " +
                        key + "\r\n\r\n";
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::perror("connect");
      break;
    }
    (void)!write(fd, request.data(), request.size());
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(fds.size());
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds.push_back(fd);
  }
  after_connect();
  size_t open = fds.size();
  char buf[65536];
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (open > 0 && Clock::now() < deadline) {
    epoll_event events[256];
    int got = epoll_wait(ep, events, 256, 1000);
    for (int i = 0; i < got; ++i) {
      uint32_t idx = events[i].data.u32;
      ssize_t r = read(fds[idx], buf, sizeof buf);
      if (r > 0) {
        bufs[idx].append(buf, static_cast<size_t>(r));
      } else {
        epoll_ctl(ep, EPOLL_CTL_DEL, fds[idx], nullptr);
        close(fds[idx]);
        --open;
      }
    }
  }
  close(ep);
  std::vector<std::vector<int64_t>> ids(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) {
    size_t pos = 0;
    while ((pos = bufs[i].find("\nid: ", pos)) != std::string::npos) {
      pos += 5;
      ids[i].push_back(std::stoll(bufs[i].substr(pos, bufs[i].find('\n', pos) - pos)));
    }
  }
  return ids;
}

int Followers(int n) {
  testing::FakeModelServer model({.when_exhausted = testing::WhenExhausted::kRepeatLast});
  if (!model.Start().ok()) return 1;
  // A slow, long answer: followers connect during the delay, then receive a live stream.
  model.Enqueue({.text = std::string(4000, 'x'),
                 .delay = std::chrono::milliseconds(1500),
                 .chunk_delay = std::chrono::milliseconds(2)});
  TempDir config;
  integration::WriteFile(config.Sub("objects.yaml"), Config(model.base_url()));
  auto server =
      AgentdServer::Start({.config_dir = config.path(), .env = {{"AGENTD_HTTP_THREADS", "2"}}});
  if (!server.ok()) return 1;
  auto r = (*server)->Post("/api/v1/runs", R"({"agent":"developer","input":"stream"})");
  std::string id = core::ParseJson(r->body).value()["id"];
  std::string url = (*server)->url();
  uint16_t port = static_cast<uint16_t>(std::stoi(url.substr(url.rfind(':') + 1)));
  auto start = Clock::now();
  auto ids = FollowAll(port, "/api/v1/runs/" + id + "/events", (*server)->api_key(), n, [] {});
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto all = core::ParseJson((*server)->Get("/api/v1/runs/" + id + "/events?limit=1000")->body)
                 .value()["items"];
  int64_t total = static_cast<int64_t>(all.size());
  int complete = 0;
  for (const auto& got : ids) {
    bool ok = static_cast<int64_t>(got.size()) == total;
    for (size_t i = 0; ok && i < got.size(); ++i) ok = got[i] == static_cast<int64_t>(i + 1);
    complete += ok ? 1 : 0;
  }
  std::printf(
      "{\"bench\":\"followers\",\"followers\":%d,\"connected\":%zu,\"events_per_run\":%lld,"
      "\"followers_with_every_event_in_order\":%d,\"seconds\":%.2f}\n",
      n, ids.size(), static_cast<long long>(total), complete, seconds);
  return complete == n ? 0 : 1;
}

}  // namespace
}  // namespace agentd::bench

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "";
  int n = argc > 2 ? std::atoi(argv[2]) : 0;
  if (what == "startup") return agentd::bench::Startup(n > 0 ? n : 10);
  if (what == "dispatch") return agentd::bench::Dispatch(n > 0 ? n : 200);
  if (what == "followers") return agentd::bench::Followers(n > 0 ? n : 1000);
  std::fprintf(stderr, "usage: agentd_bench startup|dispatch|followers [N]\n");
  return 2;
}
