// EventStream: one SSE follower of one run's event log, with no gaps and no duplicates.
//
// The bus is only a fast path; the store is the truth (events are committed before they are
// published). So a stream:
//  1. subscribes to the bus first, buffering live events;
//  2. reads the backlog from the store after the resume point, a page at a time, the next page
//     only once the previous one has reached the socket (flow control: a slow reader never makes
//     the server buffer the whole log);
//  3. merges the buffered live events, skipping what it has already sent, then forwards live
//     events as they arrive. A live event with a sequence number beyond the next one means
//     something was missed: the stream goes back to reading the store from its last sent event.
// It ends (closing the HTTP stream) after it has sent the run's terminal "phase" event, or once
// it has caught up with a run that was already terminal when it started.
//
// Threads: bus callbacks arrive on publishers' threads and never block (they format and queue,
// or buffer); store reads happen on the connection's loop thread (from StreamWriter::OnDrained).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bus/bus.h"
#include "net/http_server.h"
#include "runs/run.h"
#include "store/run_store.h"

namespace agentd::server {

// "id: <seq>\nevent: <type>\ndata: <EventToJson>\n\n"
std::string FormatSseEvent(const runs::Event& event);

// True for a "phase" event whose data.phase is a terminal phase.
bool IsTerminalPhaseEvent(const runs::Event& event);

class EventStream : public std::enable_shared_from_this<EventStream> {
 public:
  struct Options {
    int page_size = 256;
    // Live events buffered while the backlog is read; beyond this they are dropped and read
    // from the store instead.
    size_t max_buffered_events = 4096;
  };

  // `store` and `bus` must outlive the stream. `on_end` runs once when the stream has ended.
  EventStream(store::RunStore& store, std::string run_id, int64_t after_seq, Options options,
              std::function<void()> on_end);
  ~EventStream();

  // Step 1. Call before reading the run's state, so nothing committed after that read is missed.
  void Subscribe(bus::Bus& bus);
  // Steps 2 and 3, on the connection's loop thread (e.g. from the request handler).
  // `run_was_terminal`: the run's phase, read after Subscribe, was terminal.
  void Start(std::shared_ptr<net::StreamWriter> writer, bool run_was_terminal);

  int64_t last_sent() const;

 private:
  void OnLive(const runs::Event& event);
  void Pump();
  // Sends one event; false when the stream has ended (terminal event, or the writer closed).
  bool SendLocked(const runs::Event& event);
  void SchedulePumpLocked();
  void CloseLocked();
  void End();

  store::RunStore& store_;
  const std::string run_id_;
  const Options options_;
  std::function<void()> on_end_;

  mutable std::mutex mu_;
  int64_t last_sent_;
  bool filling_ = true;  // the backlog reader owns progress; live events are buffered
  bool pump_scheduled_ = false;
  bool overflowed_ = false;  // buffered events were dropped: read the store once more
  bool run_was_terminal_ = false;
  bool done_ = false;
  bool ended_ = false;
  std::map<int64_t, runs::Event> buffered_;
  std::shared_ptr<net::StreamWriter> writer_;
  std::unique_ptr<bus::Subscription> subscription_;
};

}  // namespace agentd::server
