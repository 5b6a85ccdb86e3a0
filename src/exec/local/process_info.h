// Facts about processes read from /proc, used to recognise a runner again after a restart.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "core/result.h"

namespace agentd::exec::local {

// Field 22 of /proc/<pid>/stat: the process start time in clock ticks since boot. Together with
// the pid and the boot id it names one process for the life of the machine (pids are reused,
// this triple is not). kNotFound when no such process exists.
core::Result<uint64_t> ReadProcessStartTime(pid_t pid);
// Parses the text of a /proc/<pid>/stat file (the command name may hold spaces and parentheses).
core::Result<uint64_t> ParseStartTimeFromStat(std::string_view stat);

// /proc/sys/kernel/random/boot_id without the newline; empty if unreadable.
std::string ReadBootId();

}  // namespace agentd::exec::local
