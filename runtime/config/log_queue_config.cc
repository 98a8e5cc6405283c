#include <filesystem>
#include <limits>

#include "runtime/config/node_config.h"
#include "runtime/queue/log_consumer.h"
#include "runtime/queue/log_queue.h"

namespace inlet::runtime {

QueueSpec parse_log_queue(ConfigMap& queue) {
  queue.raw("type");  // validated by the caller
  LogQueueOptions options;
  const std::string dir = queue.string("dir", "./data/queue");
  if (dir.empty()) queue.fail("dir", "must not be empty");
  // Resolved now so a later chdir cannot move the log.
  std::error_code ec;
  options.dir = std::filesystem::absolute(dir, ec);
  if (ec) queue.fail("dir", "cannot resolve: " + ec.message());
  options.ack = queue.choice("ack", "fsync", {"fsync", "write"}) == "write" ? AckMode::kWrite
                                                                            : AckMode::kFsync;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  options.segment_bytes = static_cast<std::uint64_t>(
      queue.integer("segment_bytes", static_cast<std::int64_t>(options.segment_bytes), 4096,
                    std::int64_t{1} << 40));
  options.retention_bytes =
      static_cast<std::uint64_t>(queue.integer("retention_bytes", 0, 0, kMax));
  options.retention_age =
      std::chrono::milliseconds(queue.integer("retention_ms", 0, 0, kMax / 1000000));
  // Each in-flight slot holds a preallocated record header (~0.5 KiB), hence the ceiling.
  options.max_in_flight =
      static_cast<std::uint32_t>(queue.integer("max_in_flight", options.max_in_flight, 1, 1000000));
  queue.finish();
  QueueSpec spec{"log", [options] { return open_log_queue(options); }, {}, {}, nullptr};
  spec.open_consumer = [dir = options.dir](const std::string& name) {
    return open_log_consumer(dir, name);
  };
  return spec;
}

}  // namespace inlet::runtime
