// Internal to the durable log (ack: fsync): a spare segment, prepared ahead on its own thread.
//
// A sync after an append must also commit the file's new size and blocks to the filesystem journal:
// two device flushes where an overwrite of blocks already written and synced needs one. So the log
// writes its records over a file of zeros. Measured on this project's VM (tiny JSON, ack: fsync, 32
// connections, one I/O thread, `bench/run --compare`): 33.6k req/s appending, 40.9k over zeros.
// Zeros are written, not fallocate()d: an unwritten extent is converted in the journal on its
// first write, which costs about what an append does (measured by hand: no clear gain).
//
// The spare is DIR/.spare (not a segment name, so readers and recovery never see it). The log
// takes it at a roll by renaming it to the new segment's name. The log never waits for it: a roll
// that finds none ready creates an empty segment as before.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
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
  // Removes a spare an earlier run left in `dir`, for a log that will not use one (ack: write).
  static void remove_left_over(const std::filesystem::path& dir) noexcept;

  // The writer's side never blocks: the thread runs at SCHED_IDLE and could sit preempted for a
  // long time on a busy core, so nothing here waits on it (one atomic state, no lock).
  // Starts preparing one if none is ready or under way (the thread starts on the first call).
  void prepare();
  bool ready() const noexcept { return state_.load(std::memory_order_acquire) == State::kReady; }
  // The ready spare, renamed to `path` and open read-write; an invalid fd when none is ready, or
  // after an error (logged, and no more spares). The caller syncs the directory.
  codecs::UniqueFd take(const std::filesystem::path& path);

 private:
  enum class State : std::uint8_t {
    kIdle,      // no spare, none asked for
    kAsked,     // the thread is making one
    kReady,     // path_ holds a whole, synced file of zeros
    kFailed,    // an error was logged: no more spares, the log appends
    kStopping,  // the destructor runs
  };
  void run();
  bool make_one();  // false after an error (logged) or when stopping
  void fail(const std::string& op);

  const std::filesystem::path path_;
  const std::uint64_t bytes_;
  std::atomic<State> state_{State::kIdle};
  std::thread thread_;  // the writer thread's alone (prepare, the destructor)
};

}  // namespace inlet::runtime::log_format
