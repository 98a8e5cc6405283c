// One HTTP/1.1 connection, plain or TLS. It only does I/O: the TLS handshake (under the header
// deadline), then reads and parses requests with Beast's parser, enforces the header, body and
// idle deadlines, hands each complete request to an Exchange and writes the answer. Requests on a
// connection are handled one at a time; pipelined ones wait in the buffer.
// Lives on its worker's thread; owned by shared_ptr held by pending I/O and a pending exchange.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/ip_range.h"
#include "runtime/response.h"
#include "runtime/server/pipeline.h"
#include "runtime/server/request_head.h"
#include "runtime/server/transport.h"

namespace inlet::runtime {

class Worker;

class Session final : public std::enable_shared_from_this<Session>, public ExchangeOwner {
 public:
  using Clock = std::chrono::steady_clock;
  // Past max_connections on a TLS port: answer the 503 after the handshake, read no request.
  static constexpr bool kRefuse = true;
  // TLS when `tls` is set: the context in force when the connection was accepted, kept for its life.
  Session(Worker& worker, boost::asio::ip::tcp::socket&& socket, std::shared_ptr<const TlsContext> tls,
          bool refuse = false);
  ~Session();
  void start();

  // From the worker's sweep: closes the connection when its deadline has passed, or, once the node
  // has stopped listening (drain), when it has sat idle between requests for kDrainIdleGrace: a
  // client that has just connected or just read an answer gets time to send its next request.
  void check_deadline(Clock::time_point now, bool stop_idle);

  Session* prev = nullptr;  // the worker's intrusive list
  Session* next = nullptr;

 private:
  enum class Phase : std::uint8_t {
    kHandshake, kIdle, kHeader, kBody, kProcessing, kWriting, kShutdown, kClosed
  };

  void on_handshake(const boost::system::error_code& ec);
  void begin_request();
  void parse();
  void read_more();
  void on_read(const boost::system::error_code& ec, std::size_t bytes);
  bool on_header();
  void on_parse_error(const boost::system::error_code& ec);
  void on_message();
  void on_exchange_done(Exchange& exchange) noexcept override;
  // Whether the answer to the current request ends the connection: the request asked for it (or
  // is HTTP/1.0 without keep-alive, or its head is not parsed), or the node is draining.
  bool must_close() const noexcept;
  // Answers `reject`; `close` forces the connection closed (the body cannot be skipped reliably).
  void respond_reject(Reject reject, std::string_view detail, bool close);
  // Counts an answer (status, reject reason, total latency) and writes the sampled access log line.
  void account(int status, std::optional<Reject> reject, std::string_view tracking_id,
               Clock::time_point end) noexcept;
  void send(const Response& response);
  void write_continue();
  void on_write(const boost::system::error_code& ec);
  // Ends the connection. Over TLS an established one first sends close_notify (once no read or
  // write is in flight), so that the client sees a clean end rather than a truncation.
  void close();
  void send_close_notify();
  void close_now();

  Worker& worker_;
  Transport transport_;
  std::string client_host_;
  std::uint16_t client_port_ = 0;
  IpBytes peer_ip_{};  // for trusted_proxies
  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  std::string body_storage_;  // the body string handed to each parser, reused for its capacity
  std::string out_;
  std::string response_body_;  // a refusal's {"detail": ...}, reused
  std::vector<auth::Header> headers_;
  codecs::EncodingList encodings_;
  HeadScratch head_scratch_;
  RequestTarget target_;        // the current request's, split (absolute form)
  std::string target_storage_;  // "/" + query for an absolute form without a path
  Phase phase_ = Phase::kIdle;
  bool header_checked_ = false;
  bool close_after_write_ = false;
  bool continue_after_write_ = false;  // the write was a 100 Continue
  bool read_pending_ = false;
  bool write_pending_ = false;
  bool tls_established_ = false;
  bool refuse_ = false;
  std::string client_cert_;  // the TLS client certificate's subject, when one was verified
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point request_start_{};  // the request's first byte
  Clock::time_point idle_since_{};
  std::uint64_t body_bytes_ = 0;  // the current request's body as sent
  Exchange exchange_;
  std::shared_ptr<Session> hold_;  // keeps the session alive while the exchange waits
};

}  // namespace inlet::runtime
