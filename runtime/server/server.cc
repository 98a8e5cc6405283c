#include "runtime/server/server.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <thread>

#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/response.h"
#include "runtime/server/admin_listener.h"
#include "runtime/server/session.h"
#include "runtime/server/worker.h"

namespace inlet::runtime {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// The connection limit's answer, written before any request is read: built once from the table.
const std::string& too_many_connections() {
  static const std::string bytes = [] {
    std::string body;
    append_detail(body, describe(Reject::kTooManyConnections).detail);
    Response response = response_for(Reject::kTooManyConnections);
    response.body = body;
    response.close = true;
    std::string out;
    write_http(response, out);
    return out;
  }();
  return bytes;
}

constexpr auto kConfigPollInterval = std::chrono::seconds(1);

// What tells a rewritten config file apart: Kubernetes swaps a symlink, editors rename a new file
// over the old one, and a plain rewrite changes the size or mtime.
struct FileStamp {
  bool exists = false;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return FileStamp{true, st.st_dev, st.st_ino, st.st_size,
                   std::int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  append_json_escaped(out, text);
  out += '"';
  return out;
}

}  // namespace

struct Server::Impl {
  // An edge's open queue and the settings it was opened with.
  struct OpenQueue {
    std::unique_ptr<Queue> queue;
    std::string fingerprint;
  };
  // A queue whose edge a reload removed: closed once no pipeline that uses it is alive.
  struct RetiredQueue {
    std::string name;
    OpenQueue open;
  };

  // Touched on the control thread only, once run() has started.
  std::shared_ptr<const NodeConfig> config;
  std::map<std::string, OpenQueue> queues;  // by edge name
  std::vector<RetiredQueue> retired;
  std::vector<std::weak_ptr<const Pipeline>> generations;  // every pipeline that may be in use
  std::shared_ptr<const Pipeline> pipeline;
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  FileStamp config_stamp;

  ServerState state;
  std::atomic<std::size_t> acceptors_open{0};  // counts down as the drain closes them
  MetricsRegistry metrics;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // one per worker, on its io_context
  asio::io_context control{1};
  std::unique_ptr<AdminListener> admin;  // on `control`; declared after it, so destroyed first

  // Builds the authenticator chain and opens the queues of new edges. On a reload, an edge whose
  // queue settings changed is refused (its old queue may still hold in-flight messages, and two
  // log queues must never share a directory); throws std::runtime_error with the reason, having
  // opened nothing that stays open.
  std::shared_ptr<const Pipeline> build_pipeline(std::shared_ptr<const NodeConfig> cfg) {
    for (const EdgeConfig& edge : cfg->edges) {
      const auto it = queues.find(edge.name);
      if (it != queues.end() && it->second.fingerprint != edge.queue.fingerprint) {
        throw std::runtime_error("edge '" + edge.name +
                                 "': its queue settings changed; restart the node to apply them");
      }
      for (const RetiredQueue& old : retired) {
        if (old.name == edge.name && old.open.fingerprint != edge.queue.fingerprint) {
          throw std::runtime_error(
              "edge '" + edge.name +
              "' was removed and its old queue is still finishing; retry the reload");
        }
      }
    }
    auto built = std::make_shared<Pipeline>();
    built->config = cfg;
    built->authenticator = make_authenticator_chain(*cfg);

    std::map<std::string, OpenQueue> opened;
    try {
      for (const EdgeConfig& edge : cfg->edges) {
        if (queues.count(edge.name) != 0) continue;
        const auto old = std::find_if(retired.begin(), retired.end(),
                                      [&](const RetiredQueue& r) { return r.name == edge.name; });
        if (old != retired.end()) {
          opened[edge.name] = std::move(old->open);
          retired.erase(old);
        } else {
          opened[edge.name] = OpenQueue{edge.queue.open(), edge.queue.fingerprint};
        }
      }
    } catch (...) {
      for (auto& [name, open] : opened) open.queue->close();
      throw;
    }
    for (auto& [name, open] : opened) queues[name] = std::move(open);
    for (const EdgeConfig& edge : cfg->edges) {
      built->edges.push_back(EdgeRoute{edge.name, edge.filter.get(), queues[edge.name].queue.get(),
                                       metrics.edge_slot(edge.name)});
    }
    // Edges this config no longer has: their queues close when no pipeline uses them.
    for (auto it = queues.begin(); it != queues.end();) {
      const bool kept = std::any_of(cfg->edges.begin(), cfg->edges.end(),
                                    [&](const EdgeConfig& e) { return e.name == it->first; });
      if (kept) {
        ++it;
      } else {
        retired.push_back(RetiredQueue{it->first, std::move(it->second)});
        it = queues.erase(it);
      }
    }
    generations.push_back(built);
    return built;
  }

