// Names the calling thread, as top -H, perf, gdb and /proc/PID/task/*/comm show it: how an operator
// tells the I/O threads from the log writer, a node's reader or the interpreter. Linux keeps 15
// bytes and this cuts the rest, so a name should say first what tells it apart.
#pragma once

#include <pthread.h>

#include <string_view>

namespace inlet::codecs {

inline void name_this_thread(std::string_view name) noexcept {
  char kept[16] = {};
  name.copy(kept, sizeof kept - 1);
  pthread_setname_np(pthread_self(), kept);
}

}  // namespace inlet::codecs
