#include "runtime/queue/log_consumer_command.h"

#include <fcntl.h>
#include <sys/file.h>

#include <exception>

#include "codecs/unique_handle.h"
#include "runtime/log.h"
#include "runtime/queue/log_consumer.h"

namespace inlet::runtime {

int run_queue_consumers(const std::filesystem::path& dir, std::FILE* out) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    std::fprintf(stderr, "inlet queue consumers: %s: no such directory\n", dir.c_str());
    return 1;
  }
  try {
    const LogExtent extent = log_extent(dir);
    const std::vector<LogConsumerInfo> consumers = list_log_consumers(dir, extent);
    std::string line;
    for (const LogConsumerInfo& consumer : consumers) {
      line = "{\"consumer\":";
      append_json_string(line, consumer.name);
      line += ",\"next_offset\":" + std::to_string(consumer.next_offset) +
              ",\"lag\":" + std::to_string(consumer.lag) + "}\n";
      std::fwrite(line.data(), 1, line.size(), out);
    }
    std::fflush(out);
    std::fprintf(stderr, "%zu consumer%s; the log holds offsets %llu to %llu\n", consumers.size(),
                 consumers.size() == 1 ? "" : "s", static_cast<unsigned long long>(extent.first),
                 static_cast<unsigned long long>(extent.end));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inlet queue consumers: %s\n", e.what());
    return 1;
  }
}

int run_queue_seek(const std::filesystem::path& dir, const std::string& name, const SeekTarget& target) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    std::fprintf(stderr, "inlet queue seek: %s: no such directory\n", dir.c_str());
    return 1;
  }
  if (!is_valid_consumer_name(name)) {
    std::fprintf(stderr, "inlet queue seek: --consumer '%s': use letters, digits, '.', '_' and '-'\n",
                 name.c_str());
    return 1;
  }
  // A running node holds .lock and its consumers would overwrite the position: refuse.
  const codecs::UniqueFd lock(::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.valid() && ::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "inlet queue seek: %s is open by a running node: stop it first\n", dir.c_str());
    return 1;
  }
  try {
    const LogExtent extent = log_extent(dir);
    std::uint64_t to = 0;
    switch (target.kind) {
      case SeekTarget::Kind::kOffset:
        to = target.offset;
        if (to > extent.end) {
          std::fprintf(stderr, "inlet queue seek: --offset %llu is past the end of the log (%llu)\n",
                       static_cast<unsigned long long>(to), static_cast<unsigned long long>(extent.end));
          return 1;
        }
        break;
      case SeekTarget::Kind::kTime:
        to = log_offset_at_time(dir, target.unix_micros);
        break;
      case SeekTarget::Kind::kEarliest:
        to = extent.first;
        break;
      case SeekTarget::Kind::kLatest:
        to = extent.end;
        break;
    }
    const bool existed = std::filesystem::exists(LogConsumerPosition::path_of(dir, name), ec);
    LogConsumerPosition position(dir, name);
    const std::uint64_t from = position.next_offset();
    position.store(to);
    std::fprintf(stderr, "consumer %s%s: next offset %llu -> %llu (%llu to read)\n", name.c_str(),
                 existed ? "" : " (new)", static_cast<unsigned long long>(from),
                 static_cast<unsigned long long>(to),
                 static_cast<unsigned long long>(extent.end > to ? extent.end - to : 0));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "inlet queue seek: %s\n", e.what());
    return 1;
  }
}

}  // namespace inlet::runtime
