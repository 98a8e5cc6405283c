// A delivery node's `endpoints:` parsed into DeliveryEndpointConfig: URLs, the defaults, durations
// and rates, signatures, and the errors that name the file, line and key.
#include "runtime/config/delivery_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/config/node_config.h"

namespace inlet::runtime {
namespace {

TEST(EndpointUrl, SplitsSchemeHostPortAndTarget) {
  EndpointUrl url;
  std::string error;
  ASSERT_TRUE(parse_endpoint_url("https://hooks.example.com/in?x=1", url, error)) << error;
  EXPECT_TRUE(url.https);
  EXPECT_EQ(url.host, "hooks.example.com");
  EXPECT_EQ(url.port, 443);
  EXPECT_EQ(url.target, "/in?x=1");
  EXPECT_EQ(url.host_header, "hooks.example.com");

  ASSERT_TRUE(parse_endpoint_url("http://127.0.0.1:8081", url, error)) << error;
  EXPECT_FALSE(url.https);
  EXPECT_EQ(url.port, 8081);
  EXPECT_EQ(url.target, "/");
  EXPECT_EQ(url.host_header, "127.0.0.1:8081");

  ASSERT_TRUE(parse_endpoint_url("http://[::1]:9000?q", url, error)) << error;
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.target, "/?q");
  EXPECT_EQ(url.host_header, "[::1]:9000");
}

TEST(EndpointUrl, RefusesWhatIsNotAPlainHttpUrl) {
  EndpointUrl url;
  for (const auto& [text, reason] : std::vector<std::pair<std::string, std::string>>{
           {"ftp://x/", "must start with http:// or https://"},
           {"https://user:pw@x/", "must not hold a user name or password"},
           {"https://x/#frag", "must not have a #fragment"},
           {"https://:443/", "has no host"},
           {"https://x:0/", "has a port that is not 1 to 65535"},
           {"https://x:99999/", "has a port that is not 1 to 65535"},
           {"https://x:/", "has a port that is not 1 to 65535"},
           {"https://x/a b", "has a space or control character in its path"},
           {"https://[::1/", "has an unclosed ["},
       }) {
    std::string error;
    EXPECT_FALSE(parse_endpoint_url(text, url, error)) << text;
    EXPECT_NE(error.find(reason), std::string::npos) << text << ": " << error;
  }
}

class DeliveryConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("inlet-delivery-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A file with one delivery node whose endpoints are `endpoints` (YAML, indented by 6).
  std::shared_ptr<const NodeConfig> load(const std::string& endpoints) {
    const auto path = dir_ / "node.yaml";
    std::ofstream(path) << "listen: 127.0.0.1:0\n"
                           "edges: [{name: main, queue: {type: log, dir: q}}]\n"
                           "nodes:\n"
                           "  - name: notify\n"
                           "    kind: delivery\n"
                           "    input: main\n"
                           "    dead_letter: {name: dead, queue: {type: log, dir: dead}}\n"
                           "    endpoints:\n"
                        << endpoints;
    return load_node_config(path);
  }
  std::string error_of(const std::string& endpoints) {
    try {
      load(endpoints);
    } catch (const ConfigError& e) {
      const std::string text = e.what();
      return text.substr(text.find("node.yaml"));
    }
    return "no error";
  }

  std::filesystem::path dir_;
};

TEST_F(DeliveryConfigTest, AnEndpointWithAUrlOnlyGetsTheContractDefaults) {
  const auto config = load("      - {name: hook, url: 'http://127.0.0.1:9/in'}\n");
  ASSERT_EQ(config->nodes.size(), 1u);
  const ConsumerNodeConfig& node = config->nodes[0];
  EXPECT_EQ(node.kind, ConsumerKind::kDelivery);
  ASSERT_EQ(node.endpoints.size(), 1u);
  const DeliveryEndpointConfig& e = node.endpoints[0];
  EXPECT_EQ(e.name, "hook");
  EXPECT_EQ(e.url.target, "/in");
  EXPECT_EQ(e.filter, nullptr);
  EXPECT_EQ(e.signer, nullptr);
  EXPECT_EQ(e.timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(e.backoff.max_tries, 3u);
  EXPECT_EQ(e.backoff.max_time, std::chrono::minutes(5));
  EXPECT_EQ(e.circuit_breaker.failures, 5u);
  EXPECT_EQ(e.concurrency, 1u);
  EXPECT_EQ(e.rate_limit, 0);
  EXPECT_EQ(e.max_response_bytes, 64u << 10);
}

TEST_F(DeliveryConfigTest, ReadsEveryKey) {
  std::ofstream(dir_ / "ca.pem") << "not checked here\n";
  ::setenv("INLET_TEST_HOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
  const auto config = load(R"(      - name: indexer
        url: https://indexer.example.com:8443/webhooks
        filter: {json_key_exists: id}
        headers: [{name: x-some-header, value: some value}]
        signature: {scheme: standard_webhooks, secret_env: INLET_TEST_HOOK_SECRET}
        timeout_ms: 2500
        backoff: {max_tries: 7, max_time: 90s, initial_interval_ms: 20, max_interval_ms: 400}
        circuit_breaker: {failures: 9, pause_ms: 1500}
        concurrency: 4
        rate_limit: 600/m
        max_response_bytes: 1024
        tls: {ca_file: ca.pem}
      - {name: once, url: 'http://127.0.0.1:9/', backoff: false, signature: {scheme: servo, secret: s}}
)");
  const auto& endpoints = config->nodes[0].endpoints;
  ASSERT_EQ(endpoints.size(), 2u);
  const DeliveryEndpointConfig& e = endpoints[0];
  EXPECT_NE(e.filter, nullptr);
  ASSERT_EQ(e.headers.size(), 1u);
  EXPECT_EQ(e.headers[0].first, "x-some-header");
  EXPECT_EQ(e.headers[0].second, "some value");
  ASSERT_NE(e.signer, nullptr);
  EXPECT_EQ(e.signer->scheme_name(), "standard_webhooks");
  EXPECT_EQ(e.timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(e.backoff.max_tries, 7u);
  EXPECT_EQ(e.backoff.max_time, std::chrono::seconds(90));
  EXPECT_EQ(e.backoff.initial_interval, std::chrono::milliseconds(20));
  EXPECT_EQ(e.backoff.max_interval, std::chrono::milliseconds(400));
  EXPECT_EQ(e.circuit_breaker.failures, 9u);
  EXPECT_EQ(e.circuit_breaker.pause, std::chrono::milliseconds(1500));
  EXPECT_EQ(e.concurrency, 4u);
  EXPECT_DOUBLE_EQ(e.rate_limit, 10.0);
  EXPECT_EQ(e.rate_limit_text, "600/m");
  EXPECT_EQ(e.max_response_bytes, 1024u);
  EXPECT_EQ(std::filesystem::path(e.ca_file), dir_ / "ca.pem");  // relative to the config file
  EXPECT_EQ(endpoints[1].backoff.max_tries, 1u);
  EXPECT_EQ(endpoints[1].signer->scheme_name(), "servo");
  ::unsetenv("INLET_TEST_HOOK_SECRET");
}

TEST_F(DeliveryConfigTest, BadValuesNameTheFileLineAndKey) {
  const auto expect = [&](const std::string& endpoint, const std::string& message) {
    const std::string error = error_of(endpoint);
    EXPECT_NE(error.find(message), std::string::npos) << "got: " << error;
  };
  expect("      - {name: a, url: 'ftp://x/'}\n",
         "node.yaml:9: nodes[0].endpoints[0].url: must start with http:// or https://");
  expect("      - {url: 'http://x/'}\n", "nodes[0].endpoints[0].name: is required");
  expect("      - {name: a, url: 'http://x/'}\n      - {name: a, url: 'http://y/'}\n",
         "node.yaml:10: nodes[0].endpoints[1].name: duplicate endpoint name 'a'");
  expect("      - {name: a, url: 'http://x/', backoff: {max_time: soon}}\n",
         "nodes[0].endpoints[0].backoff.max_time: must be a positive duration such as 500ms, 30s, 5m or 1h");
  expect("      - {name: a, url: 'http://x/', backoff: true}\n",
         "nodes[0].endpoints[0].backoff: is a mapping {max_tries, max_time}, or false for a single try");
  expect("      - {name: a, url: 'http://x/', rate_limit: fast}\n", "nodes[0].endpoints[0].rate_limit:");
  expect("      - {name: a, url: 'http://x/', concurrency: 0}\n", "nodes[0].endpoints[0].concurrency:");
  expect("      - {name: a, url: 'http://x/', headers: [{name: Content-Length, value: '1'}]}\n",
         "nodes[0].endpoints[0].headers[0].name: 'Content-Length' is set by inlet");
  expect("      - {name: a, url: 'http://x/', headers: [{name: 'bad header', value: v}]}\n",
         "nodes[0].endpoints[0].headers[0].name: is not an HTTP header name");
  expect("      - {name: a, url: 'http://x/', tls: {ca_file: ca.pem}}\n",
         "nodes[0].endpoints[0].tls: is for an https:// url");
  expect("      - {name: a, url: 'https://x/', tls: {ca_file: missing.pem}}\n",
         "nodes[0].endpoints[0].tls.ca_file: no such file");
  expect("      - {name: a, url: 'http://x/', signature: {scheme: servo}}\n",
         "nodes[0].endpoints[0].signature.secret: is required");
  expect("      - {name: a, url: 'http://x/', signature: {scheme: rot13, secret: s}}\n",
         "nodes[0].endpoints[0].signature.scheme:");
  expect("      - {name: a, url: 'http://x/', signature: {scheme: standard_webhooks, secret: plain}}\n",
         "whsec_");
  expect("      - {name: a, url: 'http://x/', signature: {scheme: github, secret: s, header: x-sig}}\n",
         "nodes[0].endpoints[0].signature.header: is for scheme: hmac; github sets its own");
  expect("      - {name: a, url: 'http://x/', retries: 3}\n", "nodes[0].endpoints[0].retries");
}

TEST_F(DeliveryConfigTest, ADeliveryNodeNeedsEndpointsAndADeadLetterAndNoProcessorKeys) {
  const auto write = [&](const std::string& node) {
    const auto path = dir_ / "node.yaml";
    std::ofstream(path) << "listen: 127.0.0.1:0\n"
                           "edges: [{name: main, queue: {type: log, dir: q}}]\n"
                           "nodes:\n"
                        << node;
    try {
      load_node_config(path);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(write("  - {name: n, kind: delivery, input: main, dead_letter: {name: d, queue: {type: log, dir: d}}}\n")
                .find("nodes[0].endpoints: must list at least one endpoint"),
            std::string::npos);
  EXPECT_NE(write("  - {name: n, kind: delivery, input: main, endpoints: [{name: a, url: 'http://x/'}]}\n")
                .find("nodes[0].dead_letter"),
            std::string::npos);
  EXPECT_NE(write("  - {name: n, kind: delivery, input: main, concurrency: 4, endpoints: [{name: a, url: 'http://x/'}],"
                  " dead_letter: {name: d, queue: {type: log, dir: d}}}\n")
                .find("nodes[0].concurrency: is not a delivery node's key"),
            std::string::npos);
}

}  // namespace
}  // namespace inlet::runtime
