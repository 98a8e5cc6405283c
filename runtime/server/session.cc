#include "runtime/server/session.h"

#include <openssl/ssl.h>

#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>
#include <limits>

#include "codecs/json_validator.h"
#include "runtime/log.h"
#include "runtime/response.h"
#include "runtime/server/forwarded.h"
#include "runtime/server/worker.h"

namespace inlet::runtime {

namespace http = boost::beast::http;
using boost::system::error_code;

namespace {

constexpr std::size_t kReadChunk = 64 * 1024;
// After an error answer on a connection whose body was not read, how long we keep reading and
// discarding so the client sees the answer instead of a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr auto kDrainIdleGrace = std::chrono::milliseconds(500);
// How long sending our TLS close_notify may take before the socket is closed regardless.
constexpr auto kCloseNotifyGrace = std::chrono::seconds(1);

}  // namespace

Session::Session(Worker& worker, boost::asio::ip::tcp::socket&& socket,
                 std::shared_ptr<const TlsContext> tls, bool refuse)
    : worker_(worker),
      transport_(std::move(socket), std::move(tls)),
      refuse_(refuse),
      exchange_(*this, worker, worker.tools()) {
  error_code ec;
  const auto remote = transport_.socket().remote_endpoint(ec);
  if (!ec) {
    client_host_ = remote.address().to_string();
    client_port_ = remote.port();
    if (remote.address().is_v4()) {
      const auto v4 = remote.address().to_v4().to_bytes();
      peer_ip_[10] = peer_ip_[11] = 0xFF;
      std::copy(v4.begin(), v4.end(), peer_ip_.begin() + 12);
    } else {
      const auto v6 = remote.address().to_v6().to_bytes();
      std::copy(v6.begin(), v6.end(), peer_ip_.begin());
    }
  }
  transport_.socket().set_option(boost::asio::ip::tcp::no_delay(true), ec);
  worker_.add(*this);
  worker_.state().open_connections.fetch_add(1, std::memory_order_relaxed);
  worker_.tools().metrics.connections_accepted.add();
}

Session::~Session() {
  if (phase_ != Phase::kClosed) worker_.remove(*this);
  worker_.state().open_connections.fetch_sub(1, std::memory_order_relaxed);
}

void Session::start() {
  Transport::TlsStream* tls = transport_.tls();
  if (tls == nullptr) return begin_request();
  phase_ = Phase::kHandshake;
  request_start_ = Clock::now();
  deadline_ = request_start_ + worker_.pipeline()->config->limits.header_timeout;
  read_pending_ = write_pending_ = true;  // the handshake does both
  tls->async_handshake(boost::asio::ssl::stream_base::server,
                       [self = shared_from_this()](const error_code& ec) { self->on_handshake(ec); });
}

void Session::on_handshake(const error_code& ec) {
  read_pending_ = write_pending_ = false;
  if (phase_ == Phase::kClosed) return;  // the deadline closed it, and counted the timeout
  TlsHandshakeCounts& counts = worker_.tools().metrics.tls_handshakes;
  if (ec) {
    const TlsHandshake result = classify_handshake_failure(ec);
    counts[static_cast<std::size_t>(result)].add();
    if (result == TlsHandshake::kPlainHttp) {
      static const std::string answer = closing_answer(Reject::kPlainHttpOnTlsPort);
      WorkerMetrics& metrics = worker_.tools().metrics;
      metrics.count_status(describe(Reject::kPlainHttpOnTlsPort).status);
      metrics.count_reject(Reject::kPlainHttpOnTlsPort);
      error_code ignored;
      transport_.socket().non_blocking(true, ignored);
      transport_.socket().write_some(boost::asio::buffer(answer), ignored);
    }
    return close_now();
  }
  counts[static_cast<std::size_t>(TlsHandshake::kOk)].add();
  tls_established_ = true;
  if (transport_.tls_context()->settings().client_auth != ClientAuth::kNone) {
    client_cert_ = peer_certificate_subject(transport_.tls()->native_handle());
  }
  if (refuse_) return respond_reject(Reject::kTooManyConnections, {}, true);
  begin_request();
}

void Session::begin_request() {
  body_storage_.clear();
  parser_.emplace(std::piecewise_construct, std::make_tuple(std::move(body_storage_)));
  const Limits& limits = worker_.pipeline()->config->limits;
  parser_->header_limit(limits.max_header_bytes);
  // The size is checked after the head, so that the path, method and media type answer first.
  parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
  parser_->eager(false);
  header_checked_ = false;
  phase_ = Phase::kIdle;
  body_bytes_ = 0;
  idle_since_ = Clock::now();
  deadline_ = idle_since_ + limits.idle_timeout;
  parse();
}

void Session::parse() {
  const Limits& limits = worker_.pipeline()->config->limits;
  for (;;) {
    if (buffer_.size() == 0) return read_more();
    if (phase_ == Phase::kIdle) {
      phase_ = Phase::kHeader;
      request_start_ = Clock::now();
      deadline_ = request_start_ + limits.header_timeout;
    }
    error_code ec;
    const std::size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more) return read_more();
    if (ec) return on_parse_error(ec);
    if (!header_checked_ && parser_->is_header_done()) {
      if (!on_header()) return;
      // A bodiless request (Content-Length: 0) is complete with its head: do not wait for bytes.
      if (parser_->is_done()) return on_message();
      continue;
    }
    if (parser_->is_done()) return on_message();
    if (used == 0) return read_more();
  }
}

