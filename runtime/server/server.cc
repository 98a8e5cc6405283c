#include "runtime/server/server.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <thread>

#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/node/consumer_node.h"
#include "runtime/server/admin_listener.h"
#include "runtime/server/admin_routes.h"
#include "runtime/server/config_watcher.h"
#include "runtime/server/drain.h"
#include "runtime/server/edge_queues.h"
#include "runtime/server/webhook_listener.h"
#include "runtime/server/worker.h"

namespace inlet::runtime {

namespace asio = boost::asio;

namespace {

// The files beside the config that a change of should reload it: the certificates.
std::vector<std::filesystem::path> watched_files(const NodeConfig& config) {
  std::vector<std::filesystem::path> files;
  for (const TlsContext* tls : {config.tls.get(), config.admin_tls.get()}) {
    if (tls == nullptr) continue;
    for (const auto* file : {&tls->settings().cert_file, &tls->settings().key_file, &tls->settings().ca_file}) {
      if (!file->empty()) files.push_back(*file);
    }
  }
  return files;
}

// Logs the certificate each TLS listener now serves, warning when it has expired: clients refuse
// it, so the operator must hear of it even before the first failed handshake.
void log_certificates(const NodeConfig& config) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  const auto one = [&](std::string_view listener, const TlsContext* tls) {
    if (tls == nullptr) return;
    const std::string cert_file = tls->settings().cert_file.string();
    const double days = static_cast<double>(tls->not_after() - now) / 86400;
    const bool expired = tls->not_after() <= now;
    Logger::instance().log(expired ? LogLevel::kWarn : LogLevel::kInfo,
                           expired ? "tls_certificate_expired" : "tls_certificate",
                           {{"listener", listener},
                            {"subject", tls->subject()},
                            {"serial", tls->serial_hex()},
                            {"expires_in_days", days},
                            {"cert_file", cert_file}});
  };
  one("webhook", config.tls.get());
  one("admin", config.admin_tls.get());
}

// The keys a reload reads but cannot apply to a running process, as a log value; empty if none.
std::string keys_needing_restart(const NodeConfig& running, const NodeConfig& fresh) {
  std::string keys;
  const auto note = [&](bool changed, std::string_view key) {
    if (!changed) return;
    if (!keys.empty()) keys += ", ";
    keys += key;
  };
  note(fresh.listen_host != running.listen_host || fresh.listen_port != running.listen_port,
       "listen");
  note(fresh.admin_host != running.admin_host || fresh.admin_port != running.admin_port,
       "admin_listen");
  note(fresh.threads != running.threads, "threads");
  note(fresh.name != running.name, "node.name (in log lines)");
  return keys;
}

}  // namespace

// The parts, in the order they are built and the reverse of the order they are torn down. Beyond
// construction, everything here is touched on the control thread only, except what the workers
// share through ServerState and the pipeline they were handed.
struct Server::Impl {
  explicit Impl(std::shared_ptr<const NodeConfig> initial)
      : config(std::move(initial)),
        edge_queues(metrics),
        pipeline(edge_queues.build_pipeline(config)),
        workers(start_workers()),
        listener(workers, config->listen_host, config->listen_port),
        nodes(build_nodes()),
        routes(ServerView{state, metrics, pipeline, reloads, admin_handshakes, nodes}),
        watcher(control, config->source, [this](std::string_view trigger) { reload(trigger); },
                [this] { edge_queues.close_retired(); }),
        drain(control, state, listener, config) {
    if (!config->admin_host.empty()) {
      admin = std::make_unique<AdminListener>(
          control, config->admin_host, config->admin_port,
          [this](std::string_view path) { return routes(path); },
          [this] { return config->admin_tls; }, &admin_handshakes);
    }
  }

  std::vector<std::unique_ptr<Worker>> start_workers() {
    if (!config->webhook_node) return {};  // consumers only: no listener, no I/O threads
    unsigned threads = config->threads;
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<Worker>> made;
    for (unsigned i = 0; i < threads; ++i) {
      made.push_back(std::make_unique<Worker>(state, pipeline));
      metrics.add_worker(made.back()->tools().metrics);
    }
    return made;
  }

