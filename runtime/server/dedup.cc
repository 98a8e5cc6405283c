#include "runtime/server/dedup.h"

#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>

#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/queue/log_queue.h"

namespace inlet::runtime {

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const noexcept { return std::hash<std::string_view>{}(key); }
};

// A journal record's attribute `name` (a string without escapes: tracking_id, received_at).
std::string_view attribute(std::string_view attributes, std::string_view name) {
  const std::string needle = "\"" + std::string(name) + "\":\"";
  const std::size_t at = attributes.find(needle);
  if (at == std::string_view::npos) return {};
  const std::size_t from = at + needle.size();
  const std::size_t end = attributes.find('"', from);
  return end == std::string_view::npos ? std::string_view() : attributes.substr(from, end - from);
}

// "2026-11-22T13:40:02.123456Z" → Unix milliseconds; nullopt when it is not that.
std::optional<std::int64_t> parse_received_at(std::string_view text) {
  if (text.size() != 27) return std::nullopt;
  std::tm tm{};
  const std::string copy(text);
  if (strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return std::nullopt;
  const std::int64_t micros = std::atoll(copy.substr(20, 6).c_str());
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + micros / 1000;
}

}  // namespace

struct Dedup::Shard {
  enum class State : std::uint8_t { kPending, kCommitted, kFree };
  struct Entry {
    State state = State::kPending;
    char tracking_id[32] = {};
    std::int64_t at_ms = 0;
    std::uint32_t in_order = 0;  // references in `order`: the node stays while any remain
    std::vector<DedupWaiter*> waiters;
  };
  std::mutex mu;
  std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries;
  // Committed keys, oldest first. A key's string lives in its entry's node, which is kept while
  // this refers to it; a stale reference (the key was committed again since) is skipped.
  std::deque<std::pair<std::int64_t, const std::string*>> order;
  std::uint64_t committed = 0;
  std::uint64_t hits = 0;
  std::uint64_t evictions = 0;

  // Drops what is past the window, then the oldest beyond `cap`.
  void trim(std::uint64_t cap, std::int64_t window_ms, std::int64_t now) {
    while (!order.empty() && (order.size() > cap || order.front().first <= now - window_ms)) {
      const auto [at, key] = order.front();
      order.pop_front();
      const auto it = entries.find(*key);
      Entry& entry = it->second;
      --entry.in_order;
      if (entry.state == State::kCommitted && entry.at_ms == at) {
        if (at > now - window_ms) ++evictions;
        --committed;
        entry.state = State::kFree;
      }
      if (entry.state == State::kFree && entry.in_order == 0 && entry.waiters.empty()) entries.erase(it);
    }
  }
};

Dedup::Dedup(const DedupConfig& config) : config_(config) {
  // One shard keeps "oldest first" exact for small stores; large ones spread the lock.
  const std::size_t shards = config_.max_keys < 65536 ? 1 : 64;
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
  keys_per_shard_ = std::max<std::uint64_t>(1, config_.max_keys / shards);
  LogQueueOptions options;
  options.dir = config_.dir;
  options.ack = config_.fsync ? AckMode::kFsync : AckMode::kWrite;
  options.segment_bytes = 8ull << 20;
  options.retention_age = config_.window;
  journal_ = open_log_queue(options);
  const std::int64_t now = now_ms();
  const std::int64_t window = config_.window.count();
  LogReader reader(config_.dir, 0);
  while (std::optional<LogRecord> record = reader.next()) {
    const std::string_view tracking_id = attribute(record->attributes, "tracking_id");
    const std::optional<std::int64_t> at = parse_received_at(attribute(record->attributes, "received_at"));
    if (tracking_id.size() != 32 || !at || *at <= now - window || record->body.empty()) continue;
    insert_committed(shard_of(record->body), record->body, tracking_id, *at);
    ++loaded_;
  }
  for (auto& shard : shards_) shard->trim(keys_per_shard_, window, now);
}

Dedup::~Dedup() = default;

void Dedup::close() { journal_->close(); }

Dedup::Shard& Dedup::shard_of(std::string_view key) noexcept {
  return *shards_[shards_.size() == 1 ? 0 : KeyHash{}(key) % shards_.size()];
}

void Dedup::insert_committed(Shard& shard, std::string_view key, std::string_view tracking_id,
                             std::int64_t at_ms) {
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) it = shard.entries.emplace(std::string(key), Shard::Entry{}).first;
  Shard::Entry& entry = it->second;
  if (entry.state == Shard::State::kCommitted) --shard.committed;
  entry.state = Shard::State::kCommitted;
  std::memcpy(entry.tracking_id, tracking_id.data(), sizeof entry.tracking_id);
  entry.at_ms = at_ms;
  ++entry.in_order;
  ++shard.committed;
  shard.order.emplace_back(at_ms, &it->first);
}

Dedup::Claim Dedup::claim(std::string_view key, DedupWaiter& waiter, char (&tracking_id)[32]) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    shard.entries.emplace(std::string(key), Shard::Entry{});
    return Claim::kFirst;
  }
  Shard::Entry& entry = it->second;
  switch (entry.state) {
    case Shard::State::kPending:
      entry.waiters.push_back(&waiter);
      return Claim::kWait;
    case Shard::State::kCommitted:
      if (entry.at_ms > now_ms() - config_.window.count()) {
        std::memcpy(tracking_id, entry.tracking_id, sizeof tracking_id);
        ++shard.hits;
        return Claim::kDuplicate;
      }
      --shard.committed;  // expired: this request stores it anew
      entry.state = Shard::State::kPending;
      return Claim::kFirst;
    case Shard::State::kFree:
      entry.state = Shard::State::kPending;
      return Claim::kFirst;
  }
  return Claim::kFirst;
}

void Dedup::commit(std::string_view key, std::string_view tracking_id) noexcept {
  Shard& shard = shard_of(key);
  std::vector<DedupWaiter*> waiters;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) return;
    const std::int64_t now = now_ms();
    insert_committed(shard, key, tracking_id, now);
    waiters.swap(it->second.waiters);
    shard.trim(keys_per_shard_, config_.window.count(), now);
  }
  for (DedupWaiter* waiter : waiters) waiter->on_dedup_resolved();
}

void Dedup::abandon(std::string_view key) noexcept {
  Shard& shard = shard_of(key);
  std::vector<DedupWaiter*> waiters;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) return;
    waiters.swap(it->second.waiters);
    it->second.state = Shard::State::kFree;
    if (it->second.in_order == 0) shard.entries.erase(it);
  }
  for (DedupWaiter* waiter : waiters) waiter->on_dedup_resolved();
}

void Dedup::append_metrics(std::string& out) const {
  std::uint64_t hits = 0, evictions = 0, keys = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard->mu);
    hits += shard->hits;
    evictions += shard->evictions;
    keys += shard->committed;
  }
  append_metric_header(out, "inlet_dedup_hits_total", "counter",
                       "Requests answered with the tracking id of a copy stored within the window.");
  append_sample(out, "inlet_dedup_hits_total", "", hits);
  append_metric_header(out, "inlet_dedup_evictions_total", "counter",
                       "Keys dropped before the window ended, oldest first, to stay within max_keys.");
  append_sample(out, "inlet_dedup_evictions_total", "", evictions);
  append_metric_header(out, "inlet_dedup_keys", "gauge", "Keys held, each with its first copy's tracking id.");
  append_sample(out, "inlet_dedup_keys", "", keys);
}

}  // namespace inlet::runtime
