#include "runner/http_event_sink.h"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <sstream>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "api/v1/runner_protocol.h"
#include "runner/fake_events_transport.h"
#include "testing/fake_clock.h"

namespace agentd::runner {
namespace {

using namespace std::chrono_literals;
using testing::FakeAnswer;
using testing::FakeEventsTransport;
using testing::HeaderOf;

constexpr char kToken[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) lines.push_back(line);
  return lines;
}

// The seq numbers of the events in a request body, in order.
std::vector<int64_t> Seqs(const std::string& body) {
  std::vector<int64_t> seqs;
  for (const std::string& line : Lines(body)) {
    auto event = api::v1::ParseRunnerEvent(line);
    EXPECT_TRUE(event.ok()) << line;
    if (event.ok()) seqs.push_back(event->seq);
  }
  return seqs;
}

class HttpEventSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/agentd-http-sink-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    journal_path_ = dir_ + "/journal.jsonl";
    journal_fd_ = ::open(journal_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ASSERT_GE(journal_fd_, 0);
  }
  void TearDown() override {
    ::close(journal_fd_);
    std::system(("rm -rf " + dir_).c_str());
  }

  HttpEventSinkOptions Options() {
    HttpEventSinkOptions options;
    options.url = "http://agentd.test/api/v1/runs/run-1/events";
    options.token = kToken;
    options.attempt = 2;
    options.runner_instance = "pod-a";
    options.flush_interval = 10s;  // size and Close trigger batches unless a test says otherwise
    options.retry.base_delay = 1ms;
    options.retry.max_delay = 2ms;
    options.retry.max_retry_after = 5ms;
    return options;
  }

  std::string Journal() {
    std::ifstream in(journal_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string dir_;
  std::string journal_path_;
  int journal_fd_ = -1;
  agentd::testing::FakeClock clock_;
  FakeEventsTransport transport_;
};

TEST_F(HttpEventSinkTest, PostsBatchesOfAtMost256EventsInOrderWithTheRunnersHeaders) {
  HttpEventSink sink(journal_fd_, clock_, transport_, Options());
  for (int i = 0; i < 600; ++i) sink.Emit("delta", {{"content", "x" + std::to_string(i)}});

  core::Status closed = sink.Close(10s);

  ASSERT_TRUE(closed.ok()) << closed.error().message;
  auto requests = transport_.requests();
  ASSERT_EQ(requests.size(), 3u);
  std::vector<int64_t> all;
  std::vector<size_t> sizes;
  for (const auto& r : requests) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.url, "http://agentd.test/api/v1/runs/run-1/events");
    EXPECT_EQ(HeaderOf(r, "Authorization"), std::string("Bearer ") + kToken);
    EXPECT_EQ(HeaderOf(r, "X-Agentd-Attempt"), "2");
    EXPECT_EQ(HeaderOf(r, "X-Agentd-Runner"), "pod-a");
    EXPECT_EQ(HeaderOf(r, "Content-Type"), "application/x-ndjson");
    auto seqs = Seqs(r.body);
    sizes.push_back(seqs.size());
    all.insert(all.end(), seqs.begin(), seqs.end());
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{256, 256, 88}));
  ASSERT_EQ(all.size(), 600u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i + 1));
  EXPECT_EQ(sink.delivered(), 600);
  EXPECT_EQ(sink.last_seq(), 600);
  // The journal has every line, exactly as posted.
  std::string posted;
  for (const auto& r : requests) posted += r.body;
  EXPECT_EQ(Journal(), posted);
}

TEST_F(HttpEventSinkTest, AFewEventsGoOutOnceTheFlushIntervalHasPassed) {
  HttpEventSinkOptions options = Options();
  options.flush_interval = 20ms;
  HttpEventSink sink(journal_fd_, clock_, transport_, options);

  sink.Emit("phase", {{"phase", "Running"}});
  sink.Emit("message", {{"role", "assistant"}, {"content", "hi"}});

  // Delivered without Close (poll: the interval runs on the real clock).
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (sink.delivered() < 2 && std::chrono::steady_clock::now() < deadline) {
    transport_.WaitForRequests(transport_.requests().size() + 1, 10ms);
  }
  ASSERT_EQ(sink.delivered(), 2);
  std::vector<int64_t> all;
  for (const auto& r : transport_.requests()) {
    auto seqs = Seqs(r.body);
    all.insert(all.end(), seqs.begin(), seqs.end());
  }
  EXPECT_EQ(all, (std::vector<int64_t>{1, 2}));
  EXPECT_TRUE(sink.Close(5s).ok());
}

