// Internal to the durable log (ack: fsync): a spare segment, prepared ahead on its own thread.
//
// A sync after an append must also commit the file's new size and blocks to the filesystem journal:
// two device flushes where an overwrite of blocks already written and synced needs one. So the log
// writes its records over a file of zeros. Measured on this project's VM (tiny JSON, 32
// connections, one I/O thread): 26–34k req/s appending against 30–44k over zeros.
// Zeros are written, not fallocate()d: an unwritten extent is converted in the journal on its
// first write, which costs what an append does (measured: no gain).
//
// The spare is DIR/.spare (not a segment name, so readers and recovery never see it). The log
// takes it at a roll by renaming it to the new segment's name; the thread then prepares the next
// one. The log never waits for it: a roll that finds none ready creates an empty segment as before.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <thread>

#include "codecs/unique_handle.h"

namespace inlet::runtime::log_format {

class SegmentSpare {
 public:
  // Removes a spare left by an earlier run (a crash may have cut its preparation short); prepares
  // nothing until prepare().
  SegmentSpare(std::filesystem::path dir, std::uint64_t bytes);
  ~SegmentSpare();  // stops the thread and removes the spare file
  SegmentSpare(const SegmentSpare&) = delete;
  SegmentSpare& operator=(const SegmentSpare&) = delete;

  // Starts preparing one if none is ready or under way; the thread starts on the first call.
  void prepare();
  bool ready() const noexcept { return ready_.load(std::memory_order_acquire); }
  // The ready spare, renamed to `path` (replacing a file of that name) and open read-write; an
  // invalid fd when none is ready or the rename failed. The caller syncs the directory.
  codecs::UniqueFd take(const std::filesystem::path& path);

 private:
  void run();
  bool make_one();  // false after an error (logged) or when stopping

  const std::filesystem::path path_;
  const std::uint64_t bytes_;
  std::mutex mutex_;
  std::condition_variable wanted_;
  bool want_ = false;
  bool stop_ = false;
  bool failed_ = false;             // an error was logged: no more attempts, the log appends
  std::atomic<bool> ready_{false};  // path_ holds a whole, synced file of zeros
  std::thread thread_;
};

}  // namespace inlet::runtime::log_format
