// libFuzzer target: the durable log over segment files of arbitrary bytes. The input is split
// into one or two segments (the first byte chooses where, and the second segment's base offset);
// then LogReader reads every record and recovery (open_log_queue) cuts the tail. Both must end
// with records, a cut or a reported error: never a crash, never a loop (libFuzzer's -timeout
// catches that), and recovery must leave a log that reads back without error.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "runtime/queue/log_queue.h"
#include "runtime/queue/log_segment.h"

// tmpfs where there is one: every iteration writes files, and syncs on a disk cost milliseconds.
inline std::filesystem::path scratch_root() {
  std::error_code ec;
  return std::filesystem::is_directory("/dev/shm", ec) ? std::filesystem::path("/dev/shm")
                                                        : std::filesystem::temp_directory_path();
}

namespace {

namespace fs = std::filesystem;

const fs::path& work_dir() {
  static const fs::path dir = scratch_root() / ("inlet-log-fuzz-" + std::to_string(::getpid()));
  return dir;
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Reads to the end; returns the count, or -1 when the reader reported corruption.
long read_all(const fs::path& dir) {
  long count = 0;
  try {
    inlet::runtime::LogReader reader(dir, 0);
    while (auto record = reader.next()) {
      if (++count > 1'000'000) std::abort();  // more records than bytes: a loop
    }
  } catch (const std::runtime_error&) {
    return -1;
  }
  return count;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const fs::path& dir = work_dir();
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::size_t split = bytes.size() * data[0] / 255;
  write_file(dir / inlet::runtime::log_format::segment_name(0), bytes.substr(0, split));
  if (split < bytes.size()) {
    write_file(dir / inlet::runtime::log_format::segment_name(data[1]), bytes.substr(split));
  }
  read_all(dir);

  inlet::runtime::LogQueueOptions options;
  options.dir = dir;
  options.ack = inlet::runtime::AckMode::kWrite;
  options.max_in_flight = 4;
  try {
    auto queue = inlet::runtime::open_log_queue(options);
    queue->close();
  } catch (const std::runtime_error&) {
    return 0;  // refused to open (reported): fine
  }
  // What recovery leaves is served: it must read without a corruption error.
  if (read_all(dir) < 0) std::abort();
  return 0;
}
