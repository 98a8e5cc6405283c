// The request pipeline as plain stages, independent of sockets: check the head, decode, validate,
// route, authenticate, store. The Beast session and `inlet test` both drive it through Exchange.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "auth/authenticator.h"
#include "codecs/content_type.h"
#include "codecs/decoder.h"
#include "codecs/json_validator.h"
#include "runtime/config/node_config.h"
#include "runtime/message.h"
#include "runtime/metrics.h"
#include "runtime/queue/queue.h"
#include "runtime/reject.h"
#include "runtime/server/dedup.h"

namespace inlet::runtime {

struct EdgeRoute {
  std::string name;
  const Filter* filter = nullptr;  // null: matches every message
  Queue* queue = nullptr;
  std::uint16_t metric_slot = kNoEdgeSlot;  // this edge's block in WorkerMetrics::edges
  const KeyPath* key = nullptr;  // QueueSpec::key: evaluated while routing, into Message::key
};

// What a request needs from the config, built once (start, reload); read-only and shared by every
// I/O thread. Does not own the queues: the server keeps them across reloads.
struct Pipeline {
  std::shared_ptr<const NodeConfig> config;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::vector<EdgeRoute> edges;  // at most 64
  Dedup* dedup = nullptr;        // `dedup:`; owned by EdgeQueues, which outlives every pipeline
};

// The config's verifiers (shared with the config, so they outlive a reload) followed by its
// Python authenticator, which this starts. Throws std::runtime_error when the Python one fails.
std::unique_ptr<auth::Authenticator> make_authenticator_chain(const NodeConfig& config);

// Per-thread tools the stages reuse so the hot path does not allocate. Not thread-safe.
struct StageTools {
  StageTools();
  codecs::BodyDecoder decoder;
  codecs::JsonValidator validator;
  std::mt19937_64 random;
  ReceivedAtClock clock;
  WorkerMetrics metrics;  // this thread's counters; the server's MetricsRegistry reads them
};

struct RequestHead {
  std::string_view method;  // as sent
  bool is_post = false;
  std::string_view target;
  std::string_view content_type;
  std::string_view content_encoding;
  bool accept_form = false;  // the config has a form_param
};

// Checks 1, 2, 4 and 5 of the contract (3, the header size, is the parser's).
std::optional<Reject> check_head(const RequestHead& head, codecs::EncodingList& encodings) noexcept;


class Exchange;

// Brings an exchange back onto its own thread after an authenticator or queue called back from
// another one.
class Resumer {
 public:
  virtual void resume_later(Exchange& exchange) noexcept = 0;
  // Calls exchange.store_now() now or at the end of the thread's current turn, so that queues see
  // the turn's messages as one burst.
  virtual void store_soon(Exchange& exchange) noexcept = 0;

 protected:
  ~Resumer() = default;
};

// The result of an exchange: what to answer.
struct Outcome {
  int status = 200;
  std::optional<Reject> reject;   // unset on success
  std::string detail;             // for rejects
  bool detail_is_json = false;    // `detail` is JSON text, answered as it is (auth::AuthOutcome)
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers (authenticator's)
  char tracking_id[32] = {};
};

class ExchangeOwner {
 public:
  // Called on the exchange's thread when the answer is known.
  virtual void on_exchange_done(Exchange& exchange) noexcept = 0;

 protected:
  ~ExchangeOwner() = default;
};

struct ExchangeInput {
  std::string_view target;
  std::string_view content_type;
  codecs::EncodingList encodings;
  std::span<const auth::Header> headers;
  std::string* raw_body = nullptr;  // may be decoded in place of; the exchange may swap it
  std::string_view client_host;
  std::uint16_t client_port = 0;
  std::string_view scheme = "http";  // ForwardedOrigin (server/forwarded.h)
  std::string_view host;
  std::string_view client_cert;  // auth::AuthRequest::client_cert
  // When the body was complete (starts the decode stage's clock); unset: run() reads the clock.
  std::chrono::steady_clock::time_point body_done{};
};

// One request from a complete body to its answer: decode, validate, route, authenticate, store.
// Reused for every request of a connection. Runs on one thread; callbacks from other threads come
// back through the Resumer. `dry_run` (inlet test) stops before storing.
class Exchange final : public auth::AuthCallback, public StoreCallback, public DedupWaiter {
 public:
  Exchange(ExchangeOwner& owner, Resumer& resumer, StageTools& tools) noexcept
      : owner_(owner), resumer_(resumer), tools_(tools) {}

