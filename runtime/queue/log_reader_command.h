// `inlet queue read`: prints the records of a durable log as JSON lines, for operators and tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>

namespace inlet::runtime {

// Prints one line per record from offset `from`:
//   {"offset":N,"tracking_id":..,"received_at":..,"message_type":..,"node":..,"content_type":..,
//    "user":..|null,"identity":..|null,"scopes":[..],"body":<the body minified>}
// A body that is not valid JSON is printed as a JSON string. With `follow`, polls every 100 ms for
// new records until `*stop` becomes true (never, when stop is null). Returns 0, or 1 after a
// message on stderr (missing directory, corrupt record).
int run_queue_read(const std::filesystem::path& dir, std::uint64_t from, bool follow,
                   std::FILE* out, const std::atomic<bool>* stop = nullptr);

}  // namespace inlet::runtime
