#include "runtime/server/transport.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

namespace inlet::runtime {

TlsHandshake classify_handshake_failure(const boost::system::error_code& error) noexcept {
  if (error == boost::asio::error::operation_aborted) return TlsHandshake::kTimeout;
  if (error.category() != boost::asio::error::get_ssl_category()) return TlsHandshake::kError;
  const int reason = ERR_GET_REASON(static_cast<unsigned long>(error.value()));
  switch (reason) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return TlsHandshake::kPlainHttp;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_NO_SHARED_GROUPS:
      return TlsHandshake::kProtocol;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_NO_CERTIFICATES_RETURNED:
      return TlsHandshake::kClientCertificate;
    default:
      // An alert the client sent: OpenSSL reports it as SSL_AD_REASON_OFFSET + the alert number.
      return reason >= SSL_AD_REASON_OFFSET ? TlsHandshake::kPeerAlert : TlsHandshake::kError;
  }
}

}  // namespace inlet::runtime