TEST_F(HttpEventSinkTest, BatchesStayUnderTheByteLimit) {
  HttpEventSinkOptions options = Options();
  options.max_batch_bytes = 1000;
  HttpEventSink sink(journal_fd_, clock_, transport_, options);
  for (int i = 0; i < 10; ++i)
    sink.Emit("log", {{"stream", "stderr"}, {"line", std::string(300, 'a')}});

  ASSERT_TRUE(sink.Close(5s).ok());

  std::vector<int64_t> all;
  for (const auto& r : transport_.requests()) {
    EXPECT_LE(r.body.size(), 1000u);
    auto seqs = Seqs(r.body);
    EXPECT_FALSE(seqs.empty());
    all.insert(all.end(), seqs.begin(), seqs.end());
  }
  EXPECT_EQ(all, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_GE(transport_.requests().size(), 4u);
}

TEST_F(HttpEventSinkTest, RetriesTheSameBatchAfter503And429AndConnectionErrorsThenSucceeds) {
  transport_.Script({FakeAnswer::Problem(503, "unavailable", "the store is busy"),
                     {.status = 429, .body = "", .headers = {{"retry-after", "0"}}, .error = {}},
                     FakeAnswer::Failure(core::Unavailable("connection refused")),
                     {.status = 200, .body = R"({"accepted":2})", .headers = {}, .error = {}}});
  std::atomic<bool> stopped{false};
  HttpEventSink sink(journal_fd_, clock_, transport_, Options(), [&] { stopped = true; });
  sink.Emit("phase", {{"phase", "Running"}});
  sink.Emit("message", {{"role", "assistant"}, {"content", "hi"}});

  core::Status closed = sink.Close(10s);

  ASSERT_TRUE(closed.ok()) << closed.error().message;
  auto requests = transport_.requests();
  ASSERT_EQ(requests.size(), 4u);
  for (const auto& r : requests) EXPECT_EQ(r.body, requests[0].body);
  EXPECT_EQ(Seqs(requests[0].body), (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(stopped.load());
  EXPECT_FALSE(sink.stopped_error().has_value());
}

TEST_F(HttpEventSinkTest, StopsFor409AttemptFencedAndKeepsTheJournal) {
  transport_.Script({FakeAnswer::Problem(
      409, "attempt_fenced", "attempt 2 of run run-1 belongs to another runner instance")});
  std::atomic<int> stopped{0};
  HttpEventSink sink(journal_fd_, clock_, transport_, Options(), [&] { ++stopped; });
  sink.Emit("phase", {{"phase", "Running"}});

  core::Status closed = sink.Close(10s);
  sink.Emit("result", {{"status", "failed"}});  // after Close: the journal only

  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().code, core::ErrorCode::kFailedPrecondition);
  EXPECT_EQ(closed.error().reason, "attempt_fenced");
  EXPECT_NE(closed.error().message.find("fenced"), std::string::npos) << closed.error().message;
  EXPECT_NE(closed.error().message.find("another runner instance"), std::string::npos);
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_EQ(transport_.requests().size(), 1u);  // never retried
  ASSERT_TRUE(sink.stopped_error().has_value());
  EXPECT_EQ(Lines(Journal()).size(), 2u);
}

TEST_F(HttpEventSinkTest, StopsMidRunWhenFencedAndDropsWhatIsQueued) {
  HttpEventSinkOptions options = Options();
  options.max_batch_events = 1;
  transport_.Script({{.status = 200, .body = "", .headers = {}, .error = {}},
                     FakeAnswer::Problem(409, "attempt_fenced", "fenced")});
  std::promise<void> stopped;
  HttpEventSink sink(journal_fd_, clock_, transport_, options, [&] { stopped.set_value(); });
  sink.Emit("phase", {{"phase", "Running"}});
  sink.Emit("message", {{"role", "assistant"}, {"content", "one"}});
  ASSERT_EQ(stopped.get_future().wait_for(10s), std::future_status::ready);

  for (int i = 0; i < 5; ++i) sink.Emit("delta", {{"content", "later"}});

  EXPECT_FALSE(sink.Close(5s).ok());
  EXPECT_EQ(transport_.requests().size(), 2u);
  EXPECT_EQ(sink.delivered(), 1);
  EXPECT_EQ(Lines(Journal()).size(), 7u);
}

TEST_F(HttpEventSinkTest, ARefusalNeverRepeatsTheToken) {
  // A misbehaving proxy echoes the request headers back in its error.
  transport_.Script(
      {FakeAnswer::Problem(401, "unauthenticated", std::string("bad token Bearer ") + kToken)});
  HttpEventSink sink(journal_fd_, clock_, transport_, Options());
  sink.Emit("phase", {{"phase", "Running"}});

  core::Status closed = sink.Close(10s);

  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().reason, "unauthenticated");
  EXPECT_EQ(closed.error().message.find(kToken), std::string::npos) << closed.error().message;
}

TEST_F(HttpEventSinkTest, OtherClientErrorsStopDeliveryToo) {
  transport_.Script({FakeAnswer::Problem(400, "invalid_argument", "line 1 of the batch: bad")});
  HttpEventSink sink(journal_fd_, clock_, transport_, Options());
  sink.Emit("phase", {{"phase", "Running"}});

  core::Status closed = sink.Close(10s);

  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().reason, "invalid_argument");
  EXPECT_NE(closed.error().message.find("refused"), std::string::npos);
  EXPECT_EQ(transport_.requests().size(), 1u);
}

