// Request metrics without contention. Each I/O thread owns one WorkerMetrics block and is its only
// writer: an increment is a relaxed load and store of its own cache lines (no locked instruction),
// and a histogram observation is a bit_width and two increments. The scraper (the admin thread)
// reads the blocks relaxed and sums them when it renders the Prometheus text format, so a scrape
// may see one request's counters half updated, never torn values.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/reject.h"

namespace inlet::runtime {

// A counter with a single writer thread; any thread may read it.
class LocalCounter {
 public:
  void add(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Latency histogram with power-of-two bucket bounds: 8 µs, 16 µs, ... 2^24 µs (16.8 s), +Inf.
// Single writer, like LocalCounter.
class LatencyHistogram {
 public:
  static constexpr std::size_t kFirstShift = 3;  // the first bound is 2^3 µs
  static constexpr std::size_t kBounds = 22;
  static constexpr std::size_t kBuckets = kBounds + 1;  // the last one is +Inf

  void observe(std::chrono::steady_clock::duration elapsed) noexcept {
    const auto ns = elapsed.count();
    const std::uint64_t micros = ns > 0 ? static_cast<std::uint64_t>(ns) / 1000 : 0;
    std::size_t index =
        micros == 0 ? 0 : static_cast<std::size_t>(std::bit_width((micros - 1) >> kFirstShift));
    if (index > kBounds) index = kBounds;
    buckets_[index].add();
    sum_micros_.add(micros);
  }
  std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i].get(); }
  std::uint64_t sum_micros() const noexcept { return sum_micros_.get(); }
  // Upper bound of bucket i in seconds (i < kBounds).
  static double bound_seconds(std::size_t i) noexcept {
    return static_cast<double>(std::uint64_t{1} << (i + kFirstShift)) / 1e6;
  }

 private:
  std::array<LocalCounter, kBuckets> buckets_;
  LocalCounter sum_micros_;
};

// The stages of an exchange, as timed on the I/O thread.
enum class Stage : std::uint8_t {
  kRead,          // first byte of the request to the body complete
  kDecode,        // decode and JSON validation
  kAuthenticate,  // verifiers and the Python authenticator
  kEnqueue,       // store() to every edge's acknowledgement
  kTotal,         // first byte to the answer
  kCount,
};

// How a TLS handshake ended, for inlet_tls_handshakes_total{result}: plain_http (an HTTP request
// on the TLS port), protocol (no common version or cipher: TLS 1.1 and older land here),
// client_certificate (missing or not verified, with client_auth), peer_alert (the client refused
// ours, e.g. an unknown CA), timeout (header_timeout_ms ran out), error (anything else: a reset,
// an EOF, garbage).
enum class TlsHandshake : std::uint8_t {
  kOk, kPlainHttp, kProtocol, kClientCertificate, kPeerAlert, kTimeout, kError, kCount
};
inline constexpr std::array<std::string_view, static_cast<std::size_t>(TlsHandshake::kCount)>
    kTlsHandshakeNames{"ok", "plain_http", "protocol", "client_certificate", "peer_alert", "timeout",
                       "error"};
using TlsHandshakeCounts =
    std::array<LocalCounter, static_cast<std::size_t>(TlsHandshake::kCount)>;

// Index of an edge's block, stable across reloads for one edge name.
inline constexpr std::size_t kMaxEdgeSlots = 64;
inline constexpr std::uint16_t kNoEdgeSlot = 0xFFFF;

struct EdgeMetrics {
  LocalCounter sent;
  LocalCounter stored;
  LocalCounter full;
  LocalCounter unavailable;
  LatencyHistogram store_latency;
};

// One I/O thread's block. Written only by that thread.
struct alignas(64) WorkerMetrics {
  static constexpr std::size_t kStatuses = 600;   // index = HTTP status; out of range counts as 0
  static constexpr std::size_t kAuthResults = 5;  // by auth::Verdict

  void count_status(int status) noexcept {
    responses[status >= 100 && status < static_cast<int>(kStatuses)
                  ? static_cast<std::size_t>(status)
                  : 0]
        .add();
  }
  void count_reject(Reject reject) noexcept { rejects[static_cast<std::size_t>(reject)].add(); }
  LatencyHistogram& stage(Stage s) noexcept { return stages[static_cast<std::size_t>(s)]; }

  std::array<LocalCounter, kStatuses> responses;
  std::array<LocalCounter, static_cast<std::size_t>(Reject::kCount)> rejects;
  std::array<LocalCounter, kAuthResults> auth_results;
  std::array<LatencyHistogram, static_cast<std::size_t>(Stage::kCount)> stages;
  LocalCounter received_bytes;  // read from client sockets, heads included
  LocalCounter body_bytes;      // request bodies as sent
  LocalCounter decoded_bytes;   // request bodies after Content-Encoding
  LocalCounter connections_accepted;
  TlsHandshakeCounts tls_handshakes;
  LocalCounter unrouted;
  LocalCounter access_logged;
  std::array<EdgeMetrics, kMaxEdgeSlots> edges;
};

// Sums the workers' blocks at scrape time. Workers register at start; edge slots are assigned at
// start and on reload. Thread-safe.
class MetricsRegistry {
 public:
  // `block` must outlive the registry's last render().
  void add_worker(const WorkerMetrics& block);
  // The slot of an edge name, the same across reloads; kNoEdgeSlot once kMaxEdgeSlots names have
  // been seen (that edge then goes uncounted).
  std::uint16_t edge_slot(std::string_view name);
  // The workers' TLS handshakes with this result, summed.
  std::uint64_t tls_handshakes(TlsHandshake result) const;
  // Appends every per-worker metric, summed, in Prometheus text format (version 0.0.4).
  void render(std::string& out) const;

 private:
  mutable std::mutex mu_;
  std::vector<const WorkerMetrics*> workers_;
  std::vector<std::string> edge_names_;  // index = slot
};

// Text format helpers for the gauges the server renders itself.
void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help);
// `labels` is the inside of {...}, already escaped, or empty.
void append_sample(std::string& out, std::string_view name, std::string_view labels, double value);
void append_sample(std::string& out, std::string_view name, std::string_view labels,
                   std::uint64_t value);
// One histogram's series (one writer's, not summed): buckets, sum and count.
void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const LatencyHistogram& histogram);
// Escapes a label value (backslash, quote, newline).
std::string escape_label(std::string_view value);

}  // namespace inlet::runtime