  void close_retired_queues() {
    std::erase_if(generations, [](const std::weak_ptr<const Pipeline>& g) { return g.expired(); });
    std::erase_if(retired, [&](RetiredQueue& old) {
      for (const auto& generation : generations) {
        const auto live = generation.lock();
        if (!live) continue;
        for (const EdgeRoute& edge : live->edges) {
          if (edge.queue == old.open.queue.get()) return false;
        }
      }
      old.open.queue->close();
      log_info("edge_closed", {{"edge", old.name}});
      return true;
    });
  }

  void reload(std::string_view trigger) {
    if (state.draining.load()) {
      log_info("reload_skipped", {{"trigger", trigger}, {"reason", "draining"}});
      return;
    }
    std::shared_ptr<const NodeConfig> fresh;
    std::shared_ptr<const Pipeline> built;
    try {
      fresh = load_node_config(config->source);
      built = build_pipeline(fresh);
    } catch (const std::exception& e) {
      ++reloads_failed;
      log_error("reload_failed",
                {{"trigger", trigger}, {"error", e.what()}, {"kept", "the running config"}});
      return;
    }
    std::string restart_keys;
    const auto needs_restart = [&](bool changed, std::string_view key) {
      if (!changed) return;
      if (!restart_keys.empty()) restart_keys += ", ";
      restart_keys += key;
    };
    needs_restart(
        fresh->listen_host != config->listen_host || fresh->listen_port != config->listen_port,
        "listen");
    needs_restart(
        fresh->admin_host != config->admin_host || fresh->admin_port != config->admin_port,
        "admin_listen");
    needs_restart(fresh->threads != config->threads, "threads");
    needs_restart(fresh->name != config->name, "node.name (in log lines)");
    if (!restart_keys.empty()) {
      log_warn("reload_needs_restart",
               {{"keys", restart_keys}, {"detail", "these keep their old values until a restart"}});
    }
    config = fresh;
    pipeline = built;
    for (auto& worker : workers) {
      asio::post(worker->io(), [w = worker.get(), built] { w->set_pipeline(built); });
    }
    ++reloads_ok;
    log_info("reloaded", {{"trigger", trigger},
                          {"edges", static_cast<int>(built->edges.size())},
                          {"log_level", fresh->log_level},
                          {"access_log_sample", fresh->access_log_sample}});
    // After the line above, so that the reload shows even when it raises the level.
    Logger::instance().set_level(*parse_log_level(fresh->log_level));
    close_retired_queues();
  }

  void open_acceptors() {
    const auto address = asio::ip::make_address(config->listen_host);
    tcp::endpoint endpoint(address, config->listen_port);
    for (auto& worker : workers) {
      auto acceptor = std::make_unique<tcp::acceptor>(worker->io());
      acceptor->open(endpoint.protocol());
      acceptor->set_option(asio::socket_base::reuse_address(true));
      const int one = 1;
      ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
      error_code ec;
      acceptor->bind(endpoint, ec);
      if (ec) {
        throw std::runtime_error("cannot listen on " + config->listen_host + ":" +
                                 std::to_string(config->listen_port) + ": " + ec.message());
      }
      acceptor->listen(asio::socket_base::max_listen_connections);
      endpoint = acceptor->local_endpoint();  // port 0: the others share the chosen port
      acceptors.push_back(std::move(acceptor));
    }
    log_info("listening", {{"address", config->listen_host},
                           {"port", int{endpoint.port()}},
                           {"threads", static_cast<int>(workers.size())}});
  }

  // On the worker's thread.
  void start_session(Worker& worker, tcp::socket socket) {
    if (state.open_connections.load(std::memory_order_relaxed) >=
        worker.pipeline()->config->limits.max_connections) {
      WorkerMetrics& metrics = worker.tools().metrics;
      metrics.count_status(describe(Reject::kTooManyConnections).status);
      metrics.count_reject(Reject::kTooManyConnections);
      error_code ignored;
      socket.non_blocking(true, ignored);
      socket.write_some(asio::buffer(too_many_connections()), ignored);
      socket.close(ignored);
    } else {
      std::make_shared<Session>(worker, std::move(socket))->start();
    }
  }

  void accept(Worker& worker, tcp::acceptor& acceptor) {
    acceptor.async_accept(worker.io(),
                          [this, &worker, &acceptor](const error_code& ec, tcp::socket socket) {
                            if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
                            if (!ec) {
                              start_session(worker, std::move(socket));
                            } else {
                              log_warn("accept_failed", {{"error", ec.message()}});
                            }
                            accept(worker, acceptor);
                          });
  }

