// The RunStore contract as a parameterised GoogleTest suite. Every implementation instantiates it
// with a factory that makes a fresh store, so all of them keep the promises of run_store.h:
//
//   INSTANTIATE_TEST_SUITE_P(
//       Sqlite, RunStoreContractTest,
//       ::testing::Values(RunStoreFactory{"File", [] { return MakeStoreInATempFile(); }}),
//       RunStoreFactoryName);
//
// The suite only needs the store to start without the runs it creates: every test uses agents
// and label values of its own, so a factory may hand out stores over one shared database.
// Times are compared at millisecond precision (what stores keep). Link the object library
// `agentd_store_contract` into the test binary.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "store/run_store.h"

namespace agentd::store {

struct RunStoreFactory {
  std::string name;  // shown in test names, e.g. "File", "Memory", "Postgres"
  // Opens a store; aborts the test (ADD_FAILURE and return null) if it cannot.
  std::function<std::unique_ptr<RunStore>()> make;
};

// Prints the factory's name in test output (instead of its bytes).
inline void PrintTo(const RunStoreFactory& factory, std::ostream* os) { *os << factory.name; }

// For INSTANTIATE_TEST_SUITE_P's name generator argument.
std::string RunStoreFactoryName(const ::testing::TestParamInfo<RunStoreFactory>& info);

class RunStoreContractTest : public ::testing::TestWithParam<RunStoreFactory> {
 protected:
  void SetUp() override;

  std::unique_ptr<RunStore> store_;
  std::string agent_;  // unique to this test
};

}  // namespace agentd::store
