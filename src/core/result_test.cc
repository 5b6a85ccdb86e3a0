#include "core/result.h"

#include <gtest/gtest.h>

namespace agentd::core {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd input " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  AGENTD_ASSIGN_OR_RETURN(int half, Half(x));
  return Half(half);
}

TEST(ResultTest, CarriesValueOrError) {
  EXPECT_EQ(*Half(4), 2);
  auto r = Half(3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "odd input 3");
}

TEST(ResultTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).error().message, "odd input 3");
}

TEST(ResultTest, EveryCodeHasOneHttpStatusAndExitCode) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503);
  EXPECT_TRUE(IsRetryable(ErrorCode::kUnavailable));
  EXPECT_FALSE(IsRetryable(ErrorCode::kInvalidArgument));
  EXPECT_EQ(ExitCodeFor(ErrorCode::kInvalidArgument), 2);
  EXPECT_EQ(CodeName(ErrorCode::kResourceExhausted), "resource_exhausted");
}

TEST(ResultTest, WrapAddsContext) {
  Error e = NotFound("no such run").Wrap("cancel");
  EXPECT_EQ(e.message, "cancel: no such run");
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace agentd::core
