// `dedup:` (CONTRACT.md section 7): where the webhook node finds a request's deduplication key, how
// long a key is remembered, and where the keys are kept. Parsed once into immutable settings.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "runtime/route/filter.h"

namespace inlet::runtime {

struct DedupConfig {
  enum class Source : std::uint8_t { kHeader, kJson };
  Source source = Source::kHeader;
  std::string header;                    // kHeader: matched case-insensitively
  std::shared_ptr<const KeyPath> path;   // kJson: a dotted path into the parsed body
  std::string key_text;                  // as resolved: "header:X-GitHub-Delivery", "json:id"
  std::chrono::milliseconds window{24 * 3600 * 1000};
  std::uint64_t max_keys = 10'000'000;
  bool require = false;                  // a request without a key gets 400
  // The journal of keys (a log queue): each key with its first copy's tracking id, written after
  // the message is stored and before the 200, so a restart or a crash keeps every answered key.
  std::filesystem::path dir = "./data/dedup";
  bool fsync = true;                     // the journal's ack: fsync (default) or write
};

}  // namespace inlet::runtime
