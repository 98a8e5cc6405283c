#include "runtime/server/server.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <thread>

#include "runtime/log.h"
#include "runtime/server/session.h"
#include "runtime/server/worker.h"

namespace inlet::runtime {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// Lets the pipeline's chain own a verifier that the config shares across reloads.
class SharedAuthenticator final : public auth::Authenticator {
 public:
  explicit SharedAuthenticator(std::shared_ptr<auth::Authenticator> inner) : inner_(std::move(inner)) {}
  void authenticate(const auth::AuthRequest& request, auth::AuthCallback& callback) override {
    inner_->authenticate(request, callback);
  }

 private:
  std::shared_ptr<auth::Authenticator> inner_;
};

constexpr std::string_view kTooManyConnections =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 34\r\n"
    "Retry-After: 1\r\nConnection: close\r\n\r\n{\"detail\":\"too many connections\"}";

}  // namespace

struct Server::Impl {
  std::shared_ptr<const NodeConfig> config;
  std::map<std::string, std::unique_ptr<Queue>> queues;  // by edge name
  std::shared_ptr<const Pipeline> pipeline;
  ServerState state;
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;  // one per worker, on its io_context
  asio::io_context control{1};

  std::shared_ptr<const Pipeline> build_pipeline(std::shared_ptr<const NodeConfig> cfg) {
    auto built = std::make_shared<Pipeline>();
    built->config = cfg;
    std::vector<std::unique_ptr<auth::Authenticator>> chain;
    for (const auto& verifier : cfg->verifiers) chain.push_back(std::make_unique<SharedAuthenticator>(verifier));
    if (cfg->make_authenticator) chain.push_back(cfg->make_authenticator());
    built->authenticator = auth::make_chain(std::move(chain));
    for (const EdgeConfig& edge : cfg->edges) {
      std::unique_ptr<Queue>& queue = queues[edge.name];
      if (!queue) queue = edge.queue.open();
      built->edges.push_back(EdgeRoute{edge.name, edge.filter.get(), queue.get()});
    }
    return built;
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
    log_info("listening", {{"address", config->listen_host}, {"port", int{endpoint.port()}},
                           {"threads", static_cast<int>(workers.size())}});
  }

  void accept(Worker& worker, tcp::acceptor& acceptor) {
    acceptor.async_accept(worker.io(), [this, &worker, &acceptor](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        if (state.open_connections.load(std::memory_order_relaxed) >= config->limits.max_connections) {
          error_code ignored;
          socket.non_blocking(true, ignored);
          socket.write_some(asio::buffer(kTooManyConnections.data(), kTooManyConnections.size()), ignored);
          socket.close(ignored);
        } else {
          std::make_shared<Session>(worker, std::move(socket))->start();
        }
      } else {
        log_warn("accept_failed", {{"error", ec.message()}});
      }
      accept(worker, acceptor);
    });
  }

  void close_acceptors() {
    for (std::size_t i = 0; i < acceptors.size(); ++i) {
      asio::post(workers[i]->io(), [acceptor = acceptors[i].get()] {
        error_code ignored;
        acceptor->close(ignored);
      });
    }
  }
};

Server::Server(std::shared_ptr<const NodeConfig> config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->pipeline = impl_->build_pipeline(config);
  unsigned threads = config->threads;
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < threads; ++i) {
    impl_->workers.push_back(std::make_unique<Worker>(impl_->state, impl_->pipeline));
  }
  impl_->open_acceptors();
}

Server::~Server() {
  for (auto& worker : impl_->workers) worker->join();
  impl_->acceptors.clear();
  impl_->pipeline.reset();
  for (auto& [name, queue] : impl_->queues) queue->close();
  impl_->workers.clear();
}

int Server::run() {
  Impl& impl = *impl_;
  for (std::size_t i = 0; i < impl.workers.size(); ++i) {
    impl.accept(*impl.workers[i], *impl.acceptors[i]);
    impl.workers[i]->start_thread();
  }
  asio::signal_set signals(impl.control, SIGINT, SIGTERM);
  asio::steady_timer timer(impl.control);
  Session::Clock::time_point give_up;

  std::function<void()> wait_for_connections = [&] {
    const std::uint32_t open = impl.state.open_connections.load();
    if (open == 0 || Session::Clock::now() >= give_up) {
      if (open != 0) log_warn("drain_timeout", {{"open_connections", static_cast<int>(open)}});
      impl.control.stop();
      return;
    }
    timer.expires_after(std::chrono::milliseconds(20));
    timer.async_wait([&](const error_code& ec) {
      if (!ec) wait_for_connections();
    });
  };

  signals.async_wait([&](const error_code& ec, int signal_number) {
    if (ec) return;
    log_info("draining", {{"signal", signal_number}, {"drain_delay_ms", static_cast<std::int64_t>(impl.config->drain_delay.count())}});
    impl.state.draining.store(true);
    timer.expires_after(impl.config->drain_delay);
    timer.async_wait([&](const error_code& timer_ec) {
      if (timer_ec) return;
      impl.close_acceptors();
      const Limits& limits = impl.config->limits;
      give_up = Session::Clock::now() + limits.header_timeout + limits.body_timeout;
      wait_for_connections();
    });
    // A second signal stops at once.
    signals.async_wait([&](const error_code& again, int) {
      if (!again) impl.control.stop();
    });
  });
  impl.control.run();
  for (auto& worker : impl.workers) worker->join();
  impl.pipeline.reset();
  for (auto& [name, queue] : impl.queues) queue->close();
  log_info("stopped");
  return 0;
}

}  // namespace inlet::runtime
