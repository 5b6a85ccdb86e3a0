#include "operator/leadership.h"

#include "core/log.h"

namespace agentd::operator_ {

core::Result<std::unique_ptr<OperatorLeader>> OperatorLeader::Create(
    kube::KubeClient& client, const core::Clock& clock, OperatorLeaderOptions options,
    RunReconciler* reconciler, OperatorLeaderHooks hooks, kube::Sleeper* sleeper) {
  kube::LeaderElectionOptions election{.lease_name = options.lease_name,
                                       .lease_namespace = options.lease_namespace,
                                       .identity = options.identity,
                                       .lease_duration = options.lease_duration,
                                       .renew_deadline = options.renew_deadline,
                                       .retry_period = options.retry_period,
                                       .release_on_stop = options.release_on_stop};
  AGENTD_RETURN_IF_ERROR(kube::ValidateLeaderElectionOptions(election));
  std::unique_ptr<OperatorLeader> leader(new OperatorLeader(reconciler, std::move(hooks)));
  OperatorLeader* self = leader.get();
  const std::string identity = options.identity;
  kube::LeaderCallbacks callbacks{
      .on_started_leading =
          [self, identity] {
            core::LogInfo("operator: leading", {{"identity", identity}});
            if (self->reconciler_ != nullptr) self->reconciler_->Start();
            if (self->hooks_.on_started_leading) self->hooks_.on_started_leading();
          },
      .on_stopped_leading =
          [self, identity] {
            core::LogInfo("operator: stopped leading", {{"identity", identity}});
            if (self->hooks_.on_stopped_leading) self->hooks_.on_stopped_leading();
            if (self->reconciler_ != nullptr) self->reconciler_->Stop();
          },
      .on_new_leader =
          [self](const std::string& holder) {
            if (self->hooks_.on_new_leader) self->hooks_.on_new_leader(holder);
          },
  };
  leader->elector_ = std::make_unique<kube::LeaderElector>(client, clock, std::move(election),
                                                           std::move(callbacks), sleeper);
  return leader;
}

OperatorLeader::OperatorLeader(RunReconciler* reconciler, OperatorLeaderHooks hooks)
    : reconciler_(reconciler), hooks_(std::move(hooks)) {}

OperatorLeader::~OperatorLeader() { Stop(); }

void OperatorLeader::Start() { elector_->Start(); }

void OperatorLeader::Stop() {
  if (elector_) elector_->Stop();
}

std::chrono::milliseconds OperatorLeader::Step() { return elector_->Step(); }

bool OperatorLeader::IsLeader() const { return elector_->IsLeader(); }

std::string OperatorLeader::leader() const { return elector_->leader(); }

}  // namespace agentd::operator_
