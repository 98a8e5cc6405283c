// The outbound HTTP/1.1 client of a delivery node: one endpoint's keep-alive pool over Beast, with
// TLS (verification and SNI on; the system's CAs or the endpoint's ca_file), a timeout on each of
// connect, handshake, write and read, and a bounded read of the answer. Runs on one io_context
// thread: an EndpointClient is not thread-safe and needs no lock.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/config/delivery_config.h"

namespace inlet::runtime {

// What one try got back.
struct AttemptResult {
  enum class Kind : std::uint8_t { kAnswered, kTimeout, kConnectionError };
  Kind kind = Kind::kConnectionError;
  unsigned status = 0;                           // kAnswered: the HTTP status
  std::string error;                             // not answered: why ("connect: Connection refused")
  std::optional<std::chrono::seconds> retry_after;  // the answer's Retry-After, when it had one
  std::string body;                              // the answer's first bytes (at most 512)
  bool body_truncated = false;                   // it had more than max_response_bytes
  std::chrono::steady_clock::duration duration{};
};

// The request's variable parts; the URL, headers and signer are the endpoint's.
struct OutboundRequest {
  std::string_view body;
  std::string_view tracking_id;  // X-Inlet-Tracking-Id, and webhook-id for standard_webhooks
  std::int64_t timestamp = 0;    // Unix seconds, signed by standard_webhooks
};

// The exact request head an endpoint would be sent (`inlet delivery sign` prints it).
std::string request_head_text(const DeliveryEndpointConfig& endpoint, const OutboundRequest& request);

class EndpointClient {
 public:
  // Throws std::runtime_error when the TLS context cannot be built (an unreadable CA file).
  EndpointClient(boost::asio::io_context& io, const DeliveryEndpointConfig& endpoint);
  ~EndpointClient();
  EndpointClient(const EndpointClient&) = delete;
  EndpointClient& operator=(const EndpointClient&) = delete;

  // One try: a pooled connection, or a new one when none is idle. A pooled connection the peer
  // closed while idle is replaced once, without counting as a try.
  boost::asio::awaitable<AttemptResult> send(OutboundRequest request);
  // Closes the idle connections (stop).
  void close_idle();
  std::size_t idle() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Delta seconds or an HTTP-date (against `now`); nullopt when neither.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace inlet::runtime
