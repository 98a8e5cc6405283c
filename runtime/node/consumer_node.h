// A consumer node (CONTRACT.md section 5): reads its input edge through a named Consumer, runs its
// Python function on each message (processor or router), stores the outputs on its own edges and
// commits its position in input order once every output of a message is stored (or its dead
// letter is). At least once: a crash replays what was in flight, never skips it.
//
// Two threads per node. The reader owns the Consumer (open, poll, commit, lag): poll blocks, so it
// cannot share a thread with the rest. The node thread owns the window of messages in flight: it
// hands calls to the interpreter, validates and routes results, stores, retries, and says how far
// the reader may commit. The interpreter and the queues call back through the node's inbox.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/config/node_config.h"
#include "runtime/metrics.h"
#include "runtime/queue/queue.h"

namespace inlet::runtime {

class Deliverer;

// How a message ended, for inlet_node_messages_total{node,result}.
enum class NodeResult : std::uint8_t { kEmitted, kFiltered, kFailed, kDeadLettered, kCount };
inline constexpr std::string_view kNodeResultNames[] = {"emitted", "filtered", "failed",
                                                        "dead_lettered"};

// The stages of one message through a node, for inlet_node_stage_duration_seconds{node,stage}.
enum class NodeStage : std::uint8_t { kFunction, kStore, kTotal, kCount };
inline constexpr std::string_view kNodeStageNames[] = {"function", "store", "total"};

// Written by the node's threads, read by the scraper.
struct NodeMetrics {
  // emitted, filtered and dead_lettered count input messages once each; failed counts attempts.
  std::array<LocalCounter, static_cast<std::size_t>(NodeResult::kCount)> results;
  std::array<LatencyHistogram, static_cast<std::size_t>(NodeStage::kCount)> stages;
  LocalCounter retries;
  LocalCounter backpressure;  // an output store refused as full or unavailable, retried
  std::atomic<std::int64_t> lag{-1};  // -1: unknown
  std::atomic<std::uint64_t> redelivered{0};
};

// One output edge as the node writes it.
struct NodeOutput {
  const EdgeConfig* edge;
  Queue* queue;
};

class ConsumerNode {
 public:
  // `config` (kept alive by `owner`) and the queues outlive the node. Loads the function (throws
  // std::runtime_error as the authenticator does); starts nothing.
  ConsumerNode(std::shared_ptr<const NodeConfig> owner, const ConsumerNodeConfig& config,
               std::vector<NodeOutput> outputs, std::optional<NodeOutput> dead_letter);
  ~ConsumerNode();
  ConsumerNode(const ConsumerNode&) = delete;
  ConsumerNode& operator=(const ConsumerNode&) = delete;

  void start();
  // Stops reading; calls and stores in progress finish (a call within its timeout, a store
  // within its queue's budget); commits what is done and joins. What did not finish, and what
  // waits for a retry, is read again after a restart. Idempotent.
  void stop();

  // After a successful config reload (the nodes themselves are built once): a delivery node's
  // endpoints disabled by a 410 are enabled again, as the contract says.
  void on_config_reloaded();

  const std::string& name() const noexcept;
  const std::string& input() const noexcept;
  // Empty while the node reads its input; else why not ("cannot reach input 'raw': ...").
  std::string not_ready_reason() const;
  const NodeMetrics& metrics() const noexcept;
  const ConsumerNodeConfig& config() const noexcept;
  const Deliverer* deliverer() const noexcept;  // a delivery node's engine; else null

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// inlet_consumer_lag, inlet_node_messages_total, inlet_node_stage_duration_seconds,
// inlet_node_retries_total and inlet_node_backpressure_total, for every node; a delivery node's
// endpoints' inlet_delivery_* and inlet_endpoint_state.
void append_node_metrics(std::string& out, const std::vector<std::unique_ptr<ConsumerNode>>& nodes);

}  // namespace inlet::runtime
