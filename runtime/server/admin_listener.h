// The admin HTTP listener (`admin_listen`, over TLS with `admin_tls`): answers GET/HEAD for a few paths through one handler,
// on the server's control io_context, so it never competes with the I/O threads. Bounded: at most
// kMaxAdminConnections at once, 8 KiB of headers, no bodies, a 10 s deadline per request and for an
// idle keep-alive connection. Not thread-safe: everything runs on the io_context's one thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/metrics.h"
#include "runtime/tls_context.h"

namespace inlet::runtime {

struct AdminResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

inline constexpr std::size_t kMaxAdminConnections = 64;

class AdminListener {
 public:
  // Called with the path (query string removed); nullopt-like 404 is the handler's choice.
  using Handler = std::function<AdminResponse(std::string_view path)>;
  // The TLS context a new connection gets (null: plain HTTP); asked at each accept, so a reload's
  // certificate serves the next connection.
  using TlsSource = std::function<std::shared_ptr<const TlsContext>()>;

  // Binds and listens; throws std::runtime_error naming the address on failure (start-up only).
  // `handshakes` (may be null) counts TLS handshakes by result; written on `io`'s thread.
  AdminListener(boost::asio::io_context& io, const std::string& host, std::uint16_t port,
                Handler handler, TlsSource tls = {}, TlsHandshakeCounts* handshakes = nullptr);
  ~AdminListener();
  AdminListener(const AdminListener&) = delete;
  AdminListener& operator=(const AdminListener&) = delete;

  void start();
  void stop();
  std::uint16_t port() const noexcept { return port_; }

  struct State;

 private:
  void accept();

  std::shared_ptr<State> state_;
  std::uint16_t port_ = 0;
};

}  // namespace inlet::runtime