  // Takes the connections the kernel has already completed before closing each listener, so that
  // a client whose connect succeeded gets an answer rather than a reset.
  void close_acceptors() {
    acceptors_open.store(acceptors.size());
    for (std::size_t i = 0; i < acceptors.size(); ++i) {
      asio::post(workers[i]->io(),
                 [this, worker = workers[i].get(), acceptor = acceptors[i].get()] {
                   error_code ec;
                   acceptor->non_blocking(true, ec);
                   while (!ec) {
                     tcp::socket socket(worker->io());
                     acceptor->accept(socket, ec);
                     if (!ec) start_session(*worker, std::move(socket));
                   }
                   acceptor->close(ec);
                   acceptors_open.fetch_sub(1, std::memory_order_release);
                 });
    }
  }

  AdminResponse handle_admin(std::string_view path) {
    if (path == "/healthz") return {200, "application/json", "{\"status\":\"ok\"}"};
    if (path == "/readyz") {
      const std::string reason = not_ready_reason();
      if (reason.empty()) return {200, "application/json", "{\"status\":\"ok\"}"};
      return {503, "application/json",
              "{\"status\":\"unavailable\",\"reason\":" + json_string(reason) + "}"};
    }
    if (path == "/metrics") {
      AdminResponse response{200, "text/plain; version=0.0.4; charset=utf-8", {}};
      render_metrics(response.body);
      return response;
    }
    return {404, "application/json",
            "{\"detail\":\"not found: use /healthz, /readyz or /metrics\"}"};
  }

  // Empty when ready.
  std::string not_ready_reason() const {
    if (state.draining.load()) return "draining";
    if (!pipeline || !pipeline->authenticator) return "authenticator not loaded";
    for (const EdgeRoute& edge : pipeline->edges) {
      if (!edge.queue->ready()) {
        return "edge '" + edge.name + "' (" + std::string(edge.queue->type()) + ") is not ready";
      }
    }
    return {};
  }

