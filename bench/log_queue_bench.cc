// store() throughput of the durable log, next to a raw write()+fdatasync loop of the same records
// (the physical limit without group commit). Producers run closed-loop like HTTP connections: each
// stores one message, waits for its callback, stores the next. Counters: msgs/s, and records per
// fdatasync (the mean group-commit batch).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_payloads.h"
#include "runtime/queue/log_queue.h"

namespace {

namespace fs = std::filesystem;
using inlet::runtime::AckMode;
using inlet::runtime::Message;
using inlet::runtime::StoreCallback;
using inlet::runtime::StoreStatus;

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> bodies = [] {
    std::vector<std::string> out;
    for (const auto& payload : inlet::testing::payloads()) out.push_back(payload.body);
    std::sort(out.begin(), out.end());
    return out;
  }();
  return bodies;
}

fs::path bench_dir(const char* name) {
  // Next to the build, on the same disk as a real node's data dir (not a tmpfs).
  fs::path dir = fs::current_path() / (std::string("log-bench-") + name);
  fs::remove_all(dir);
  return dir;
}

// A message as an authenticated webhook makes it: every attribute set.
Message bench_message(std::string_view body) {
  static const std::string scopes[] = {"webhooks:write"};
  Message message;  // the fields a webhook node leaves empty stay empty
  message.body = body;
  message.tracking_id = "0123456789abcdef0123456789abcdef";
  message.message_type = "echo.json";
  message.received_at = "2026-11-22T13:40:02.123456Z";
  message.node = "bench-node";
  message.tenant = "acme";
  message.content_type = "application/json";
  message.user = "github";
  message.identity = "hook-1";
  message.scopes = scopes;
  return message;
}

// One closed-loop producer: the callback wakes the thread for its next message.
class Producer final : public StoreCallback {
 public:
  void on_stored(StoreStatus status) noexcept override {
    if (status != StoreStatus::kStored) failed_.fetch_add(1, std::memory_order_relaxed);
    done_.store(1, std::memory_order_release);
    done_.notify_one();
  }
  void run(inlet::runtime::Queue& queue, std::size_t first, std::size_t count) {
    const auto& bodies = corpus();
    for (std::size_t i = 0; i < count; ++i) {
      const std::string& body = bodies[(first + i) % bodies.size()];
      const Message m = bench_message(body);
      done_.store(0, std::memory_order_relaxed);
      queue.store(m, *this);
      done_.wait(0, std::memory_order_acquire);
    }
  }
  std::atomic<int> done_{0};
  std::atomic<std::uint64_t> failed_{0};
};

void BM_LogQueueStore(benchmark::State& state) {
  const AckMode ack = state.range(0) == 0 ? AckMode::kWrite : AckMode::kFsync;
  const auto producers = static_cast<std::size_t>(state.range(1));
  const std::size_t per_producer =
      ack == AckMode::kFsync ? (producers == 1 ? 500 : 600) : 20000 / producers;
  const fs::path dir = bench_dir(ack == AckMode::kFsync ? "fsync" : "write");
  inlet::runtime::LogQueueOptions options;
  options.dir = dir;
  options.ack = ack;
  std::uint64_t messages = 0, bytes = 0;
  std::uint64_t records = 0, batches = 0, syncs = 0;
  for (auto _ : state) {
    auto queue = inlet::runtime::open_log_queue(options);
    std::vector<Producer> ps(producers);
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] { ps[p].run(*queue, p * per_producer, per_producer); });
    }
    for (auto& t : threads) t.join();
    records = inlet::runtime::counter_value(*queue, "inlet_log_queue_records_total");
    batches = inlet::runtime::counter_value(*queue, "inlet_log_queue_batches_total");
    syncs = inlet::runtime::counter_value(*queue, "inlet_log_queue_syncs_total");
    queue->close();
    messages += producers * per_producer;
    for (std::size_t i = 0; i < producers * per_producer; ++i)
      bytes += corpus()[i % corpus().size()].size();
    for (auto& p : ps) {
      if (p.failed_) state.SkipWithError("a store failed");
    }
  }
  state.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
  state.counters["batch/sync"] = syncs ? static_cast<double>(records) / syncs : 0;
  state.counters["batch/writev"] =
      static_cast<double>(records) / std::max<std::uint64_t>(1, batches);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  fs::remove_all(dir);
}
BENCHMARK(BM_LogQueueStore)
    ->ArgNames({"fsync", "producers"})
    ->Args({0, 1})
    ->Args({0, 32})
    ->Args({1, 1})
    ->Args({1, 32})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// What store() costs the calling I/O thread (attributes, header, CRC of the body, lock-free push),
