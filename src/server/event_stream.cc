#include "server/event_stream.h"

#include "core/log.h"

namespace agentd::server {

std::string FormatSseEvent(const runs::Event& event) {
  std::string type = event.type;
  for (char& c : type) {
    if (c == '\r' || c == '\n') c = '_';  // a line break would end the field
  }
  std::string data = core::DumpJson(runs::EventToJson(event));  // one line: JSON escapes '\n'
  std::string frame;
  frame.reserve(data.size() + type.size() + 40);
  frame += "id: ";
  frame += std::to_string(event.seq);
  frame += "\nevent: ";
  frame += type;
  frame += "\ndata: ";
  frame += data;
  frame += "\n\n";
  return frame;
}

bool IsTerminalPhaseEvent(const runs::Event& event) {
  if (event.type != "phase" || !event.data.is_object()) return false;
  auto it = event.data.find("phase");
  if (it == event.data.end() || !it->is_string()) return false;
  auto phase = runs::ParsePhase(it->get<std::string>());
  return phase.ok() && runs::IsTerminal(*phase);
}

EventStream::EventStream(store::RunStore& store, std::string run_id, int64_t after_seq,
                         Options options, std::function<void()> on_end)
    : store_(store),
      run_id_(std::move(run_id)),
      options_(options),
      on_end_(std::move(on_end)),
      last_sent_(after_seq) {}

EventStream::~EventStream() {
  // A stream that never started (e.g. the run was not found) still reports its end once.
  if (!ended_ && on_end_) on_end_();
}

void EventStream::Subscribe(bus::Bus& bus) {
  std::weak_ptr<EventStream> weak = weak_from_this();
  auto subscription = bus.Subscribe(run_id_, [weak](const runs::Event& event) {
    if (auto self = weak.lock()) self->OnLive(event);
  });
  std::lock_guard lock(mu_);
  subscription_ = std::move(subscription);
}

void EventStream::Start(std::shared_ptr<net::StreamWriter> writer, bool run_was_terminal) {
  {
    std::lock_guard lock(mu_);
    writer_ = writer;
    run_was_terminal_ = run_was_terminal;
  }
  writer->OnClose([self = shared_from_this()] { self->End(); });
  Pump();
}

int64_t EventStream::last_sent() const {
  std::lock_guard lock(mu_);
  return last_sent_;
}

void EventStream::OnLive(const runs::Event& event) {
  std::lock_guard lock(mu_);
  if (done_ || event.seq <= last_sent_) return;
  if (filling_) {
    if (buffered_.size() < options_.max_buffered_events) {
      buffered_.emplace(event.seq, event);
    } else {
      overflowed_ = true;
    }
    return;
  }
  if (event.seq == last_sent_ + 1) {
    SendLocked(event);
    return;
  }
  // A gap: something published was not delivered to us (or arrived out of order). The store has
  // everything up to this event, so read from there.
  buffered_.emplace(event.seq, event);
  filling_ = true;
  SchedulePumpLocked();
}

void EventStream::Pump() {
  int64_t from;
  {
    std::lock_guard lock(mu_);
    pump_scheduled_ = false;
    if (done_) return;
    from = last_sent_;  // only Pump advances it while filling_
  }
  auto page = store_.ListEvents(run_id_, from, options_.page_size);

  std::lock_guard lock(mu_);
  if (done_) return;
  if (!page.ok()) {
    core::LogWarn("event stream cannot read the event log",
                  {{"run", run_id_}, {"error", page.error().message}});
    CloseLocked();
    return;
  }
  for (const runs::Event& event : *page) {
    if (event.seq <= last_sent_) continue;
    if (!SendLocked(event)) return;
  }
  if (static_cast<int>(page->size()) >= options_.page_size) {
    SchedulePumpLocked();  // more in the store; continue once this page is on its way
    return;
  }
  // Caught up with the store as of this read: merge what the bus delivered meanwhile.
  if (overflowed_) {
    overflowed_ = false;
    buffered_.clear();
    SchedulePumpLocked();
    return;
  }
  while (!buffered_.empty()) {
    auto it = buffered_.begin();
    if (it->first <= last_sent_) {
      buffered_.erase(it);
      continue;
    }
    if (it->first != last_sent_ + 1) break;
    runs::Event event = std::move(it->second);
    buffered_.erase(it);
    if (!SendLocked(event)) return;
  }
  if (!buffered_.empty()) {
    SchedulePumpLocked();  // still a gap; it is committed by now
    return;
  }
  if (run_was_terminal_) {
    CloseLocked();  // nothing more will come
    return;
  }
  filling_ = false;
}

bool EventStream::SendLocked(const runs::Event& event) {
  if (!writer_->Write(FormatSseEvent(event))) {
    done_ = true;
    return false;
  }
  last_sent_ = event.seq;
  if (IsTerminalPhaseEvent(event)) {
    CloseLocked();
    return false;
  }
  return true;
}

void EventStream::SchedulePumpLocked() {
  if (pump_scheduled_ || done_) return;
  pump_scheduled_ = true;
  writer_->OnDrained([self = shared_from_this()] { self->Pump(); });
}

void EventStream::CloseLocked() {
  done_ = true;
  buffered_.clear();
  writer_->Close();
}

void EventStream::End() {
  std::unique_ptr<bus::Subscription> subscription;
  {
    std::lock_guard lock(mu_);
    done_ = true;
    buffered_.clear();
    subscription = std::move(subscription_);
    ended_ = true;
  }
  subscription.reset();  // not from inside a bus callback: End runs on the loop thread
  if (on_end_) on_end_();
}

}  // namespace agentd::server
