#include "runtime/server/admin_routes.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "runtime/log.h"

namespace inlet::runtime {

AdminResponse AdminRoutes::operator()(std::string_view path) const {
  if (path == "/healthz") return {200, "application/json", "{\"status\":\"ok\"}"};
  if (path == "/readyz") {
    const std::string reason = not_ready_reason();
    if (reason.empty()) return {200, "application/json", "{\"status\":\"ok\"}"};
    std::string body = "{\"status\":\"unavailable\",\"reason\":";
    append_json_string(body, reason);
    body += '}';
    return {503, "application/json", std::move(body)};
  }
  if (path == "/metrics") {
    AdminResponse response{200, "text/plain; version=0.0.4; charset=utf-8", {}};
    render_metrics(response.body);
    return response;
  }
  return {404, "application/json", "{\"detail\":\"not found: use /healthz, /readyz or /metrics\"}"};
}

std::string AdminRoutes::not_ready_reason() const {
  if (view_.state.draining.load()) return "draining";
  const Pipeline* pipeline = view_.pipeline.get();
  if (pipeline == nullptr || !pipeline->authenticator) return "authenticator not loaded";
  for (const EdgeRoute& edge : pipeline->edges) {
    if (!edge.queue->ready()) {
      return "edge '" + edge.name + "' (" + std::string(edge.queue->type()) + ") is not ready";
    }
  }
  for (const auto& node : view_.nodes) {
    if (std::string reason = node->not_ready_reason(); !reason.empty()) return reason;
  }
  return {};
}

void AdminRoutes::render_metrics(std::string& out) const {
  out.reserve(32 * 1024);
  view_.metrics.render(out);
  const auto gauge = [&](std::string_view name, std::string_view help, std::uint64_t value) {
    append_metric_header(out, name, "gauge", help);
    append_sample(out, name, {}, value);
  };
  gauge("inlet_open_connections", "Client connections open now.",
        view_.state.open_connections.load(std::memory_order_relaxed));
  gauge("inlet_draining", "1 once SIGTERM or SIGINT started the drain.",
        view_.state.draining.load() ? 1u : 0u);
  gauge("inlet_ready", "1 when /readyz answers 200.", not_ready_reason().empty() ? 1u : 0u);
  append_metric_header(out, "inlet_config_reloads_total", "counter",
                       "Config reloads (SIGHUP or file change).");
  append_sample(out, "inlet_config_reloads_total", "result=\"ok\"", view_.reloads.ok);
  append_sample(out, "inlet_config_reloads_total", "result=\"failed\"", view_.reloads.failed);
  append_node_metrics(out, view_.nodes);
  if (view_.pipeline) {
    render_edge_metrics(out);
    render_tls_metrics(out);
    if (view_.pipeline->dedup != nullptr) view_.pipeline->dedup->append_metrics(out);
  }
}

void AdminRoutes::render_tls_metrics(std::string& out) const {
  const NodeConfig& config = *view_.pipeline->config;
  if (!config.tls && !config.admin_tls) return;
  append_metric_header(out, "inlet_tls_handshakes_total", "counter",
                       "TLS handshakes by listener and result (ok, plain_http, protocol, "
                       "client_certificate, peer_alert, timeout, error).");
  for (std::size_t r = 0; r < kTlsHandshakeNames.size(); ++r) {
    const std::string result = ",result=\"" + std::string(kTlsHandshakeNames[r]) + "\"";
    if (config.tls) {
      append_sample(out, "inlet_tls_handshakes_total", "listener=\"webhook\"" + result,
                    view_.metrics.tls_handshakes(static_cast<TlsHandshake>(r)));
    }
    if (config.admin_tls) {
      append_sample(out, "inlet_tls_handshakes_total", "listener=\"admin\"" + result,
                    view_.admin_handshakes[r].get());
    }
  }
  append_metric_header(out, "inlet_tls_certificate_expiry_seconds", "gauge",
                       "When the certificate new connections get expires (notAfter), in seconds "
                       "since the epoch: alert on it minus time().");
  const auto expiry = [&](std::string_view listener, const TlsContext& tls) {
    append_sample(out, "inlet_tls_certificate_expiry_seconds",
                  "listener=\"" + std::string(listener) + "\",serial=\"" + tls.serial_hex() + "\"",
                  static_cast<std::uint64_t>(std::max<std::int64_t>(tls.not_after(), 0)));
  };
  if (config.tls) expiry("webhook", *config.tls);
  if (config.admin_tls) expiry("admin", *config.admin_tls);
}

// Each queue's own counters (Queue::counters), one family per name, labelled by edge: a queue
// type brings its metrics without this knowing the type.
void AdminRoutes::render_edge_metrics(std::string& out) const {
  const std::vector<EdgeRoute>& edges = view_.pipeline->edges;
  append_metric_header(out, "inlet_edge_ready", "gauge", "1 when the edge's queue accepts messages.");
  std::vector<std::pair<std::string, std::vector<QueueCounter>>> by_edge;
  for (const EdgeRoute& edge : edges) {
    const std::string labels = "edge=\"" + escape_label(edge.name) + "\"";
    append_sample(out, "inlet_edge_ready", labels + ",type=\"" + std::string(edge.queue->type()) + "\"",
                  std::uint64_t{edge.queue->ready() ? 1u : 0u});
    edge.queue->counters(by_edge.emplace_back(labels, std::vector<QueueCounter>{}).second);
  }
  std::vector<std::string_view> rendered;
  for (const auto& [_, counters] : by_edge) {
    for (const QueueCounter& series : counters) {
      if (std::find(rendered.begin(), rendered.end(), series.name) != rendered.end()) continue;
      rendered.push_back(series.name);
      append_metric_header(out, series.name, "counter", series.help);
      for (const auto& [labels, others] : by_edge) {
        for (const QueueCounter& c : others) {
          if (c.name == series.name) append_sample(out, c.name, labels, c.value);
        }
      }
    }
  }
}

}  // namespace inlet::runtime