void Session::read_more() {
  if (read_pending_ || phase_ == Phase::kClosed) return;
  read_pending_ = true;
  transport_.async_read_some(buffer_.prepare(kReadChunk),
                             [self = shared_from_this()](const error_code& ec, std::size_t bytes) {
                               self->on_read(ec, bytes);
                             });
}

void Session::on_read(const error_code& ec, std::size_t bytes) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kShutdown) return send_close_notify();  // close() cancelled this read
  if (ec) return close();
  worker_.tools().metrics.received_bytes.add(bytes);
  buffer_.commit(bytes);
  if (phase_ == Phase::kWriting) {
    // Lingering after an error answer: discard what the client still sends.
    buffer_.consume(buffer_.size());
    return read_more();
  }
  parse();
}

bool Session::on_header() {
  header_checked_ = true;
  auto& request = parser_->get();
  const HeadVerdict verdict = check_parsed_head(*parser_, head_scratch_, encodings_,
                                                !worker_.pipeline()->config->form_param.empty());
  if (verdict.reject) {
    respond_reject(*verdict.reject, verdict.detail, verdict.bad_framing || !parser_->is_done());
    return false;
  }
  target_ = verdict.target;
  const Limits& limits = worker_.pipeline()->config->limits;
  const auto length = parser_->content_length();
  if (length && *length > limits.max_body_bytes) {
    respond_reject(Reject::kBodyTooLarge, {}, true);
    return false;
  }
  parser_->body_limit(limits.max_body_bytes);
  if (length) request.body().reserve(*length + codecs::kJsonPadding);
  parser_->eager(true);
  phase_ = Phase::kBody;
  deadline_ = Clock::now() + limits.body_timeout;
  if (!parser_->is_done() && buffer_.size() == 0 && codecs::iequals(request[http::field::expect], "100-continue")) {
    write_continue();
    return false;
  }
  return true;
}