// open-loop with ack: write. The writer runs on the other core.
class Counter final : public StoreCallback {
 public:
  void on_stored(StoreStatus status) noexcept override {
    calls_.fetch_add(1, std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> calls_{0};
};

void BM_StoreCallCost(benchmark::State& state) {
  const fs::path dir = bench_dir("call");
  inlet::runtime::LogQueueOptions options;
  options.dir = dir;
  options.ack = AckMode::kWrite;
  options.max_in_flight = 1 << 16;
  auto queue = inlet::runtime::open_log_queue(options);
  const auto& bodies = corpus();
  const std::string small_body = R"({"action":"ping","n":1})";
  const bool small = state.range(0) == 1;
  Counter counter;
  std::uint64_t stored = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& body = small ? small_body : bodies[stored % bodies.size()];
    const Message m = bench_message(body);
    queue->store(m, counter);
    ++stored;
    bytes += body.size();
    if (stored - counter.calls_.load(std::memory_order_relaxed) > options.max_in_flight / 2) {
      state.PauseTiming();
      while (counter.calls_.load() < stored) std::this_thread::yield();
      state.ResumeTiming();
    }
  }
  queue->close();
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  fs::remove_all(dir);
}
BENCHMARK(BM_StoreCallCost)->ArgName("small_body")->Arg(0)->Arg(1)->MinTime(1.0);

// Open verifies every record of every segment (CRC): its cost per byte of log, page cache warm.
void BM_OpenScan(benchmark::State& state) {
  const fs::path dir = bench_dir("scan");
  inlet::runtime::LogQueueOptions options;
  options.dir = dir;
  options.ack = AckMode::kWrite;
  options.segment_bytes = 16 << 20;
  {
    auto queue = inlet::runtime::open_log_queue(options);
    Producer producer;
    producer.run(*queue, 0, 20000);
  }
  std::uint64_t log_bytes = 0;
  for (const auto& entry : fs::directory_iterator(dir)) log_bytes += entry.file_size();
  for (auto _ : state) {
    auto queue = inlet::runtime::open_log_queue(options);
    queue->close();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(log_bytes * state.iterations()));
  state.counters["log_MB"] = static_cast<double>(log_bytes) / 1e6;
  fs::remove_all(dir);
}
BENCHMARK(BM_OpenScan)->UseRealTime()->Unit(benchmark::kMillisecond);

// The physical limit: one write() per record of the same size, and one fdatasync each (range 1).
void BM_RawWriteLoop(benchmark::State& state) {
  const bool sync = state.range(0) == 1;
  const fs::path dir = bench_dir("raw");
  fs::create_directories(dir);
  const int fd = ::open((dir / "raw.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const auto& bodies = corpus();
  const std::string header(200, 'h');  // about the size of a record header with attributes
  std::string record;
  std::uint64_t messages = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& body = bodies[messages % bodies.size()];
    record.assign(header);
    record.append(body);
    if (::write(fd, record.data(), record.size()) != static_cast<ssize_t>(record.size())) {
      state.SkipWithError("write failed");
      break;
    }
    if (sync) ::fdatasync(fd);
    ++messages;
    bytes += record.size();
  }
  ::close(fd);
  state.counters["msgs/s"] =
      benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  fs::remove_all(dir);
}
BENCHMARK(BM_RawWriteLoop)->ArgName("fsync")->Arg(0)->Arg(1)->MinTime(1.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
