#include "runtime/delivery/http_client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <openssl/ssl.h>

#include <array>
#include <charconv>
#include <ctime>
#include <vector>

namespace inlet::runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kKeptBody = 512;
constexpr std::uint32_t kMaxResponseHeader = 16 << 10;
constexpr std::size_t kMaxIdle = 64;

// What every request to this endpoint starts with: the request line, Host, User-Agent,
// Content-Type and the configured headers. Built once per endpoint.
std::string fixed_head(const DeliveryEndpointConfig& endpoint) {
  std::string head = "POST " + endpoint.url.target + " HTTP/1.1\r\nHost: " + endpoint.url.host_header +
                     "\r\nUser-Agent: inlet/" INLET_VERSION "\r\nContent-Type: application/json\r\n";
  for (const auto& [name, value] : endpoint.headers) head += name + ": " + value + "\r\n";
  return head;
}

// One request's head: the fixed part, then the tracking id, the signature and the length. Written
// into `out`, whose capacity is kept from one request to the next on a connection.
void write_head(std::string_view fixed, const DeliveryEndpointConfig& endpoint, const OutboundRequest& request,
                std::string& out) {
  out.assign(fixed);
  out.append("X-Inlet-Tracking-Id: ").append(request.tracking_id).append("\r\n");
  if (endpoint.signer) {
    auth::SignatureHeaders signature;
    endpoint.signer->sign(request.body, request.tracking_id, request.timestamp, signature);
    for (std::size_t i = 0; i < signature.count; ++i) {
      out.append(signature.items[i].name).append(": ").append(signature.items[i].text()).append("\r\n");
    }
  }
  char length[24];
  const auto [end, ec] = std::to_chars(length, length + sizeof length, request.body.size());
  out.append("Content-Length: ").append(length, end).append("\r\n\r\n");
}

// Reads one response without storing its fields: the status, Retry-After, keep-alive (the base
// class's), and for a status that is not 2xx the body's first bytes, for the dead letter's error.
// Nothing allocates on a 2xx.
class ResponseReader final : public http::basic_parser<false> {
 public:
  ResponseReader(AttemptResult& result, std::uint64_t max_body) : result_(result) {
    header_limit(kMaxResponseHeader);
    body_limit(max_body);
  }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    result_.status = static_cast<unsigned>(code);
    keep_body_ = code < 200 || code >= 300;
  }
  void on_field_impl(http::field name, beast::string_view, beast::string_view value, beast::error_code&) override {
    if (name == http::field::retry_after) {
      result_.retry_after =
          parse_retry_after(std::string_view(value.data(), value.size()), std::chrono::system_clock::now());
    }
  }
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override { return keep(body); }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    return keep(body);
  }
  void on_finish_impl(beast::error_code&) override {}

  std::size_t keep(beast::string_view body) {
    if (keep_body_ && result_.body.size() < kKeptBody) {
      result_.body.append(body.data(), std::min(body.size(), kKeptBody - result_.body.size()));
    }
    return body.size();
  }

  AttemptResult& result_;
  bool keep_body_ = false;
};

}  // namespace

std::string request_head_text(const DeliveryEndpointConfig& endpoint, const OutboundRequest& request) {
  std::string text;
  write_head(fixed_head(endpoint), endpoint, request, text);
  return text;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (seconds < 0) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  // IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* parsed = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (parsed == nullptr || *parsed != '\0') return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (at <= now) return std::chrono::seconds(0);
  return std::chrono::duration_cast<std::chrono::seconds>(at - now);
}

// One connection: plain or TLS, with its read buffer.
struct Connection {
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::string head;  // the request head being sent
  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

struct EndpointClient::Impl {
  Impl(asio::io_context& context, const DeliveryEndpointConfig& config)
      : io(context), endpoint(config), fixed(fixed_head(config)), resolver(context) {
    if (!endpoint.url.https) return;
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    tls->set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                     asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    tls->set_verify_mode(asio::ssl::verify_peer);
    boost::system::error_code ec;
    if (endpoint.ca_file.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(endpoint.ca_file, ec);
    }
    if (ec) {
      throw std::runtime_error("endpoint '" + endpoint.name + "': cannot load CAs" +
                               (endpoint.ca_file.empty() ? "" : " from " + endpoint.ca_file) + ": " +
                               ec.message());
    }
  }

  asio::awaitable<std::unique_ptr<Connection>> connect(AttemptResult& result);
  template <typename Stream>
  asio::awaitable<bool> exchange(Connection& connection, Stream& stream, std::string_view body,
                                 AttemptResult& result, bool& reusable, bool& stale);