void Session::on_parse_error(const error_code& ec) {
  if (ec == http::error::header_limit) {
    // To answer 404/405 first we need the request line. Beast consumes it from the buffer once it
    // parses it (then it is in the parser); if the line itself was too long, it is still buffered.
    const auto& parsed = parser_->get();
    std::string_view method = parsed.method_string();
    std::string_view target = parsed.target();
    if (target.empty()) {
      const std::string_view data(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      const std::string_view line = data.substr(0, data.find("\r\n"));
      const std::size_t space = line.find(' ');
      method = line.substr(0, space);
      target = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
      target = target.substr(0, target.find(' '));
    }
    const RequestHead head{.method = method, .is_post = method == "POST",
                           .target = path_for_check(split_target(target)), .content_type = {},
                           .content_encoding = {}, .accept_form = false};
    codecs::EncodingList ignored;
    const auto reject = check_head(head, ignored);
    if (reject == Reject::kNotFound || reject == Reject::kMethodNotAllowed) {
      return respond_reject(*reject, {}, true);
    }
    return respond_reject(Reject::kHeadersTooLarge, {}, true);
  }
  if (ec == http::error::body_limit) return respond_reject(Reject::kBodyTooLarge, {}, true);
  respond_reject(Reject::kBadFraming, ec.message(), true);
}

void Session::on_message() {
  phase_ = Phase::kProcessing;
  deadline_ = Clock::time_point::max();
  const Clock::time_point body_done = Clock::now();
  WorkerMetrics& metrics = worker_.tools().metrics;
  metrics.stage(Stage::kRead).observe(body_done - request_start_);
  auto& request = parser_->get();
  body_bytes_ = request.body().size();
  metrics.body_bytes.add(body_bytes_);
  headers_.clear();
  for (const auto& field : request) {
    // RFC 9112 §3.2.2: with an absolute-form target its authority is the host, not Host.
    const bool host = target_.absolute && field.name() == http::field::host;
    headers_.push_back({field.name_string(), host ? target_.authority : field.value()});
  }
  std::string_view origin_target = target_.path_and_query;
  if (target_.lacks_path()) {
    target_storage_.assign("/");
    target_storage_.append(origin_target);
    origin_target = target_storage_;
  }
  ForwardedOrigin origin = forwarded_origin(worker_.pipeline()->config->trusted_proxies, peer_ip_,
                                            client_host_, client_port_, headers_);
  if (transport_.tls() != nullptr) origin.scheme = "https";  // whatever a proxy says, it was TLS
  const ExchangeInput input{
      .target = origin_target,
      .content_type = request[http::field::content_type],
      .encodings = encodings_,
      .headers = headers_,
      .raw_body = &request.body(),
      .client_host = origin.client_host,
      .client_port = origin.client_port,
      .scheme = origin.scheme,
      .host = origin.host,
      .client_cert = client_cert_,
      .body_done = body_done,
  };
  hold_ = shared_from_this();
  exchange_.run(worker_.pipeline(), input);
}

void Session::on_exchange_done(Exchange& exchange) noexcept {
  const std::shared_ptr<Session> self = std::move(hold_);
  const Outcome& outcome = exchange.outcome();
  account(outcome.status, outcome.reject,
          outcome.reject ? std::string_view() : std::string_view(outcome.tracking_id, 32),
          exchange.finished_at());
  Response response;
  char accepted[50];
  if (outcome.reject) {
    response = response_for(*outcome.reject);
    response.status = outcome.status;  // the authenticator may have chosen it
    response_body_.clear();
    if (outcome.detail_is_json) {
      append_detail_json(response_body_, outcome.detail);
    } else {
      append_detail(response_body_, outcome.detail);
    }
    response.body = response_body_;
    response.extra_headers = outcome.headers;
  } else {
    std::memcpy(accepted, "{\"tracking_id\":\"", 16);
    std::memcpy(accepted + 16, outcome.tracking_id, 32);
    std::memcpy(accepted + 48, "\"}", 2);
    response.body = std::string_view(accepted, sizeof accepted);
  }
  response.close = must_close();
  send(response);
}

bool Session::must_close() const noexcept {
  // RFC 9112 §9.6: after Connection: close, or HTTP/1.0 without keep-alive, no further request on
  // this connection is read, whatever is already buffered behind this one.
  const bool keep_alive = parser_ && parser_->is_header_done() && parser_->get().keep_alive();
  return !keep_alive || worker_.state().draining.load(std::memory_order_relaxed);
}

void Session::respond_reject(Reject reject, std::string_view detail, bool close) {
  Response response = response_for(reject);
  account(response.status, reject, {}, Clock::now());
  response_body_.clear();
  append_detail(response_body_, detail.empty() ? describe(reject).detail : detail);
  response.body = response_body_;
  response.close = close || must_close();
  send(response);
}

void Session::account(int status, std::optional<Reject> reject, std::string_view tracking_id,
                      Clock::time_point end) noexcept {
  StageTools& tools = worker_.tools();
  tools.metrics.count_status(status);
  if (reject) tools.metrics.count_reject(*reject);
  tools.metrics.stage(Stage::kTotal).observe(end - request_start_);
  const double sample = worker_.pipeline()->config->access_log_sample;
  if (sample <= 0 || static_cast<double>(tools.random() >> 11) * 0x1.0p-53 >= sample) return;
  tools.metrics.access_logged.add();
  const double duration_ms = std::chrono::duration<double, std::milli>(end - request_start_).count();
  // Never the body, headers or user: those may hold secrets.
  log_info("access", {{"status", status},
                      {"reason", reject ? describe(*reject).label : std::string_view()},
                      {"bytes", body_bytes_},
                      {"duration_ms", duration_ms},
                      {"tracking_id", tracking_id},
                      {"client", client_host_}});
}

void Session::send(const Response& response) {
  if (phase_ == Phase::kClosed) return;
  write_http(response, out_);
  close_after_write_ = response.close;
  continue_after_write_ = false;
  phase_ = Phase::kWriting;
  deadline_ = Clock::now() + worker_.pipeline()->config->limits.body_timeout;
  write_pending_ = true;
  transport_.async_write(boost::asio::buffer(out_),
                         [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_write(ec); });
}

void Session::write_continue() {
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  continue_after_write_ = true;
  write_pending_ = true;
  transport_.async_write(boost::asio::buffer(kContinue.data(), kContinue.size()),
                         [self = shared_from_this()](const error_code& ec, std::size_t) { self->on_write(ec); });
}

void Session::on_write(const error_code& ec) {
  write_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kShutdown) return close_now();
  if (ec) return close();
  if (continue_after_write_) {
    continue_after_write_ = false;
    return parse();
  }
  if (close_after_write_) {
    if (!parser_ || parser_->is_done()) return close();  // no parser: the refusal read nothing
    // The client may still be sending a body we refused: stop sending, read and discard it for a
    // while, so it gets to read our answer rather than a connection reset.
    // Over TLS too: a close_notify here would end our reading as well. The client has the
    // whole answer, framed by its Content-Length.
    error_code ignored;
    transport_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    deadline_ = Clock::now() + kLingerTime;
    buffer_.consume(buffer_.size());
    return read_more();
  }
  body_storage_ = std::move(parser_->get().body());
  parser_.reset();
  begin_request();
}