  void render_metrics(std::string& out) const {
    out.reserve(32 * 1024);
    metrics.render(out);
    append_metric_header(out, "inlet_open_connections", "gauge", "Client connections open now.");
    append_sample(out, "inlet_open_connections", {},
                  std::uint64_t{state.open_connections.load(std::memory_order_relaxed)});
    append_metric_header(out, "inlet_draining", "gauge",
                         "1 once SIGTERM or SIGINT started the drain.");
    append_sample(out, "inlet_draining", {}, std::uint64_t{state.draining.load() ? 1u : 0u});
    append_metric_header(out, "inlet_ready", "gauge", "1 when /readyz answers 200.");
    append_sample(out, "inlet_ready", {}, std::uint64_t{not_ready_reason().empty() ? 1u : 0u});
    append_metric_header(out, "inlet_config_reloads_total", "counter",
                         "Config reloads (SIGHUP or file change).");
    append_sample(out, "inlet_config_reloads_total", "result=\"ok\"", reloads_ok);
    append_sample(out, "inlet_config_reloads_total", "result=\"failed\"", reloads_failed);
    if (!pipeline) return;
    append_metric_header(out, "inlet_edge_ready", "gauge",
                         "1 when the edge's queue accepts messages.");
    for (const EdgeRoute& edge : pipeline->edges) {
      append_sample(out, "inlet_edge_ready",
                    "edge=\"" + escape_label(edge.name) + "\",type=\"" +
                        std::string(edge.queue->type()) + "\"",
                    std::uint64_t{edge.queue->ready() ? 1u : 0u});
    }
    // Each queue's own counters (Queue::counters), one series per name, labelled by edge.
    std::vector<std::pair<std::string, std::vector<QueueCounter>>> by_edge;
    for (const EdgeRoute& edge : pipeline->edges) {
      auto& [labels, counters] = by_edge.emplace_back("edge=\"" + escape_label(edge.name) + "\"",
                                                       std::vector<QueueCounter>{});
      edge.queue->counters(counters);
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

  void watch_config(asio::steady_timer& timer) {
    timer.expires_after(kConfigPollInterval);
    timer.async_wait([this, &timer](const error_code& ec) {
      if (ec) return;
      const FileStamp now = stamp_of(config->source);
      if (now.exists && !(now == config_stamp)) {
        config_stamp = now;
        reload("file_changed");
      }
      close_retired_queues();
      watch_config(timer);
    });
  }
};

Server::Server(std::shared_ptr<const NodeConfig> config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->config_stamp = stamp_of(config->source);
  impl_->pipeline = impl_->build_pipeline(config);
  unsigned threads = config->threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    impl_->workers.push_back(std::make_unique<Worker>(impl_->state, impl_->pipeline));
    impl_->metrics.add_worker(impl_->workers.back()->tools().metrics);
  }
  impl_->open_acceptors();
  if (!config->admin_host.empty()) {
    impl_->admin = std::make_unique<AdminListener>(
        impl_->control, config->admin_host, config->admin_port,
        [impl = impl_.get()](std::string_view path) { return impl->handle_admin(path); });
  }
}

Server::~Server() {
  for (auto& worker : impl_->workers) worker->join();
  impl_->admin.reset();
  impl_->acceptors.clear();
  impl_->pipeline.reset();
  for (auto& [name, open] : impl_->queues) open.queue->close();
  for (auto& old : impl_->retired) old.open.queue->close();
  impl_->workers.clear();
}

int Server::run() {
  Impl& impl = *impl_;
  for (std::size_t i = 0; i < impl.workers.size(); ++i) {
    impl.accept(*impl.workers[i], *impl.acceptors[i]);
    impl.workers[i]->start_thread();
  }
  if (impl.admin) impl.admin->start();
  asio::signal_set signals(impl.control, SIGINT, SIGTERM);
  asio::signal_set hangup(impl.control, SIGHUP);
  asio::steady_timer timer(impl.control);
  asio::steady_timer config_timer(impl.control);
  Session::Clock::time_point give_up;
  Session::Clock::time_point signalled;

  std::function<void()> wait_for_connections = [&] {
    // Sessions the listeners' last accepts started are counted before their listener is closed.
    const bool listening = impl.acceptors_open.load(std::memory_order_acquire) != 0;
    const std::uint32_t open = impl.state.open_connections.load();
    if ((!listening && open == 0) || Session::Clock::now() >= give_up) {
      if (open != 0) log_warn("drain_timeout", {{"open_connections", static_cast<int>(open)}});
      log_info("drained", {{"open_connections", static_cast<int>(open)},
                           {"drain_ms", static_cast<std::int64_t>(
                                            std::chrono::duration_cast<std::chrono::milliseconds>(
                                                Session::Clock::now() - signalled)
                                                .count())}});
      impl.control.stop();
      return;
    }
    timer.expires_after(std::chrono::milliseconds(20));
    timer.async_wait([&](const error_code& ec) {
      if (!ec) wait_for_connections();
    });
  };

  std::function<void()> wait_for_hangup = [&] {
    hangup.async_wait([&](const error_code& ec, int) {
      if (ec) return;
      impl.config_stamp = stamp_of(impl.config->source);
      impl.reload("sighup");
      wait_for_hangup();
    });
  };
  wait_for_hangup();
  impl.watch_config(config_timer);

  signals.async_wait([&](const error_code& ec, int signal_number) {
    if (ec) return;
    signalled = Session::Clock::now();
    log_info("draining",
             {{"signal", signal_number},
              {"drain_delay_ms", static_cast<std::int64_t>(impl.config->drain_delay.count())}});
    impl.state.draining.store(true);
    timer.expires_after(impl.config->drain_delay);
    timer.async_wait([&](const error_code& timer_ec) {
      if (timer_ec) return;
      impl.close_acceptors();
      impl.state.listeners_closed.store(true);
      log_info("listeners_closed",
               {{"open_connections", static_cast<int>(impl.state.open_connections.load())}});
      const Limits& limits = impl.config->limits;
      give_up = Session::Clock::now() + limits.header_timeout + limits.body_timeout;
      wait_for_connections();
    });
    // A second signal stops at once.
    signals.async_wait([&](const error_code& again, int) {
      if (!again) {
        log_warn("drain_interrupted");
        impl.control.stop();
      }
    });
  });
  log_info("started", {{"threads", static_cast<int>(impl.workers.size())},
                       {"admin_port", impl.admin ? int{impl.admin->port()} : 0},
                       {"edges", static_cast<int>(impl.pipeline->edges.size())}});
  impl.control.run();
  if (impl.admin) impl.admin->stop();
  for (auto& worker : impl.workers) worker->join();
  impl.pipeline.reset();
  for (auto& [name, open] : impl.queues) open.queue->close();
  for (auto& old : impl.retired) old.open.queue->close();
  log_info("stopped", {{"exit_code", 0}});
  return 0;
}

}  // namespace inlet::runtime
