#include "server/event_stream.h"

#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "bus/memory_bus.h"
#include "core/ids.h"
#include "store/sqlite/sqlite_run_store.h"
#include "testing/fake_clock.h"

namespace agentd::server {
namespace {

// A StreamWriter without a network: it records frames, and the test plays the loop thread by
// running the OnDrained / OnClose callbacks.
class FakeWriter final : public net::StreamWriter {
 public:
  bool Write(std::string data) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    frames_.push_back(std::move(data));
    return true;
  }
  void Close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }
  size_t buffered() const override { return 0; }
  void OnDrained(std::function<void()> callback) override {
    std::lock_guard lock(mu_);
    if (!closed_) drained_.push_back(std::move(callback));
  }
  void OnClose(std::function<void()> callback) override {
    std::lock_guard lock(mu_);
    on_close_.push_back(std::move(callback));
  }

  // Runs drained callbacks until none are left (what the loop does while the peer keeps up).
  void Drain() {
    for (;;) {
      std::vector<std::function<void()>> callbacks;
      {
        std::lock_guard lock(mu_);
        callbacks.swap(drained_);
      }
      if (callbacks.empty()) return;
      for (auto& callback : callbacks) callback();
    }
  }
  // The end of the stream, as the loop reports it.
  void FinishClose() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      drained_.clear();
      callbacks.swap(on_close_);
    }
    for (auto& callback : callbacks) callback();
  }
  // The seq of every event frame written, in order.
  std::vector<int64_t> Seqs() const {
    std::lock_guard lock(mu_);
    std::vector<int64_t> seqs;
    for (const std::string& frame : frames_) {
      EXPECT_EQ(frame.compare(0, 4, "id: "), 0) << frame;
      seqs.push_back(std::stoll(frame.substr(4)));
    }
    return seqs;
  }
  size_t pending_drains() const {
    std::lock_guard lock(mu_);
    return drained_.size();
  }

 private:
  mutable std::mutex mu_;
  bool closed_ = false;
  std::vector<std::string> frames_;
  std::vector<std::function<void()>> drained_;
  std::vector<std::function<void()>> on_close_;
};

std::vector<int64_t> Range(int64_t first, int64_t last) {
  std::vector<int64_t> out;
  for (int64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

class EventStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteRunStore::Open(":memory:", {.clock = &clock_});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = std::move(store).value();
    runs::Run run;
    run.id = core::NewRunId(clock_.Now());
    run.agent = "dev";
    run.created_at = clock_.Now();
    run.phase = runs::Phase::kQueued;
    auto created = store_->CreateRun(run);  // writes event 1 ("phase" Queued)
    ASSERT_TRUE(created.ok()) << created.error().message;
    run_id_ = run.id;
  }

  // Appends `n` log events to the store; returns them (not published).
  std::vector<runs::Event> Append(int n) {
    std::vector<store::EventDraft> drafts;
    for (int i = 0; i < n; ++i) {
      drafts.push_back({.type = "log", .data = {{"line", i}}, .time = clock_.Now()});
    }
    auto events = store_->AppendEvents(run_id_, drafts);
    EXPECT_TRUE(events.ok());
    return events.ok() ? *events : std::vector<runs::Event>{};
  }
  void Publish(const std::vector<runs::Event>& events) {
    for (const auto& e : events) bus_.Publish(e);
  }
  runs::Event Transition(runs::Phase to) {
    store::Transition t;
    t.to = to;
    t.reason = "Test";
    t.time = clock_.Now();
    auto result = store_->TransitionRun(run_id_, t);
    EXPECT_TRUE(result.ok()) << result.error().message;
    return result.ok() ? result->event : runs::Event{};
  }

  // The loop always reports the end of a stream; so does TearDown for the fakes (which also
  // breaks the writer <-> stream reference cycle the callbacks hold until then).
  std::shared_ptr<FakeWriter> NewWriter() {
    writers_.push_back(std::make_shared<FakeWriter>());
    return writers_.back();
  }
  void TearDown() override {
    for (auto& writer : writers_) writer->FinishClose();
  }

  std::shared_ptr<EventStream> NewStream(int64_t after, int page_size = 256) {
    return std::make_shared<EventStream>(*store_, run_id_, after,
                                         EventStream::Options{.page_size = page_size},
                                         [this] { ++ended_; });
  }

  testing::FakeClock clock_;
  bus::MemoryBus bus_;
  std::unique_ptr<store::SqliteRunStore> store_;
  std::string run_id_;
  std::vector<std::shared_ptr<FakeWriter>> writers_;
  int ended_ = 0;
};

TEST_F(EventStreamTest, SendsTheBacklogThenLiveEvents) {
  Append(3);  // seq 2..4
  auto writer = NewWriter();
  auto stream = NewStream(0);
  stream->Subscribe(bus_);
  stream->Start(writer, false);
  writer->Drain();
  EXPECT_EQ(writer->Seqs(), Range(1, 4));

  Publish(Append(2));  // seq 5, 6 live
  EXPECT_EQ(writer->Seqs(), Range(1, 6));
  EXPECT_FALSE(writer->closed());
}

TEST_F(EventStreamTest, ResumesAfterTheGivenSequence) {
  Append(5);  // 2..6
  auto writer = NewWriter();
  auto stream = NewStream(4);
  stream->Subscribe(bus_);
  stream->Start(writer, false);
  writer->Drain();
  EXPECT_EQ(writer->Seqs(), Range(5, 6));
}

