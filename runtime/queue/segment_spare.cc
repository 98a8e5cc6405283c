#include "runtime/queue/segment_spare.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "codecs/thread_name.h"
#include "runtime/log.h"

namespace inlet::runtime::log_format {

namespace {

constexpr std::size_t kZeroChunk = 1 << 20;
// Written back and waited for in steps, so the spare never holds more dirty pages than this: the
// log's own syncs queue behind whatever the disk is writing.
constexpr std::uint64_t kWritebackStep = 8ull << 20;

}  // namespace

SegmentSpare::SegmentSpare(std::filesystem::path dir, std::uint64_t bytes)
    : path_(std::move(dir) / ".spare"), bytes_(bytes) {
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

SegmentSpare::~SegmentSpare() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wanted_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void SegmentSpare::prepare() {
  {
    std::lock_guard lock(mutex_);
    if (want_ || failed_ || stop_ || ready()) return;
    want_ = true;
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  wanted_.notify_one();
}

codecs::UniqueFd SegmentSpare::take(const std::filesystem::path& path) {
  if (!ready()) return {};
  ready_.store(false, std::memory_order_release);
  if (::rename(path_.c_str(), path.c_str()) != 0) {
    log_warn("log_segment_spare_unused",
             {{"spare", path_.string()}, {"segment", path.string()}, {"error", std::strerror(errno)}});
    return {};
  }
  codecs::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  prepare();
  return fd;
}

void SegmentSpare::run() {
  codecs::name_this_thread("inlet-log-spare");
  std::unique_lock lock(mutex_);
  for (;;) {
    wanted_.wait(lock, [this] { return want_ || stop_; });
    if (stop_) return;
    lock.unlock();
    const bool made = make_one();
    lock.lock();
    want_ = false;
    if (made) {
      ready_.store(true, std::memory_order_release);
    } else if (!stop_) {
      failed_ = true;
    }
  }
}

bool SegmentSpare::make_one() {
  codecs::UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  const auto fail = [this](const char* op) {
    log_warn("log_segment_spare_failed",
             {{"spare", path_.string()},
              {"op", op},
              {"error", std::strerror(errno)},
              {"effect", "new segments are appended to, and each ack: fsync sync costs more"}});
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    return false;
  };
  if (!fd.valid()) return fail("open");
  static const std::vector<char> zeros(kZeroChunk, 0);
  std::uint64_t synced = 0;
  for (std::uint64_t at = 0; at < bytes_;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return false;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kZeroChunk, bytes_ - at));
    const ssize_t wrote = ::pwrite(fd.get(), zeros.data(), n, static_cast<off_t>(at));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return fail("write");
    at += static_cast<std::uint64_t>(wrote);
    if (at - synced >= kWritebackStep) {
      ::sync_file_range(fd.get(), static_cast<off_t>(synced), static_cast<off_t>(at - synced),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER);
      synced = at;
    }
  }
  // The blocks and the size must be on disk too: that is what spares the log's syncs a journal
  // commit.
  if (::fsync(fd.get()) != 0) return fail("fsync");
  return true;
}

}  // namespace inlet::runtime::log_format
