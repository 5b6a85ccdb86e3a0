// Result<T>: a value or an Error, shaped like std::expected (C++20 has none).
//
// Recoverable errors are values in agentd. An Error carries one of a few canonical codes and a
// message that says what failed with which input. Each code maps to one HTTP status, one retry
// decision and one CLI exit code; those mappings live in result.cc and nowhere else.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/check.h"

namespace agentd::core {

enum class ErrorCode {
  kInvalidArgument,     // the caller sent something malformed: 400
  kNotFound,            // 404
  kAlreadyExists,       // 409
  kFailedPrecondition,  // the object is in the wrong state for this: 409
  kAborted,             // a concurrent change won; retry the whole operation: 409
  kUnauthenticated,     // 401
  kPermissionDenied,    // 403
  kResourceExhausted,   // quota, budget or size limit: 429 (413 for bodies is chosen by the server)
  kDeadlineExceeded,    // 504
  kUnavailable,         // transient; retry with backoff: 503
  kInternal,            // a bug or a broken invariant of a peer: 500
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  // A more specific stable code for programs (e.g. "budget_exceeded"); when set, API problems
  // carry it as `code` instead of CodeName(code). Empty for most errors.
  std::string reason;
  // Extra string members of the API problem (e.g. {"budget", "team-a"}); never secrets.
  std::vector<std::pair<std::string, std::string>> fields;

  // Returns a copy with `context + ": "` in front of the message.
  Error Wrap(std::string_view context) const;
};

// The one place each code is mapped.
std::string_view CodeName(ErrorCode code);  // "invalid_argument", ... (stable, used on the wire)
int HttpStatusFor(ErrorCode code);
bool IsRetryable(ErrorCode code);
int ExitCodeFor(ErrorCode code);  // agentctl exit codes, see docs/cli.md

inline Error InvalidArgument(std::string message) {
  return {ErrorCode::kInvalidArgument, std::move(message)};
}
inline Error NotFound(std::string message) { return {ErrorCode::kNotFound, std::move(message)}; }
inline Error AlreadyExists(std::string message) {
  return {ErrorCode::kAlreadyExists, std::move(message)};
}
inline Error FailedPrecondition(std::string message) {
  return {ErrorCode::kFailedPrecondition, std::move(message)};
}
inline Error Aborted(std::string message) { return {ErrorCode::kAborted, std::move(message)}; }
inline Error Unauthenticated(std::string message) {
  return {ErrorCode::kUnauthenticated, std::move(message)};
}
inline Error PermissionDenied(std::string message) {
  return {ErrorCode::kPermissionDenied, std::move(message)};
}
inline Error ResourceExhausted(std::string message) {
  return {ErrorCode::kResourceExhausted, std::move(message)};
}
inline Error DeadlineExceeded(std::string message) {
  return {ErrorCode::kDeadlineExceeded, std::move(message)};
}
inline Error Unavailable(std::string message) {
  return {ErrorCode::kUnavailable, std::move(message)};
}
inline Error Internal(std::string message) { return {ErrorCode::kInternal, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : data_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return data_.index() == 0; }
  explicit operator bool() const { return ok(); }

  const T& value() const& {
    AGENTD_CHECK(ok()) << "value() on error: " << std::get<1>(data_).message;
    return std::get<0>(data_);
  }
  T& value() & {
    AGENTD_CHECK(ok()) << "value() on error: " << std::get<1>(data_).message;
    return std::get<0>(data_);
  }
  T&& value() && {
    AGENTD_CHECK(ok()) << "value() on error: " << std::get<1>(data_).message;
    return std::get<0>(std::move(data_));
  }
  const Error& error() const& {
    AGENTD_CHECK(!ok()) << "error() on a value";
    return std::get<1>(data_);
  }
  Error&& error() && {
    AGENTD_CHECK(!ok()) << "error() on a value";
    return std::get<1>(std::move(data_));
  }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  T value_or(T fallback) const& { return ok() ? std::get<0>(data_) : std::move(fallback); }

 private:
  std::variant<T, Error> data_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    AGENTD_CHECK(!ok_) << "error() on success";
    return error_;
  }
  Error&& error() && {
    AGENTD_CHECK(!ok_) << "error() on success";
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;
inline Status Ok() { return {}; }

}  // namespace agentd::core

// Propagates an error from an expression returning Result<...>/Status.
#define AGENTD_RETURN_IF_ERROR(expr)            \
  do {                                          \
    auto agentd_status_ = (expr);               \
    if (!agentd_status_.ok()) {                 \
      return std::move(agentd_status_).error(); \
    }                                           \
  } while (false)

#define AGENTD_CONCAT_INNER_(a, b) a##b
#define AGENTD_CONCAT_(a, b) AGENTD_CONCAT_INNER_(a, b)
// AGENTD_ASSIGN_OR_RETURN(auto x, Foo()); declares x from the value or returns the error.
#define AGENTD_ASSIGN_OR_RETURN(lhs, expr) \
  AGENTD_ASSIGN_OR_RETURN_IMPL_(AGENTD_CONCAT_(agentd_result_, __LINE__), lhs, expr)
#define AGENTD_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) {                                    \
    return std::move(tmp).error();                    \
  }                                                   \
  lhs = std::move(tmp).value()