  asio::io_context& io;
  const DeliveryEndpointConfig& endpoint;
  const std::string fixed;  // fixed_head(endpoint)
  tcp::resolver resolver;
  std::unique_ptr<asio::ssl::context> tls;
  std::vector<std::unique_ptr<Connection>> idle;
};

namespace {

void set_failure(AttemptResult& result, std::string_view stage, const boost::system::error_code& ec) {
  result.kind = ec == beast::error::timeout ? AttemptResult::Kind::kTimeout
                                           : AttemptResult::Kind::kConnectionError;
  result.error = std::string(stage) + ": " + (ec == beast::error::timeout ? "timed out" : ec.message());
}

}  // namespace

asio::awaitable<std::unique_ptr<Connection>> EndpointClient::Impl::connect(AttemptResult& result) {
  boost::system::error_code ec;
  const auto token = [&ec] { return asio::redirect_error(asio::use_awaitable, ec); };
  auto connection = std::make_unique<Connection>();
  connection->plain = std::make_unique<beast::tcp_stream>(io.get_executor());
  auto results = co_await resolver.async_resolve(endpoint.url.host, std::to_string(endpoint.url.port), token());
  if (ec) {
    set_failure(result, "resolve " + endpoint.url.host, ec);
    co_return nullptr;
  }
  connection->plain->expires_after(endpoint.timeout);
  co_await connection->plain->async_connect(results, token());
  if (ec) {
    set_failure(result, "connect", ec);
    co_return nullptr;
  }
  connection->plain->socket().set_option(tcp::no_delay(true), ec);
  if (tls) {
    connection->tls =
        std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(*connection->plain), *tls);
    connection->plain.reset();
    SSL* ssl = connection->tls->native_handle();
    boost::system::error_code address_ec;
    asio::ip::make_address(endpoint.url.host, address_ec);
    // SNI is for names only (RFC 6066); an IP literal is checked against the certificate's IPs.
    if (address_ec) SSL_set_tlsext_host_name(ssl, endpoint.url.host.c_str());
    connection->tls->set_verify_callback(asio::ssl::host_name_verification(endpoint.url.host));
    connection->tcp().expires_after(endpoint.timeout);
    co_await connection->tls->async_handshake(asio::ssl::stream_base::client, token());
    if (ec) {
      set_failure(result, "tls handshake", ec);
      co_return nullptr;
    }
  }
  co_return connection;
}

template <typename Stream>
asio::awaitable<bool> EndpointClient::Impl::exchange(Connection& connection, Stream& stream,
                                                     std::string_view body, AttemptResult& result,
                                                     bool& reusable, bool& stale) {
  boost::system::error_code ec;
  const auto token = [&ec] { return asio::redirect_error(asio::use_awaitable, ec); };
  reusable = false;
  stale = false;
  connection.tcp().expires_after(endpoint.timeout);
  const std::array<asio::const_buffer, 2> request{asio::buffer(connection.head), asio::buffer(body.data(), body.size())};
  co_await asio::async_write(stream, request, token());
  if (ec) {
    stale = true;  // a pooled connection the peer closed: nothing of this request was answered
    set_failure(result, "write", ec);
    co_return false;
  }
  ResponseReader reader(result, endpoint.max_response_bytes);
  connection.tcp().expires_after(endpoint.timeout);
  const std::size_t read = co_await http::async_read(stream, connection.buffer, reader, token());
  if (ec && !reader.is_header_done()) {
    stale = read == 0 && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                          ec == asio::error::eof);
    result.status = 0;
    result.retry_after.reset();
    set_failure(result, "read", ec);
    co_return false;
  }
  result.kind = AttemptResult::Kind::kAnswered;
  if (ec) {
    // The head arrived; the body was too long, or did not finish in time. The status stands, and
    // the connection, in an unknown state, is dropped.
    result.body_truncated = ec == http::error::body_limit;
    co_return true;
  }
  reusable = reader.keep_alive();
  co_return true;
}

EndpointClient::EndpointClient(asio::io_context& io, const DeliveryEndpointConfig& endpoint)
    : impl_(std::make_unique<Impl>(io, endpoint)) {}

EndpointClient::~EndpointClient() = default;

void EndpointClient::close_idle() { impl_->idle.clear(); }
std::size_t EndpointClient::idle() const noexcept { return impl_->idle.size(); }

asio::awaitable<AttemptResult> EndpointClient::send(OutboundRequest out) {
  Impl& impl = *impl_;
  AttemptResult result;
  const Clock::time_point started = Clock::now();
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<Connection> connection;
    const bool pooled = !impl.idle.empty();
    if (pooled) {
      connection = std::move(impl.idle.back());
      impl.idle.pop_back();
    } else {
      connection = co_await impl.connect(result);
      if (!connection) break;
    }
    bool reusable = false;
    bool stale = false;
    result = AttemptResult{};
    write_head(impl.fixed, impl.endpoint, out, connection->head);
    bool answered = false;
    if (connection->tls) {
      answered = co_await impl.exchange(*connection, *connection->tls, out.body, result, reusable, stale);
    } else {
      answered = co_await impl.exchange(*connection, *connection->plain, out.body, result, reusable, stale);
    }
    if (answered) {
      if (reusable && impl.idle.size() < kMaxIdle) {
        connection->tcp().expires_never();
        impl.idle.push_back(std::move(connection));
      }
      break;
    }
    if (!(pooled && stale)) break;  // a fresh connection's failure is the try's result
  }
  result.duration = Clock::now() - started;
  co_return result;
}

}  // namespace inlet::runtime
