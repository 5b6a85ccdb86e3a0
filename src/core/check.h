// AGENTD_CHECK: invariants that crash loudly. Never use it on untrusted data (requests, rows,
// Kubernetes objects, LLM output); those go through Result.
#pragma once

#include <sstream>

namespace agentd::core {

// Collects the streamed message and aborts in its destructor.
class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition);
  [[noreturn]] ~CheckFailure();
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Lets `AGENTD_CHECK(x) << ...` be an expression of type void in both branches.
struct CheckVoidify {
  void operator&(CheckFailure&) {}
};

}  // namespace agentd::core

#define AGENTD_CHECK(condition)                    \
  (condition) ? (void)0                            \
              : ::agentd::core::CheckVoidify() &   \
                    ::agentd::core::CheckFailure(__FILE__, __LINE__, #condition)
