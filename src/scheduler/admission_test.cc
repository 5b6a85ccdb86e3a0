#include "scheduler/admission.h"

#include <gtest/gtest.h>

#include "scheduler/test_catalog.h"

namespace agentd::scheduler {
namespace {

using namespace std::chrono_literals;
using fixtures::MakeAgent;
using fixtures::MakeSnapshot;

TEST(ValidateSubmissionTest, NamesAnUnknownAgent) {
  auto snapshot = MakeSnapshot({MakeAgent("developer", "local")});
  auto status = ValidateSubmission(*snapshot, {.agent = "triage"});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::ErrorCode::kInvalidArgument);
  EXPECT_EQ(status.error().message, "unknown agent \"triage\"");
}

TEST(ValidateSubmissionTest, RefusesAnAgentWhoseModelIsMissing) {
  auto snapshot = MakeSnapshot({MakeAgent("developer", "gone")});
  auto status = ValidateSubmission(*snapshot, {.agent = "developer"});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, core::ErrorCode::kFailedPrecondition);
}

TEST(ValidateSubmissionTest, AcceptsAKnownLlmAgent) {
  auto snapshot = MakeSnapshot({MakeAgent("developer", "local")});
  EXPECT_TRUE(ValidateSubmission(*snapshot, {.agent = "developer"}).ok());
}

TEST(RequestHashTest, SameRequestSameHashAndAnyFieldChangesIt) {
  SubmitRequest a{.agent = "developer", .input = "x", .priority = 1, .labels = {{"team", "a"}}};
  SubmitRequest same = a;
  same.caller = "someone else";  // who asks is not part of what is asked
  same.idempotency_key = "k";
  EXPECT_EQ(RequestHash(a), RequestHash(same));
  EXPECT_EQ(RequestHash(a).size(), 64u);

  SubmitRequest other = a;
  other.input = "y";
  EXPECT_NE(RequestHash(a), RequestHash(other));
  other = a;
  other.deadline = 10s;
  EXPECT_NE(RequestHash(a), RequestHash(other));
  other = a;
  other.parameters = {{"k", 1}};
  EXPECT_NE(RequestHash(a), RequestHash(other));
}

}  // namespace
}  // namespace agentd::scheduler
