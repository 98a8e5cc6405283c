#include "runtime/queue/log_append_signal.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <map>
#include <string>

namespace inlet::runtime {

std::shared_ptr<LogAppendSignal> LogAppendSignal::of(const std::filesystem::path& dir) {
  static std::mutex registry_mu;
  static std::map<std::string, std::weak_ptr<LogAppendSignal>> registry;
  std::error_code ec;
  std::filesystem::path key = std::filesystem::weakly_canonical(dir, ec);
  if (ec) key = std::filesystem::absolute(dir, ec).lexically_normal();
  std::lock_guard lock(registry_mu);
  std::weak_ptr<LogAppendSignal>& slot = registry[key.string()];
  std::shared_ptr<LogAppendSignal> signal = slot.lock();
  if (!signal) {
    signal = std::make_shared<LogAppendSignal>();
    slot = signal;
  }
  return signal;
}

void LogAppendSignal::appended() noexcept {
  if (!waiting_.load(std::memory_order_seq_cst) || !waiting_.exchange(false, std::memory_order_seq_cst)) return;
  std::lock_guard lock(mu_);
  const std::uint64_t one = 1;
  for (int fd : fds_) {
    while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }
}

void LogAppendSignal::subscribe(int fd) {
  std::lock_guard lock(mu_);
  fds_.push_back(fd);
  consumers_.fetch_add(1, std::memory_order_relaxed);
}

void LogAppendSignal::unsubscribe(int fd) {
  std::lock_guard lock(mu_);
  consumers_.fetch_sub(static_cast<int>(std::erase(fds_, fd)), std::memory_order_relaxed);
}

}  // namespace inlet::runtime
