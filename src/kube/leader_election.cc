#include "kube/leader_election.h"

#include <algorithm>

#include "core/log.h"
#include "core/time.h"

namespace agentd::kube {
namespace {

using core::Json;

// Upper bound of how early a takeover may start (a slow API server does not make it start early).
constexpr std::chrono::milliseconds kMaxTakeoverLead{100};

int64_t CeilSeconds(std::chrono::milliseconds d) { return (d.count() + 999) / 1000; }

std::string SpecString(const Json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t SpecInt(const Json& spec, const char* key) {
  auto it = spec.find(key);
  return it != spec.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

core::Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options) {
  if (options.lease_name.empty()) return core::InvalidArgument("leader election: empty lease name");
  if (options.lease_namespace.empty()) {
    return core::InvalidArgument("leader election: empty lease namespace");
  }
  if (options.identity.empty()) return core::InvalidArgument("leader election: empty identity");
  if (options.lease_duration.count() <= 0 || options.renew_deadline.count() <= 0 ||
      options.retry_period.count() <= 0) {
    return core::InvalidArgument("leader election: durations must be positive");
  }
  if (options.renew_deadline >= options.lease_duration) {
    return core::InvalidArgument(
        "leader election: renew deadline must be shorter than the lease duration");
  }
  if (options.retry_period >= options.renew_deadline) {
    return core::InvalidArgument(
        "leader election: retry period must be shorter than the renew deadline");
  }
  if (options.renew_deadline + options.retry_period >= options.lease_duration) {
    return core::InvalidArgument(
        "leader election: renew deadline + retry period must be shorter than the lease duration "
        "(a leader that cannot renew must have stopped before its lease expires)");
  }
  return core::Ok();
}

LeaderElector::LeaderElector(KubeClient& client, const core::Clock& clock,
                             LeaderElectionOptions options, LeaderCallbacks callbacks,
                             Sleeper* sleeper)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      sleeper_(sleeper != nullptr ? *sleeper : RealSleeper::Instance()),
      ref_{resources::kLeases, options_.lease_namespace, options_.lease_name} {
  auto valid = ValidateLeaderElectionOptions(options_);
  AGENTD_CHECK(valid.ok()) << (valid.ok() ? "" : valid.error().message);
}

LeaderElector::~LeaderElector() { Stop(); }

std::string LeaderElector::leader() const {
  std::lock_guard lock(leader_mu_);
  return leader_;
}

Json LeaderElector::LeaseObject(const Record& record, const std::string& resource_version) const {
  Json metadata = {{"name", options_.lease_name}, {"namespace", options_.lease_namespace}};
  if (!resource_version.empty()) metadata["resourceVersion"] = resource_version;
  return {{"apiVersion", resources::kLeases.ApiVersion()},
          {"kind", "Lease"},
          {"metadata", std::move(metadata)},
          {"spec",
           {{"holderIdentity", record.holder},
            {"leaseDurationSeconds", record.lease_duration_seconds},
            {"acquireTime", record.acquire_time},
            {"renewTime", record.renew_time},
            {"leaseTransitions", record.transitions}}}};
}

void LeaderElector::ObserveLocked(const Record& record) {
  bool holder_changed = !observed_.has_value() || observed_->holder != record.holder;
  observed_ = record;
  if (!holder_changed) return;
  {
    std::lock_guard lock(leader_mu_);
    leader_ = record.holder;
  }
  if (callbacks_.on_new_leader) callbacks_.on_new_leader(record.holder);
}

void LeaderElector::StampObservation(std::chrono::steady_clock::time_point now) {
  const auto held_for = observed_->lease_duration_seconds > 0
                            ? std::chrono::milliseconds(observed_->lease_duration_seconds * 1000)
                            : options_.lease_duration;
  const auto latest = now + held_for;
  auto renewed = core::ParseRfc3339(observed_->renew_time);
  if (!renewed.ok()) {
    expires_at_ = latest;
    return;
  }
  const auto earliest = now + options_.renew_deadline + options_.retry_period;
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(*renewed + held_for - clock_.Now());
  expires_at_ = std::clamp(now + left, earliest, latest);
}

bool LeaderElector::TryAcquireOrRenew() {
  const auto now = clock_.SteadyNow();
  const std::string now_text = FormatMicroTime(clock_.Now());
  const int64_t duration_seconds = CeilSeconds(options_.lease_duration);

  auto current = client_.Get(ref_);
  // Get + Update take about two of these: a takeover starts that much before the expiry, so the
  // new leader holds the Lease when the old lease runs out, not one round trip later.
  const auto round_trip = clock_.SteadyNow() - now;
  takeover_lead_ = std::min<std::chrono::steady_clock::duration>(2 * round_trip, kMaxTakeoverLead);
  if (!current.ok()) {
    if (current.error().code != core::ErrorCode::kNotFound) {
      core::LogWarn("leader election: reading the lease failed",
                    {{"lease", ref_.ToString()}, {"error", current.error().message}});
      return false;
    }
    Record record{options_.identity, duration_seconds, now_text, now_text, 0};
    auto created = client_.Create(ref_.gvr, ref_.ns, LeaseObject(record, ""));
    if (!created.ok()) return false;  // another candidate created it first
    ObserveLocked(record);
    StampObservation(now);
    return true;
  }

  const Json spec = current->value("spec", Json::object());
  Record record{SpecString(spec, "holderIdentity"), SpecInt(spec, "leaseDurationSeconds"),
                SpecString(spec, "acquireTime"), SpecString(spec, "renewTime"),
                SpecInt(spec, "leaseTransitions")};
  if (!observed_.has_value() || *observed_ != record) {
    ObserveLocked(record);
    StampObservation(now);
  }
  if (!record.holder.empty() && record.holder != options_.identity &&
      expires_at_ > now + takeover_lead_) {
    return false;  // someone else holds a lease that has not expired
  }

  Record next = record;
  next.holder = options_.identity;
  next.lease_duration_seconds = duration_seconds;
  next.renew_time = now_text;
  if (record.holder != options_.identity) {
    next.acquire_time = now_text;
    next.transitions = record.transitions + 1;
  }
  auto updated = client_.Update(ref_, LeaseObject(next, ResourceVersionOf(*current)));
  if (!updated.ok()) {
    if (updated.error().code != core::ErrorCode::kAborted) {
      core::LogWarn("leader election: writing the lease failed",
                    {{"lease", ref_.ToString()}, {"error", updated.error().message}});
    }
    return false;
  }
  ObserveLocked(next);
  StampObservation(now);
  return true;
}

std::chrono::milliseconds LeaderElector::Step() {
  std::lock_guard lock(step_mu_);
  bool ours = TryAcquireOrRenew();
  auto now = clock_.SteadyNow();
  if (ours) {
    last_renew_ = now;
    if (!leading_.exchange(true)) {
      core::LogInfo("leader election: started leading",
                    {{"lease", ref_.ToString()}, {"identity", options_.identity}});
      if (callbacks_.on_started_leading) callbacks_.on_started_leading();
    }
  } else if (leading_.load()) {
    bool taken = observed_.has_value() && observed_->holder != options_.identity;
    if (taken || now - last_renew_ >= options_.renew_deadline) {
      leading_.store(false);
      core::LogWarn(
          "leader election: stopped leading",
          {{"lease", ref_.ToString()},
           {"identity", options_.identity},
           {"reason", taken ? "lease taken by another holder" : "renew deadline passed"}});
      if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    }
  }
  if (!ours && observed_.has_value() && !observed_->holder.empty() &&
      observed_->holder != options_.identity && expires_at_ > now + takeover_lead_) {
    auto until_expiry =
        std::chrono::ceil<std::chrono::milliseconds>(expires_at_ - takeover_lead_ - now);
    return std::min(options_.retry_period, until_expiry);
  }
  return options_.retry_period;
}

void LeaderElector::Release() {
  std::lock_guard lock(step_mu_);
  if (!leading_.load()) return;
  auto current = client_.Get(ref_);
  if (current.ok()) {
    const Json spec = current->value("spec", Json::object());
    if (SpecString(spec, "holderIdentity") == options_.identity) {
      std::string now_text = FormatMicroTime(clock_.Now());
      Record released{"", 1, now_text, now_text, SpecInt(spec, "leaseTransitions")};
      auto updated = client_.Update(ref_, LeaseObject(released, ResourceVersionOf(*current)));
      if (updated.ok()) {
        ObserveLocked(released);
      } else {
        core::LogWarn("leader election: releasing the lease failed",
                      {{"lease", ref_.ToString()}, {"error", updated.error().message}});
      }
    }
  }
  leading_.store(false);
  core::LogInfo("leader election: released the lease",
                {{"lease", ref_.ToString()}, {"identity", options_.identity}});
  if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
}

void LeaderElector::Start() {
  AGENTD_CHECK(!thread_.joinable()) << "LeaderElector::Start called twice";
  thread_ = std::thread([this] {
    while (!cancel_.cancelled()) {
      auto wait = Step();
      if (!sleeper_.SleepFor(wait, &cancel_)) break;
    }
  });
}

void LeaderElector::Stop() {
  cancel_.Cancel();
  std::call_once(stop_once_, [this] {
    if (thread_.joinable()) thread_.join();
    if (options_.release_on_stop) {
      Release();
    } else if (leading_.exchange(false)) {
      if (callbacks_.on_stopped_leading) callbacks_.on_stopped_leading();
    }
  });
}

}  // namespace agentd::kube
