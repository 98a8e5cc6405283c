// In-process wake-ups for the consumers of a log (log_consumer.h): the log queue of a directory
// announces each write to the consumers of that directory in the same process, which then wait
// on an eventfd instead of watching the directory with inotify. A writer in another process is
// still noticed through inotify.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

namespace inlet::runtime {

class LogAppendSignal {
 public:
  // The one signal of `dir` in this process, shared by its writer and its consumers.
  static std::shared_ptr<LogAppendSignal> of(const std::filesystem::path& dir);

  // The writer: between open and close, so that consumers opened meanwhile rely on it.
  void writer_opened() noexcept { writers_.fetch_add(1, std::memory_order_acq_rel); }
  void writer_closed() noexcept { writers_.fetch_sub(1, std::memory_order_acq_rel); }
  bool has_writer() const noexcept { return writers_.load(std::memory_order_acquire) > 0; }

  // The writer, after records reached the file: wakes the consumers waiting. One atomic load when
  // none is, so the write path pays nothing for consumers that are busy.
  void appended() noexcept;

  // A consumer: `fd` (an eventfd it owns and polls) is written to when records are appended after
  // arm(). Arm, then look for records, then wait: an append in between is never missed.
  void subscribe(int fd);
  void unsubscribe(int fd);
  // How many consumers of the log this process has: who may free the pages already read (none:
  // the writer; one: that consumer; more: nobody, as they cannot know each other's place).
  int consumers() const noexcept { return consumers_.load(std::memory_order_relaxed); }
  void arm() noexcept { waiting_.store(true, std::memory_order_seq_cst); }

 private:
  std::atomic<int> writers_{0};
  std::atomic<bool> waiting_{false};
  std::atomic<int> consumers_{0};
  std::mutex mu_;
  std::vector<int> fds_;
};

}  // namespace inlet::runtime