  // The consumer nodes over the queues edge_queues opened for their outputs. Not started.
  std::vector<std::unique_ptr<ConsumerNode>> build_nodes() {
    std::vector<std::unique_ptr<ConsumerNode>> built;
    for (const ConsumerNodeConfig& node : config->nodes) {
      std::vector<NodeOutput> outputs;
      for (const EdgeConfig& edge : node.edges) outputs.push_back({&edge, edge_queues.queue(edge.name)});
      std::optional<NodeOutput> dead_letter;
      if (node.dead_letter) {
        dead_letter = NodeOutput{&*node.dead_letter, edge_queues.queue(node.dead_letter->name)};
      }
      try {
        built.push_back(std::make_unique<ConsumerNode>(config, node, std::move(outputs), dead_letter));
      } catch (const std::exception& e) {
        throw std::runtime_error(config->source.string() + ": node '" + node.name + "': " + e.what());
      }
    }
    return built;
  }

  void reload(std::string_view trigger);
  // Stops the workers, then closes every queue: what run() ends with and what the destructor
  // does when run() never ran. Idempotent.
  void stop();

  std::shared_ptr<const NodeConfig> config;
  ServerState state;
  MetricsRegistry metrics;
  EdgeQueues edge_queues;
  std::shared_ptr<const Pipeline> pipeline;
  ReloadCounts reloads;
  TlsHandshakeCounts admin_handshakes;
  std::vector<std::unique_ptr<Worker>> workers;
  WebhookListener listener;
  std::vector<std::unique_ptr<ConsumerNode>> nodes;
  asio::io_context control{1};
  AdminRoutes routes;
  ConfigWatcher watcher;
  Drain drain;
  std::unique_ptr<AdminListener> admin;  // on `control`; declared after it, so destroyed first
};

void Server::Impl::reload(std::string_view trigger) {
  if (state.draining.load()) {
    log_info("reload_skipped", {{"trigger", trigger}, {"reason", "draining"}});
    return;
  }
  std::shared_ptr<const NodeConfig> fresh;
  std::shared_ptr<const Pipeline> built;
  try {
    fresh = load_node_config(config->source);
    // Consumer nodes are built once: they hold positions, calls and stores in flight.
    if (fresh->nodes_fingerprint != config->nodes_fingerprint ||
        fresh->webhook_node != config->webhook_node) {
      throw std::runtime_error("nodes: changed (or listen: came or went); restart the process to apply it");
    }
    built = edge_queues.build_pipeline(fresh);
  } catch (const std::exception& e) {
    ++reloads.failed;
    log_error("reload_failed",
              {{"trigger", trigger}, {"error", e.what()}, {"kept", "the running config"}});
    return;
  }
  if (const std::string keys = keys_needing_restart(*config, *fresh); !keys.empty()) {
    log_warn("reload_needs_restart",
             {{"keys", keys}, {"detail", "these keep their old values until a restart"}});
  }
  config = fresh;
  pipeline = built;
  watcher.watch_also(watched_files(*config));
  if (fresh->tls != nullptr || fresh->admin_tls != nullptr) log_certificates(*fresh);
  for (auto& worker : workers) {
    asio::post(worker->io(), [w = worker.get(), built] { w->set_pipeline(built); });
  }
  for (auto& node : nodes) node->on_config_reloaded();
  ++reloads.ok;
  log_info("reloaded", {{"trigger", trigger},
                        {"edges", static_cast<int>(built->edges.size())},
                        {"log_level", fresh->log_level},
                        {"access_log_sample", fresh->access_log_sample}});
  // After the line above, so that the reload shows even when it raises the level.
  Logger::instance().set_level(*parse_log_level(fresh->log_level));
  edge_queues.close_retired();
}

void Server::Impl::stop() {
  if (admin) admin->stop();
  for (auto& worker : workers) worker->join();
  // After the webhook node, before the queues: a node finishes the stores it started.
  for (auto& node : nodes) node->stop();
  pipeline.reset();
  edge_queues.close_all();
}

Server::Server(std::shared_ptr<const NodeConfig> config)
    : impl_(std::make_unique<Impl>(std::move(config))) {}

Server::~Server() { impl_->stop(); }

int Server::run() {
  Impl& impl = *impl_;
  impl.listener.start();
  for (auto& worker : impl.workers) worker->start_thread();
  for (auto& node : impl.nodes) node->start();
  if (impl.admin) impl.admin->start();
  impl.watcher.watch_also(watched_files(*impl.config));
  log_certificates(*impl.config);
  impl.watcher.start();
  impl.drain.start();
  log_info("started", {{"threads", static_cast<int>(impl.workers.size())},
                       {"admin_port", impl.admin ? int{impl.admin->port()} : 0},
                       {"edges", static_cast<int>(impl.pipeline->edges.size())},
                       {"nodes", static_cast<int>(impl.nodes.size())},
                       {"webhook_node", impl.config->webhook_node}});
  impl.control.run();
  impl.stop();
  log_info("stopped", {{"exit_code", 0}});
  return 0;
}

}  // namespace inlet::runtime