  void run(std::shared_ptr<const Pipeline> pipeline, const ExchangeInput& input, bool dry_run = false);
  // Called by the Resumer on the exchange's thread.
  void resume() noexcept;
  // Hands the message to every matching edge; `deferred` uses Queue::store_deferred, and the
  // caller then flushes those queues.
  void store_now(bool deferred) noexcept;
  // The queues store_now() will store to (the edges', or the dedup journal), each once in `queues`.
  void add_store_queues(std::vector<Queue*>& queues) const;

  const Outcome& outcome() const noexcept { return outcome_; }
  // Valid after success (and for a dry run): the message and the edges it went to.
  const Message& message() const noexcept { return message_; }
  std::uint64_t edge_mask() const noexcept { return edge_mask_; }
  const Pipeline* pipeline() const noexcept { return pipeline_.get(); }
  // When the outcome was known (the last stage boundary), for the total latency.
  std::chrono::steady_clock::time_point finished_at() const noexcept { return mark_; }
  Exchange* next_in_inbox = nullptr;  // intrusive link for the Resumer's queue

  void on_auth_done(auth::AuthOutcome&& outcome) noexcept override;
  void on_stored(StoreStatus status) noexcept override;
  void on_dedup_resolved() noexcept override;

 private:
  enum class Phase : std::uint8_t { kIdle, kAuthenticating, kDedupWaiting, kStoring, kJournaling };
  // Receives one edge's store answer and its time, so that after_store() can count per edge.
  struct EdgeStore final : StoreCallback {
    Exchange* exchange = nullptr;
    std::string key;  // the edge's Message::key, read from the parsed body while routing
    Message keyed;    // the message with that key, for an edge with a key path
    StoreStatus status = StoreStatus::kStored;
    std::chrono::steady_clock::time_point done{};
    void on_stored(StoreStatus s) noexcept override {
      status = s;
      done = std::chrono::steady_clock::now();
      exchange->on_stored(s);
    }
  };
  // Ends a stage: observes its time since the previous boundary and starts the next.
  void mark(Stage stage) noexcept {
    const auto now = std::chrono::steady_clock::now();
    tools_.metrics.stage(stage).observe(now - mark_);
    mark_ = now;
  }
  void after_auth() noexcept;
  void claim_key() noexcept;
  void begin_store() noexcept;
  void after_store() noexcept;
  void after_journal() noexcept;
  bool find_dedup_key(const ExchangeInput& input);
  void finish(Reject reject, std::string_view detail = {}) noexcept;
  void finish_ok() noexcept;

  ExchangeOwner& owner_;
  Resumer& resumer_;
  StageTools& tools_;
  std::shared_ptr<const Pipeline> pipeline_;
  Phase phase_ = Phase::kIdle;
  bool dry_run_ = false;
  std::atomic<std::uint32_t> pending_{0};
  std::atomic<StoreStatus> store_status_{StoreStatus::kStored};
  std::string decoded_;  // decoded body storage when the request had a Content-Encoding
  std::string form_json_;  // a form post's JSON field, URL-decoded: the message body
  std::string_view message_body_;  // body_, or form_json_ for a form post
  std::string_view body_;
  std::string_view content_type_;
  std::uint64_t edge_mask_ = 0;
  auth::AuthRequest auth_request_;
  auth::AuthOutcome auth_outcome_;
  Outcome outcome_;
  char received_at_[27] = {};
  Message message_;
  std::chrono::steady_clock::time_point mark_{};  // the last stage boundary
  std::vector<EdgeStore> edge_stores_;            // by edge index; capacity reused
  std::string dedup_key_;        // capacity reused
  bool has_dedup_key_ = false;
  bool dedup_first_ = false;     // this request claimed its key first: it commits or abandons it
  Message journal_message_;      // the key's journal record
};

// Runs exchanges on the calling thread without an event loop (`inlet test`, tests): wait() returns
// once the exchange has answered, resuming it whenever another thread calls back.
class BlockingRun final : public Resumer, public ExchangeOwner {
 public:
  void resume_later(Exchange& exchange) noexcept override;
  void store_soon(Exchange& exchange) noexcept override { exchange.store_now(false); }
  void on_exchange_done(Exchange&) noexcept override { done_ = true; }
  void wait(Exchange& exchange);

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  Exchange* ready_ = nullptr;
  bool done_ = false;
};

}  // namespace inlet::runtime
