#include "store/run_store.h"

#include <future>

namespace agentd::store {

core::Result<CreateRunResult> RunStore::CreateRun(runs::Run run,
                                                  std::vector<governance::AuditEntryDraft> audit) {
  std::promise<core::Result<CreateRunResult>> promise;
  auto future = promise.get_future();
  CreateRunAsync(
      std::move(run), std::move(audit),
      [&promise](core::Result<CreateRunResult> result) { promise.set_value(std::move(result)); });
  return future.get();
}

}  // namespace agentd::store
