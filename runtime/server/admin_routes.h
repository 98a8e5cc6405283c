// What the admin listener answers: /healthz, /readyz (with the reason it is not ready) and
// /metrics (the workers' counters, the server's gauges, each edge's own queue counters). It reads
// the server's state on the control thread, the thread reloads run on, so the pipeline it sees
// cannot change under it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/metrics.h"
#include "runtime/node/consumer_node.h"
#include "runtime/server/admin_listener.h"
#include "runtime/server/pipeline.h"
#include "runtime/server/worker.h"

namespace inlet::runtime {

struct ReloadCounts {
  std::uint64_t ok = 0;
  std::uint64_t failed = 0;
};

// The server's state the routes read; each reference outlives the routes.
struct ServerView {
  const ServerState& state;
  const MetricsRegistry& metrics;
  const std::shared_ptr<const Pipeline>& pipeline;  // the one in force
  const ReloadCounts& reloads;
  const TlsHandshakeCounts& admin_handshakes;  // the webhook listener's are the workers'
  const std::vector<std::unique_ptr<ConsumerNode>>& nodes;
};

class AdminRoutes {
 public:
  explicit AdminRoutes(ServerView view) : view_(view) {}

  AdminResponse operator()(std::string_view path) const;
  // Empty when ready.
  std::string not_ready_reason() const;

 private:
  void render_metrics(std::string& out) const;
  void render_edge_metrics(std::string& out) const;
  void render_tls_metrics(std::string& out) const;

  ServerView view_;
};

}  // namespace inlet::runtime
