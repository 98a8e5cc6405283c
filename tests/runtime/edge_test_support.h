// Shared by the queue tests (log, Kafka, Redis): payload messages that outlive their callbacks, a
// callback that records each status and lets the test wait for them, storing a whole batch, and
// the key path a queue's config parser refuses, and how much of a log file the page cache holds.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/config/config_reader.h"
#include "runtime/message.h"
#include "runtime/queue/consumer.h"
#include "runtime/queue/queue.h"
#include "test_payloads.h"

namespace inlet::runtime::testing {

struct StoredMessages {
  // `count` payloads (tests/test_payloads.h, cycling), with distinct tracking ids; every third carries a tenant and a user.
  explicit StoredMessages(std::size_t count, std::size_t first_id = 0) {
    const std::vector<inlet::testing::Payload>& payloads = inlet::testing::payloads();
    bodies.reserve(count);
    ids.reserve(count);
    messages.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
      bodies.push_back(payloads[i % payloads.size()].body);
      char id[33];
      std::snprintf(id, sizeof id, "%032zx", first_id + i);
      ids.emplace_back(id);
      Message& m = messages[i];
      m.body = bodies[i];
      m.tracking_id = ids[i];
      m.message_type = "echo.json";
      m.received_at = "2026-11-22T13:40:02.123456Z";
      m.node = "edges-test";
      m.content_type = "application/json";
      if (i % 3 == 0) {
        m.tenant = "acme";
        m.user = "alice";
        m.identity = "alice@example.com";
        m.scopes = scopes;
      }
    }
  }
  std::vector<std::string> bodies;
  std::vector<std::string> ids;
  std::vector<Message> messages;
  std::vector<std::string> scopes{"read", "write \"all\""};
};

// One status slot per message; on_stored may run on any thread.
class Recorder {
 public:
  static constexpr int kPending = -1;

  explicit Recorder(std::size_t count) : statuses_(count, kPending), callbacks_(count) {
    for (std::size_t i = 0; i < count; ++i) callbacks_[i] = Slot{this, i};
  }

  StoreCallback& at(std::size_t i) { return callbacks_[i]; }

  // Waits until `count` callbacks have fired in total; false on timeout.
  bool wait_for(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return done_ >= count; });
  }
  std::size_t done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  int status(std::size_t i) {
    std::lock_guard lock(mutex_);
    return statuses_[i];
  }
  std::size_t count(StoreStatus status) {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count(statuses_.begin(), statuses_.end(), static_cast<int>(status)));
  }
  std::size_t twice() {
    std::lock_guard lock(mutex_);
    return twice_;
  }

 private:
  struct Slot final : StoreCallback {
    Slot() = default;
    Slot(Recorder* r, std::size_t i) : recorder(r), index(i) {}
    void on_stored(StoreStatus status) noexcept override { recorder->record(index, status); }
    Recorder* recorder = nullptr;
    std::size_t index = 0;
  };

  void record(std::size_t i, StoreStatus status) {
    std::lock_guard lock(mutex_);
    if (statuses_[i] != kPending) ++twice_;
    statuses_[i] = static_cast<int>(status);
    ++done_;
    cv_.notify_all();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> statuses_;
  std::vector<Slot> callbacks_;
  std::size_t done_ = 0;
  std::size_t twice_ = 0;
};

// Stores every message of `batch`, message i answering to `recorder.at(i)`.
inline void store_all(Queue& queue, const StoredMessages& batch, Recorder& recorder) {
  for (std::size_t i = 0; i < batch.messages.size(); ++i) queue.store(batch.messages[i], recorder.at(i));
}

// Polls `consumer` until `count` messages arrived or `timeout` passed, at most `batch` a poll.
inline std::vector<ConsumedMessage> poll_until(Consumer& consumer, std::size_t count,
                                               std::chrono::milliseconds timeout,
                                               std::size_t batch = 1000) {
  std::vector<ConsumedMessage> got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.size() < count && std::chrono::steady_clock::now() < deadline) {
    consumer.poll(got, std::min(count - got.size(), batch), std::chrono::milliseconds(500));
  }
  return got;
}

// The share of the pages of `file` in [begin, end) that are in the page cache (mincore).
inline double resident_fraction(const std::filesystem::path& file, std::uint64_t begin, std::uint64_t end) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << file;
  if (fd < 0) return -1;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  begin -= begin % page;
  const std::size_t length = end - begin;
  void* map = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(begin));
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED) << file;
  if (map == MAP_FAILED) return -1;
  std::vector<unsigned char> pages((length + page - 1) / page);
  EXPECT_EQ(::mincore(map, length, pages.data()), 0);
  ::munmap(map, length);
  const auto resident = std::count_if(pages.begin(), pages.end(), [](unsigned char p) { return p & 1; });
  return static_cast<double>(resident) / static_cast<double>(pages.size());
}

// The key path `parse` (a parse_<type>_queue) refuses `yaml` with, given as edges[0].queue; empty
// when it accepts it.
template <typename Parse>
std::string config_error_path(Parse parse, const std::string& yaml) {
  ConfigMap queue(YAML::Load(yaml), "edges[0].queue");
  try {
    parse(queue);
  } catch (const ConfigError& e) {
    return e.path();
  }
  return "";
}

}  // namespace inlet::runtime::testing
