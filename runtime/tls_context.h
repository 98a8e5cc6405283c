// A server TLS context built once from certificate files (`tls:` and `admin_tls:`): TLS 1.2 and
// 1.3 only, a modern cipher list, ALPN http/1.1, a server-side session cache and tickets, and,
// with a CA file, client certificates (mTLS). Immutable once built and shared by every I/O thread:
// OpenSSL allows SSL_new on one SSL_CTX from many threads. A rotation builds a new one (config
// reload); connections already open keep the one they were accepted with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace inlet::runtime {

enum class ClientAuth : std::uint8_t { kNone, kOptional, kRequire };

struct TlsSettings {
  std::filesystem::path cert_file;  // PEM: the certificate, then its chain
  std::filesystem::path key_file;   // PEM, unencrypted
  std::filesystem::path ca_file;    // PEM: the CAs client certificates must chain to; optional
  ClientAuth client_auth = ClientAuth::kNone;
};

// Why a context could not be built; `key` is the setting at fault (cert_file, key_file, ca_file).
class TlsError : public std::runtime_error {
 public:
  TlsError(std::string key, const std::string& reason)
      : std::runtime_error(reason), key_(std::move(key)) {}
  const std::string& key() const noexcept { return key_; }

 private:
  std::string key_;
};

class TlsContext {
 public:
  // Reads the files; throws TlsError naming the file and OpenSSL's reason, or a key that does not
  // match the certificate.
  static std::shared_ptr<const TlsContext> load(const TlsSettings& settings);
  ~TlsContext();

  // Thread-safe for making streams; the streams hold a reference to it.
  boost::asio::ssl::context& context() const noexcept { return *context_; }
  const TlsSettings& settings() const noexcept { return settings_; }
  // The leaf certificate's notAfter, seconds since the epoch (inlet_tls_certificate_expiry_seconds).
  std::int64_t not_after() const noexcept { return not_after_; }
  const std::string& serial_hex() const noexcept { return serial_hex_; }
  const std::string& subject() const noexcept { return subject_; }

 private:
  TlsContext() = default;

  TlsSettings settings_;
  std::unique_ptr<boost::asio::ssl::context> context_;
  std::int64_t not_after_ = 0;
  std::string serial_hex_;
  std::string subject_;
};

// The subject of the peer's verified certificate on an established connection, RFC 2253 style
// ("CN=client,O=Acme"); empty when it sent none. `ssl` is the connection's SSL*.
std::string peer_certificate_subject(void* ssl);

}  // namespace inlet::runtime
