// What a connection reads and writes through: the TCP socket itself, or Beast's TLS stream over
// it (`tls:`). One branch per call rather than a virtual or a template, so that the session is
// written once and the plain path costs a predictable test.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <variant>

#include "runtime/metrics.h"
#include "runtime/tls_context.h"

namespace inlet::runtime {

class Transport {
 public:
  using TlsStream = boost::beast::ssl_stream<boost::asio::ip::tcp::socket>;

  // Plain when `tls` is null.
  Transport(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<const TlsContext> tls)
      : tls_(std::move(tls)), stream_(make(std::move(socket), tls_.get())) {}

  boost::asio::ip::tcp::socket& socket() noexcept {
    if (TlsStream* stream = tls()) return stream->next_layer();
    return std::get<boost::asio::ip::tcp::socket>(stream_);
  }
  TlsStream* tls() noexcept { return std::get_if<TlsStream>(&stream_); }
  const TlsContext* tls_context() const noexcept { return tls_.get(); }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (TlsStream* stream = tls()) return stream->async_read_some(buffers, std::forward<Handler>(handler));
    std::get<boost::asio::ip::tcp::socket>(stream_).async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class Buffers, class Handler>
  void async_write(const Buffers& buffers, Handler&& handler) {
    if (TlsStream* stream = tls()) {
      return boost::asio::async_write(*stream, buffers, std::forward<Handler>(handler));
    }
    boost::asio::async_write(std::get<boost::asio::ip::tcp::socket>(stream_), buffers,
                             std::forward<Handler>(handler));
  }

 private:
  using Stream = std::variant<boost::asio::ip::tcp::socket, TlsStream>;
  static Stream make(boost::asio::ip::tcp::socket&& socket, const TlsContext* tls) {
    if (tls == nullptr) return Stream(std::in_place_type<boost::asio::ip::tcp::socket>, std::move(socket));
    return Stream(std::in_place_type<TlsStream>, std::move(socket), tls->context());
  }

  std::shared_ptr<const TlsContext> tls_;  // declared first: it outlives the stream
  Stream stream_;
};

// Why a handshake failed, from Asio's error (an OpenSSL reason in the SSL category).
TlsHandshake classify_handshake_failure(const boost::system::error_code& error) noexcept;

}  // namespace inlet::runtime
