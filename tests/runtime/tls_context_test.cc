// TlsContext from real files made by the openssl CLI, and how handshake failures are classified.
#include "runtime/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "runtime/server/transport.h"

namespace inlet::runtime {
namespace {

namespace fs = std::filesystem;

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("inlet-tls-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    make_pair("a", "0x1A2B", 10);
    make_pair("b", "0x3C4D", 10);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A self-signed EC certificate and its key: <name>.crt, <name>.key.
  void make_pair(const std::string& name, const std::string& serial, int days) {
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/O=Acme/CN=" +
        name + ".test' -set_serial " + serial + " -days " + std::to_string(days) + " -keyout '" +
        (dir_ / (name + ".key")).string() + "' -out '" + (dir_ / (name + ".crt")).string() +
        "' 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  TlsSettings settings(const std::string& cert, const std::string& key) const {
    return TlsSettings{dir_ / cert, dir_ / key, {}, ClientAuth::kNone};
  }

  fs::path dir_;
};

TEST_F(TlsContextTest, ReadsTheLeafSerialSubjectAndExpiry) {
  const auto tls = TlsContext::load(settings("a.crt", "a.key"));
  EXPECT_EQ(tls->serial_hex(), "1A2B");
  EXPECT_EQ(tls->subject(), "CN=a.test,O=Acme");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(static_cast<double>(tls->not_after() - now), 10 * 86400.0, 120.0);
}

TEST_F(TlsContextTest, NamesTheSettingAndTheFileAtFault) {
  try {
    TlsContext::load(settings("missing.crt", "a.key"));
    FAIL() << "a missing certificate loaded";
  } catch (const TlsError& e) {
    EXPECT_EQ(e.key(), "cert_file");
    EXPECT_NE(std::string(e.what()).find("missing.crt"), std::string::npos) << e.what();
  }
  try {
    TlsContext::load(settings("a.crt", "a.crt"));
    FAIL() << "a certificate loaded as a key";
  } catch (const TlsError& e) {
    EXPECT_EQ(e.key(), "key_file");
  }
  try {
    TlsContext::load(settings("a.crt", "b.key"));
    FAIL() << "a mismatched pair loaded";
  } catch (const TlsError& e) {
    EXPECT_EQ(e.key(), "key_file");
    EXPECT_NE(std::string(e.what()).find("does not match the certificate"), std::string::npos) << e.what();
  }
  TlsSettings with_ca = settings("a.crt", "a.key");
  with_ca.ca_file = dir_ / "a.key";
  with_ca.client_auth = ClientAuth::kRequire;
  try {
    TlsContext::load(with_ca);
    FAIL() << "a key loaded as a CA";
  } catch (const TlsError& e) {
    EXPECT_EQ(e.key(), "ca_file");
  }
}

TEST_F(TlsContextTest, OnlyTls12AndNewerAreEnabled) {
  const auto tls = TlsContext::load(settings("a.crt", "a.key"));
  EXPECT_EQ(SSL_CTX_get_min_proto_version(tls->context().native_handle()), TLS1_2_VERSION);
}

boost::system::error_code ssl_error(int reason) {
  return {static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, reason)), boost::asio::error::get_ssl_category()};
}

TEST(TlsHandshakeFailure, IsClassifiedForTheMetrics) {
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_HTTP_REQUEST)), TlsHandshake::kPlainHttp);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_UNSUPPORTED_PROTOCOL)), TlsHandshake::kProtocol);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_NO_SHARED_CIPHER)), TlsHandshake::kProtocol);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)),
            TlsHandshake::kClientCertificate);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_CERTIFICATE_VERIFY_FAILED)),
            TlsHandshake::kClientCertificate);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_TLSV1_ALERT_UNKNOWN_CA)), TlsHandshake::kPeerAlert);
  EXPECT_EQ(classify_handshake_failure(boost::asio::error::operation_aborted), TlsHandshake::kTimeout);
  EXPECT_EQ(classify_handshake_failure(boost::asio::error::connection_reset), TlsHandshake::kError);
  EXPECT_EQ(classify_handshake_failure(ssl_error(SSL_R_BAD_PACKET_LENGTH)), TlsHandshake::kError);
}

}  // namespace
}  // namespace inlet::runtime