TEST_F(HttpEventSinkTest, GivesUpWhenRetriesRunOut) {
  HttpEventSinkOptions options = Options();
  options.retry.max_retries = 2;
  transport_.Script({FakeAnswer::Problem(503, "unavailable", "down"),
                     FakeAnswer::Problem(503, "unavailable", "down"),
                     FakeAnswer::Problem(503, "unavailable", "still down")});
  std::atomic<bool> stopped{false};
  HttpEventSink sink(journal_fd_, clock_, transport_, options, [&] { stopped = true; });
  sink.Emit("phase", {{"phase", "Running"}});

  core::Status closed = sink.Close(10s);

  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().code, core::ErrorCode::kUnavailable);
  EXPECT_NE(closed.error().message.find("after 3 attempts"), std::string::npos)
      << closed.error().message;
  EXPECT_NE(closed.error().message.find("still down"), std::string::npos);
  EXPECT_EQ(transport_.requests().size(), 3u);
  EXPECT_TRUE(stopped.load());
}

TEST_F(HttpEventSinkTest, EmitWaitsWhileTheQueueIsFullAndResumesWhenItDrains) {
  HttpEventSinkOptions options = Options();
  options.max_queued_bytes = 4096;
  options.max_batch_events = 4;
  transport_.CloseGate();  // the API does not answer yet
  HttpEventSink sink(journal_fd_, clock_, transport_, options);
  std::atomic<int> emitted{0};

  auto emitter = std::async(std::launch::async, [&] {
    for (int i = 0; i < 100; ++i) {
      sink.Emit("log", {{"stream", "stderr"}, {"line", std::string(200, 'b')}});
      ++emitted;
    }
  });
  ASSERT_TRUE(transport_.WaitForRequests(1, 5s));

  // About 4 KiB fit (in flight + queued); the rest waits for the API.
  EXPECT_EQ(emitter.wait_for(300ms), std::future_status::timeout);
  EXPECT_LT(emitted.load(), 30);
  transport_.OpenGate();
  ASSERT_EQ(emitter.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(sink.Close(10s).ok());
  std::vector<int64_t> all;
  for (const auto& r : transport_.requests()) {
    auto seqs = Seqs(r.body);
    all.insert(all.end(), seqs.begin(), seqs.end());
  }
  ASSERT_EQ(all.size(), 100u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i + 1));
}

TEST_F(HttpEventSinkTest, CloseGivesUpOnAnApiThatNeverAnswers) {
  transport_.CloseGate();
  HttpEventSink sink(journal_fd_, clock_, transport_, Options());
  sink.Emit("result", {{"status", "succeeded"}});

  core::Status closed = sink.Close(50ms);

  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().code, core::ErrorCode::kDeadlineExceeded);
  EXPECT_EQ(sink.delivered(), 0);
}

}  // namespace
}  // namespace agentd::runner