TEST_F(EventStreamTest, EventsPublishedWhileTheBacklogIsReadAreNeitherLostNorDuplicated) {
  Append(3);  // 2..4, in the backlog
  auto writer = NewWriter();
  auto stream = NewStream(0, /*page_size=*/2);
  stream->Subscribe(bus_);
  // Committed and published after the subscription but before the backlog is read: they reach
  // the stream both ways.
  Publish(Append(2));  // 5, 6
  stream->Start(writer, false);
  Publish(Append(1));  // 7, published while pages are pending
  writer->Drain();
  EXPECT_EQ(writer->Seqs(), Range(1, 7));
  Publish(Append(1));  // 8, live
  EXPECT_EQ(writer->Seqs(), Range(1, 8));
}

TEST_F(EventStreamTest, AGapInLiveEventsIsFilledFromTheStore) {
  auto writer = NewWriter();
  auto stream = NewStream(0);
  stream->Subscribe(bus_);
  stream->Start(writer, false);
  writer->Drain();
  ASSERT_EQ(writer->Seqs(), Range(1, 1));

  auto missed = Append(2);  // 2, 3: committed, but their publication is lost
  auto next = Append(1);    // 4
  Publish(next);
  EXPECT_EQ(writer->Seqs(), Range(1, 1));  // 4 waits for the gap to be read
  EXPECT_EQ(writer->pending_drains(), 1u);
  writer->Drain();
  EXPECT_EQ(writer->Seqs(), Range(1, 4));
  Publish(missed);  // late duplicates are dropped
  Publish(Append(1));
  EXPECT_EQ(writer->Seqs(), Range(1, 5));
}

TEST_F(EventStreamTest, OutOfOrderPublicationIsDeliveredInOrder) {
  auto writer = NewWriter();
  auto stream = NewStream(0);
  stream->Subscribe(bus_);
  stream->Start(writer, false);
  writer->Drain();
  auto events = Append(2);  // 2, 3
  bus_.Publish(events[1]);
  bus_.Publish(events[0]);
  writer->Drain();
  EXPECT_EQ(writer->Seqs(), Range(1, 3));
}

TEST_F(EventStreamTest, EndsAfterTheTerminalPhaseEvent) {
  auto writer = NewWriter();
  auto stream = NewStream(0);
  stream->Subscribe(bus_);
  stream->Start(writer, false);
  writer->Drain();
  bus_.Publish(Transition(runs::Phase::kStarting));
  bus_.Publish(Transition(runs::Phase::kRunning));
  EXPECT_FALSE(writer->closed());
  bus_.Publish(Transition(runs::Phase::kSucceeded));
  EXPECT_TRUE(writer->closed());
  EXPECT_EQ(writer->Seqs(), Range(1, 4));
  Publish(Append(1));  // nothing after the end
  EXPECT_EQ(writer->Seqs(), Range(1, 4));

  EXPECT_EQ(ended_, 0);
  writer->FinishClose();
  EXPECT_EQ(ended_, 1);
}

TEST_F(EventStreamTest, AStreamOfAFinishedRunEndsWithTheBacklog) {
  Transition(runs::Phase::kCancelled);  // seq 2, terminal
  auto writer = NewWriter();
  auto stream = NewStream(0);
  stream->Subscribe(bus_);
  stream->Start(writer, true);
  writer->Drain();
  EXPECT_EQ(writer->Seqs(), Range(1, 2));
  EXPECT_TRUE(writer->closed());

  // Resuming after the last event of a finished run ends at once, with nothing sent.
  auto resumed_writer = NewWriter();
  auto resumed = NewStream(2);
  resumed->Subscribe(bus_);
  resumed->Start(resumed_writer, true);
  resumed_writer->Drain();
  EXPECT_TRUE(resumed_writer->Seqs().empty());
  EXPECT_TRUE(resumed_writer->closed());
}

TEST_F(EventStreamTest, StopsWhenTheWriterIsClosedByThePeer) {
  auto writer = NewWriter();
  auto stream = NewStream(0);
  stream->Subscribe(bus_);
  stream->Start(writer, false);
  writer->Drain();
  writer->FinishClose();
  EXPECT_EQ(ended_, 1);
  EXPECT_EQ(bus_.SubscriberCount(), 0u);
  Publish(Append(1));
  EXPECT_EQ(writer->Seqs(), Range(1, 1));
}

TEST_F(EventStreamTest, AStreamThatNeverStartsStillReportsItsEnd) {
  {
    auto stream = NewStream(0);
    stream->Subscribe(bus_);
    EXPECT_EQ(bus_.SubscriberCount(), 1u);
  }
  EXPECT_EQ(ended_, 1);
  EXPECT_EQ(bus_.SubscriberCount(), 0u);
}

TEST(SseFormatTest, FormatsOneEventPerFrame) {
  runs::Event event;
  event.run_id = "run-x";
  event.seq = 7;
  event.type = "delta";
  event.data = {{"content", "two\nlines"}};
  std::string frame = FormatSseEvent(event);
  EXPECT_EQ(frame.substr(0, 21), "id: 7\nevent: delta\nda");
  EXPECT_EQ(frame.find('\n', 20), frame.size() - 2);  // data is one line
  EXPECT_EQ(frame.substr(frame.size() - 2), "\n\n");
  EXPECT_NE(frame.find(R"("content":"two\nlines")"), std::string::npos);
}

TEST(SseFormatTest, RecognisesTerminalPhaseEvents) {
  runs::Event event;
  event.type = "phase";
  event.data = {{"phase", "Succeeded"}};
  EXPECT_TRUE(IsTerminalPhaseEvent(event));
  event.data = {{"phase", "Running"}};
  EXPECT_FALSE(IsTerminalPhaseEvent(event));
  event.data = {{"phase", 3}};
  EXPECT_FALSE(IsTerminalPhaseEvent(event));
  event.type = "log";
  event.data = {{"phase", "Failed"}};
  EXPECT_FALSE(IsTerminalPhaseEvent(event));
}

}  // namespace
}  // namespace agentd::server
