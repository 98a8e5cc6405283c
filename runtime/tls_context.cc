#include "runtime/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509err.h>

#include <algorithm>
#include <boost/asio/ssl/context.hpp>
#include <ctime>

namespace inlet::runtime {
namespace {

namespace ssl = boost::asio::ssl;

// Mozilla's "intermediate" list for TLS 1.2 (forward secrecy, AEAD only). TLS 1.3's suites are
// OpenSSL's defaults, which are all modern.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// A session cache entry is served for this long; the same as nginx's ssl_session_timeout.
constexpr long kSessionTimeoutSeconds = 300;

std::string openssl_reason() {
  std::string reason;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    if (!reason.empty()) reason += "; ";
    reason += text;
  }
  return reason.empty() ? "unknown OpenSSL error" : reason;
}

[[noreturn]] void fail(const std::string& key, const std::filesystem::path& file,
                       const std::string& what) {
  throw TlsError(key, what + " '" + file.string() + "': " + openssl_reason());
}

// ALPN: http/1.1 when offered; a client offering only other protocols (h2) gets no ALPN answer and
// may go on with HTTP/1.1 or give up, rather than a handshake failure.
int select_http11(SSL*, const unsigned char** out, unsigned char* out_length, const unsigned char* in,
                  unsigned int in_length, void*) {
  static constexpr unsigned char kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
  for (unsigned int i = 0; i < in_length;) {
    const unsigned int length = in[i];
    if (i + 1 + length > in_length) break;
    if (length == sizeof kHttp11 && std::equal(kHttp11, kHttp11 + sizeof kHttp11, in + i + 1)) {
      *out = in + i + 1;
      *out_length = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string name_text(X509_NAME* name) {
  if (name == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(length > 0 ? length : 0));
  BIO_free(bio);
  return text;
}

std::int64_t unix_time_of(const ASN1_TIME* time) {
  std::tm parts{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&parts));
}

}  // namespace

TlsContext::~TlsContext() = default;

std::shared_ptr<const TlsContext> TlsContext::load(const TlsSettings& settings) {
  std::shared_ptr<TlsContext> made(new TlsContext());
  made->settings_ = settings;
  made->context_ = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* ctx = made->context_->native_handle();
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    throw TlsError("cert_file", "cannot set the cipher list: " + openssl_reason());
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_http11, nullptr);
  // Resumption: the server-side cache (TLS 1.2 session ids) and tickets (both versions). The id
  // context is required once client certificates are verified, or resumption fails.
  static constexpr unsigned char kSessionContext[] = {'i', 'n', 'l', 'e', 't'};
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(ctx, kSessionTimeoutSeconds);
  // A connection's read and write buffers are released while it is idle.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

  if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert_file.c_str()) != 1) {
    fail("cert_file", settings.cert_file, "cannot load the certificate chain from");
  }
  const bool key_loaded = SSL_CTX_use_PrivateKey_file(ctx, settings.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
  const bool mismatch = key_loaded ? SSL_CTX_check_private_key(ctx) != 1
                                   : ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
  if (!key_loaded && !mismatch) fail("key_file", settings.key_file, "cannot load the private key from");
  if (mismatch) {
    throw TlsError("key_file", "the key in '" + settings.key_file.string() +
                                   "' does not match the certificate in '" +
                                   settings.cert_file.string() + "': " + openssl_reason());
  }
  if (!settings.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, settings.ca_file.c_str(), nullptr) != 1) {
      fail("ca_file", settings.ca_file, "cannot load the CA certificates from");
    }
    // The CAs named in the CertificateRequest, so that a client with several certificates picks.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.ca_file.c_str());
    if (names == nullptr) fail("ca_file", settings.ca_file, "no CA certificate in");
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  switch (settings.client_auth) {
    case ClientAuth::kNone:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      break;
    case ClientAuth::kOptional:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      break;
    case ClientAuth::kRequire:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }

  X509* leaf = SSL_CTX_get0_certificate(ctx);
  made->not_after_ = unix_time_of(X509_get0_notAfter(leaf));
  made->subject_ = name_text(X509_get_subject_name(leaf));
  if (BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), nullptr)) {
    if (char* hex = BN_bn2hex(serial)) {
      made->serial_hex_ = hex;
      OPENSSL_free(hex);
    }
    BN_free(serial);
  }
  return made;
}

std::string peer_certificate_subject(void* ssl) {
  X509* peer = SSL_get0_peer_certificate(static_cast<SSL*>(ssl));
  return peer == nullptr ? std::string() : name_text(X509_get_subject_name(peer));
}

}  // namespace inlet::runtime
