// Deduplication at the door (CONTRACT.md section 7): the keys of requests already stored, each with
// its first copy's tracking id, shared by every I/O thread of the webhook node.
//
// A request with a key claims it. The first claimant stores the message; once its edges have it,
// the key and tracking id go into a journal (a log queue in `dedup.dir`), and only then is the key
// committed and the 200 sent: a key in the journal always names a stored message, so a restart or
// a crash keeps every answered key and never one whose message was lost. Later claimants within
// the window get that tracking id and store nothing; one that arrives while the first is in
// flight waits for it, and stores the message itself if the first fails.
//
// Keys live in memory, at most `max_keys`, dropped oldest first; the journal is read back at start
// (keys within the window) and its segments expire with the window.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/config/dedup_config.h"
#include "runtime/queue/queue.h"

namespace inlet::runtime {

class DedupWaiter {
 public:
  // The key's first claimant finished: claim again. Called from any thread.
  virtual void on_dedup_resolved() noexcept = 0;

 protected:
  ~DedupWaiter() = default;
};

class Dedup {
 public:
  enum class Claim : std::uint8_t {
    kFirst,      // store the message, then commit() or abandon()
    kDuplicate,  // stored within the window: `tracking_id` is the first copy's
    kWait,       // another request with this key is in flight: `waiter` is told when it ends
  };

  // Opens (creating) the journal and loads its keys within the window. Throws std::runtime_error
  // with the path when the journal cannot be opened or read.
  explicit Dedup(const DedupConfig& config);
  ~Dedup();
  Dedup(const Dedup&) = delete;
  Dedup& operator=(const Dedup&) = delete;

  const DedupConfig& config() const noexcept { return config_; }
  Claim claim(std::string_view key, DedupWaiter& waiter, char (&tracking_id)[32]);
  // The first claimant's message is stored and its journal record written.
  void commit(std::string_view key, std::string_view tracking_id) noexcept;
  // The first claimant failed: the key is free again, and its waiters claim again.
  void abandon(std::string_view key) noexcept;
  Queue& journal() noexcept { return *journal_; }
  void close();

  // inlet_dedup_hits_total, inlet_dedup_evictions_total, inlet_dedup_keys.
  void append_metrics(std::string& out) const;
  std::size_t loaded() const noexcept { return loaded_; }

 private:
  struct Shard;
  Shard& shard_of(std::string_view key) noexcept;
  void insert_committed(Shard& shard, std::string_view key, std::string_view tracking_id, std::int64_t at_ms);

  DedupConfig config_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::uint64_t keys_per_shard_;
  std::unique_ptr<Queue> journal_;
  std::size_t loaded_ = 0;
};

}  // namespace inlet::runtime
