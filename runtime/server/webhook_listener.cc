#include "runtime/server/webhook_listener.h"

#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <stdexcept>

#include "runtime/log.h"
#include "runtime/response.h"
#include "runtime/server/session.h"

namespace inlet::runtime {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

const std::string& too_many_connections() {
  static const std::string bytes = closing_answer(Reject::kTooManyConnections);
  return bytes;
}

}  // namespace

WebhookListener::WebhookListener(const std::vector<std::unique_ptr<Worker>>& workers,
                                 const std::string& host, std::uint16_t port)
    : workers_(workers) {
  if (workers_.empty()) return;  // consumers only: nothing listens, and the log must not say it does
  tcp::endpoint endpoint(asio::ip::make_address(host), port);
  for (const auto& worker : workers_) {
    auto acceptor = std::make_unique<tcp::acceptor>(worker->io());
    acceptor->open(endpoint.protocol());
    acceptor->set_option(asio::socket_base::reuse_address(true));
    const int one = 1;
    ::setsockopt(acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    error_code ec;
    acceptor->bind(endpoint, ec);
    if (ec) {
      throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                               ec.message());
    }
    acceptor->listen(asio::socket_base::max_listen_connections);
    endpoint = acceptor->local_endpoint();  // port 0: the others share the chosen port
    acceptors_.push_back(std::move(acceptor));
  }
  open_.store(acceptors_.size());
  log_info("listening", {{"address", host},
                         {"port", int{endpoint.port()}},
                         {"threads", static_cast<int>(workers_.size())}});
}

WebhookListener::~WebhookListener() = default;

void WebhookListener::start() {
  for (std::size_t i = 0; i < workers_.size(); ++i) accept(*workers_[i], *acceptors_[i]);
}

// On the worker's thread.
void WebhookListener::start_session(Worker& worker, tcp::socket socket) {
  const bool over_limit = worker.state().open_connections.load(std::memory_order_relaxed) >=
                          worker.pipeline()->config->limits.max_connections;
  const std::shared_ptr<const TlsContext>& tls = worker.pipeline()->config->tls;
  if (over_limit && tls) {
    // The 503 can only be read after a handshake: the session makes one, answers, and closes.
    std::make_shared<Session>(worker, std::move(socket), tls, Session::kRefuse)->start();
  } else if (over_limit) {
    WorkerMetrics& metrics = worker.tools().metrics;
    metrics.count_status(describe(Reject::kTooManyConnections).status);
    metrics.count_reject(Reject::kTooManyConnections);
    error_code ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(too_many_connections()), ignored);
    socket.close(ignored);
  } else {
    std::make_shared<Session>(worker, std::move(socket), tls)->start();
  }
}

void WebhookListener::accept(Worker& worker, tcp::acceptor& acceptor) {
  acceptor.async_accept(worker.io(), [this, &worker, &acceptor](const error_code& ec,
                                                                tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      start_session(worker, std::move(socket));
    } else {
      log_warn("accept_failed", {{"error", ec.message()}});
    }
    accept(worker, acceptor);
  });
}

void WebhookListener::close() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) {
    asio::post(workers_[i]->io(), [this, worker = workers_[i].get(), acceptor = acceptors_[i].get()] {
      error_code ec;
      acceptor->non_blocking(true, ec);
      while (!ec) {
        tcp::socket socket(worker->io());
        acceptor->accept(socket, ec);
        if (!ec) start_session(*worker, std::move(socket));
      }
      acceptor->close(ec);
      open_.fetch_sub(1, std::memory_order_release);
    });
  }
}

}  // namespace inlet::runtime
