// The queues of every edge the process writes (the webhook node's and the consumer nodes'), by
// edge name, kept open across reloads, and the Pipeline each
// config is built into over them. A reload may add and remove edges; a removed edge's queue is
// closed once no pipeline an in-flight request holds uses it. Control thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/config/node_config.h"
#include "runtime/metrics.h"
#include "runtime/server/pipeline.h"

namespace inlet::runtime {

class EdgeQueues {
 public:
  explicit EdgeQueues(MetricsRegistry& metrics) : metrics_(metrics) {}
  ~EdgeQueues() { close_all(); }
  EdgeQueues(const EdgeQueues&) = delete;
  EdgeQueues& operator=(const EdgeQueues&) = delete;

  // Builds the authenticator chain and opens the queues of new edges. An edge whose queue
  // settings changed is refused (its old queue may still hold in-flight messages, and two log
  // queues must never share a directory): throws std::runtime_error with the reason, having
  // opened nothing that stays open.
  std::shared_ptr<const Pipeline> build_pipeline(std::shared_ptr<const NodeConfig> config);

  // The open queue of an edge this process writes (a consumer node's output); null when none.
  Queue* queue(const std::string& edge) const;

  // Closes the queues of removed edges that no live pipeline uses any more.
  void close_retired();

  // Closes every queue; once the workers have stopped. Idempotent.
  void close_all();

 private:
  // An edge's open queue and the settings it was opened with.
  struct OpenQueue {
    std::unique_ptr<Queue> queue;
    std::string fingerprint;
  };
  struct RetiredQueue {
    std::string name;
    OpenQueue open;
  };

  void refuse_changed_settings(const NodeConfig& config) const;
  std::map<std::string, OpenQueue> open_new_edges(const NodeConfig& config);
  void retire_removed_edges(const NodeConfig& config);

  MetricsRegistry& metrics_;
  std::map<std::string, OpenQueue> queues_;  // by edge name
  std::vector<RetiredQueue> retired_;
  std::vector<std::weak_ptr<const Pipeline>> generations_;  // every pipeline that may be in use
  std::unique_ptr<Dedup> dedup_;  // `dedup:`, built with the first pipeline and kept across reloads
  std::string dedup_fingerprint_;
};

}  // namespace inlet::runtime