void Session::check_deadline(Clock::time_point now, bool stop_idle) {
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kHandshake && now >= deadline_) {
    worker_.tools().metrics.tls_handshakes[static_cast<std::size_t>(TlsHandshake::kTimeout)].add();
    return close_now();
  }
  if (phase_ == Phase::kShutdown) {
    if (now >= deadline_) close_now();  // the client does not read our close_notify
    return;
  }
  if (now >= deadline_ ||
      (stop_idle && phase_ == Phase::kIdle && buffer_.size() == 0 && now - idle_since_ >= kDrainIdleGrace)) {
    close();
  }
}

void Session::close() {
  if (phase_ == Phase::kClosed || phase_ == Phase::kShutdown) return;
  if (!tls_established_ || write_pending_) return close_now();
  phase_ = Phase::kShutdown;
  deadline_ = Clock::now() + kCloseNotifyGrace;
  if (!read_pending_) return send_close_notify();
  error_code ignored;
  transport_.socket().cancel(ignored);  // on_read sends it
}

void Session::send_close_notify() {
  // Marking the peer's close_notify as received makes SSL_shutdown send ours and finish, rather
  // than wait for the client's, which many never send.
  SSL_set_shutdown(transport_.tls()->native_handle(), SSL_RECEIVED_SHUTDOWN);
  write_pending_ = true;
  transport_.tls()->async_shutdown([self = shared_from_this()](const error_code& ec) {
    self->on_write(ec);
  });
}

void Session::close_now() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  worker_.remove(*this);
  error_code ignored;
  transport_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  transport_.socket().close(ignored);
}

}  // namespace inlet::runtime
