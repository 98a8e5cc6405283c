#include "runtime/queue/segment_spare.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
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

std::filesystem::path spare_path(const std::filesystem::path& dir) { return dir / ".spare"; }

}  // namespace

SegmentSpare::SegmentSpare(std::filesystem::path dir, std::uint64_t bytes)
    : path_(spare_path(dir)), bytes_(bytes) {
  remove_left_over(dir);
}

void SegmentSpare::remove_left_over(const std::filesystem::path& dir) noexcept {
  std::error_code ec;
  std::filesystem::remove(spare_path(dir), ec);
}

SegmentSpare::~SegmentSpare() {
  state_.store(State::kStopping, std::memory_order_release);
  state_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void SegmentSpare::prepare() {
  State idle = State::kIdle;
  if (!state_.compare_exchange_strong(idle, State::kAsked, std::memory_order_acq_rel)) return;
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  state_.notify_one();
}

codecs::UniqueFd SegmentSpare::take(const std::filesystem::path& path) {
  if (!ready()) return {};
  codecs::UniqueFd fd;
  if (::rename(path_.c_str(), path.c_str()) == 0) fd.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) {
    fail("rename to " + path.string());
    return {};
  }
  state_.store(State::kIdle, std::memory_order_release);
  return fd;
}

void SegmentSpare::fail(const std::string& op) {
  log_warn("log_segment_spare_failed",
           {{"spare", path_.string()},
            {"op", op},
            {"error", std::strerror(errno)},
            {"effect", "new segments are appended to, and each ack: fsync sync costs more"}});
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  State expected = state_.load(std::memory_order_acquire);
  // Only the destructor moves it on from here; a failure during stopping is not one.
  while (expected != State::kStopping &&
         !state_.compare_exchange_weak(expected, State::kFailed, std::memory_order_acq_rel)) {
  }
}

void SegmentSpare::run() {
  codecs::name_this_thread("inlet-log-spare");
  // Zero-filling costs a core about as much as writing the records did (on a VM, more: the page
  // cache's new pages are host page faults). SCHED_IDLE runs it only on CPU time nothing else
  // wants: a node whose core is saturated gets no spare and appends as before, where in a
  // measured A/B at normal priority the spare thread took that time from the I/O thread (256
  // connections: tiny JSON 64.7k → 50.7k req/s), while a node waiting on its syncs has idle time
  // to spare.
  const sched_param idle{};
  ::pthread_setschedparam(::pthread_self(), SCHED_IDLE, &idle);
  for (;;) {
    State state = state_.load(std::memory_order_acquire);
    if (state == State::kStopping) return;
    if (state != State::kAsked) {
      state_.wait(state, std::memory_order_acquire);
      continue;
    }
    if (make_one()) {
      State asked = State::kAsked;
      state_.compare_exchange_strong(asked, State::kReady, std::memory_order_acq_rel);
    }
  }
}

bool SegmentSpare::make_one() {
  codecs::UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    fail("open");
    return false;
  }
  static const std::vector<char> zeros(kZeroChunk, 0);
  std::uint64_t synced = 0;
  for (std::uint64_t at = 0; at < bytes_;) {
    if (state_.load(std::memory_order_acquire) == State::kStopping) return false;
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kZeroChunk, bytes_ - at));
    const ssize_t wrote = ::pwrite(fd.get(), zeros.data(), n, static_cast<off_t>(at));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      if (wrote == 0) errno = ENOSPC;
      fail("write");
      return false;
    }
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
  if (::fsync(fd.get()) != 0) {
    fail("fsync");
    return false;
  }
  return true;
}

}  // namespace inlet::runtime::log_format
