#include "runtime/server/admin_listener.h"

#include <openssl/ssl.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <chrono>
#include <optional>
#include <stdexcept>

#include "runtime/log.h"
#include "runtime/server/transport.h"

namespace inlet::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {
constexpr auto kAdminTimeout = std::chrono::seconds(10);
constexpr std::uint32_t kAdminHeaderLimit = 8 * 1024;
}  // namespace

struct AdminListener::State {
  explicit State(asio::io_context& io_context) : io(io_context), acceptor(io_context) {}
  asio::io_context& io;
  tcp::acceptor acceptor;
  Handler handler;
  TlsSource tls;
  TlsHandshakeCounts* handshakes = nullptr;
  std::size_t connections = 0;
  bool stopped = false;
};

namespace {

// Stream: beast::tcp_stream, or Beast's TLS stream over one (admin_tls).
template <class Stream>
class AdminSession : public std::enable_shared_from_this<AdminSession<Stream>> {
 public:
  template <class... Args>
  AdminSession(std::shared_ptr<AdminListener::State> state, std::shared_ptr<const TlsContext> tls,
               Args&&... stream_args)
      : state_(std::move(state)), tls_(std::move(tls)), stream_(std::forward<Args>(stream_args)...) {
    ++state_->connections;
  }
  ~AdminSession() { --state_->connections; }

  void start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kAdminTimeout);
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](const error_code& ec) {
                                self->on_handshake(ec);
                              });
    } else {
      read();
    }
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  void on_handshake(const error_code& ec) {
    const TlsHandshake result =
        !ec ? TlsHandshake::kOk
            : ec == beast::error::timeout ? TlsHandshake::kTimeout : classify_handshake_failure(ec);
    if (state_->handshakes) (*state_->handshakes)[static_cast<std::size_t>(result)].add();
    if (ec) return beast::get_lowest_layer(stream_).close();
    read();
  }

  void read() {
    parser_.emplace();
    parser_->header_limit(kAdminHeaderLimit);
    parser_->body_limit(0);
    beast::get_lowest_layer(stream_).expires_after(kAdminTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](const error_code& ec, std::size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(const error_code& ec) {
    if (ec) return close();
    const auto& request = parser_->get();
    response_.emplace();
    response_->version(11);
    response_->keep_alive(request.keep_alive() && !state_->stopped);
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response_->result(http::status::method_not_allowed);
      response_->set(http::field::allow, "GET, HEAD");
      response_->set(http::field::content_type, "application/json");
      response_->body() = "{\"detail\":\"method not allowed: use GET\"}";
    } else {
      AdminResponse answer = state_->handler(path);
      response_->result(static_cast<unsigned>(answer.status));
      response_->set(http::field::content_type, answer.content_type);
      response_->body() = std::move(answer.body);
    }
    response_->set(http::field::cache_control, "no-store");
    response_->prepare_payload();
    if (request.method() == http::verb::head) response_->body().clear();
    http::async_write(stream_, *response_,
                      [self = this->shared_from_this()](const error_code& write_ec, std::size_t) {
                        self->on_write(write_ec);
                      });
  }

  void on_write(const error_code& ec) {
    if (ec || !response_->keep_alive()) return close();
    read();
  }

  void close() {
    if constexpr (kTls) {
      // Our close_notify only: see Session::send_close_notify.
      SSL_set_shutdown(stream_.native_handle(), SSL_RECEIVED_SHUTDOWN);
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(1));
      stream_.async_shutdown([self = this->shared_from_this()](const error_code&) {
        beast::get_lowest_layer(self->stream_).close();
      });
    } else {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.close();
    }
  }

  std::shared_ptr<AdminListener::State> state_;
  std::shared_ptr<const TlsContext> tls_;  // outlives the stream
  Stream stream_;
  beast::flat_buffer buffer_{kAdminHeaderLimit};
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
};

}  // namespace

AdminListener::AdminListener(asio::io_context& io, const std::string& host, std::uint16_t port,
                             Handler handler, TlsSource tls, TlsHandshakeCounts* handshakes)
    : state_(std::make_shared<State>(io)) {
  state_->handler = std::move(handler);
  state_->tls = std::move(tls);
  state_->handshakes = handshakes;
  error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("admin_listen: bad address '" + host + "': " + ec.message());
  const tcp::endpoint endpoint(address, port);
  tcp::acceptor& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on admin_listen " + host + ":" + std::to_string(port) +
                             ": " + ec.message());
  }
  acceptor.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor.local_endpoint().port();
}

AdminListener::~AdminListener() { stop(); }

void AdminListener::start() {
  log_info("admin_listening", {{"address", state_->acceptor.local_endpoint().address().to_string()},
                               {"port", int{port_}}});
  accept();
}

void AdminListener::stop() {
  state_->stopped = true;
  error_code ignored;
  state_->acceptor.close(ignored);
}

void AdminListener::accept() {
  state_->acceptor.async_accept([this, state = state_](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || state->stopped) return;
    if (!ec) {
      if (state->connections >= kMaxAdminConnections) {
        error_code ignored;
        socket.close(ignored);
      } else {
        std::shared_ptr<const TlsContext> tls = state->tls ? state->tls() : nullptr;
        if (tls) {
          asio::ssl::context& context = tls->context();
          std::make_shared<AdminSession<beast::ssl_stream<beast::tcp_stream>>>(
              state, std::move(tls), std::move(socket), context)
              ->start();
        } else {
          std::make_shared<AdminSession<beast::tcp_stream>>(state, nullptr, std::move(socket))->start();
        }
      }
    }
    accept();
  });
}

}  // namespace inlet::runtime
