#include "runtime/config/node_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace inlet::runtime {
namespace {

class NodeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("inlet-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& yaml) {
    const auto path = dir_ / "node.yaml";
    std::ofstream(path) << yaml;
    return path;
  }
  // The message of the ConfigError that loading `yaml` throws.
  std::string error_of(const std::string& yaml) {
    try {
      load_node_config(write(yaml));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  }

  std::filesystem::path dir_;
};

TEST_F(NodeConfigTest, AnEmptyFileGivesTheContractDefaults) {
  const auto config = load_node_config(write("{}\n"));
  EXPECT_EQ(config->name, "inlet");
  EXPECT_EQ(config->send_message_type, "echo.json");
  EXPECT_EQ(config->listen_host, "0.0.0.0");
  EXPECT_EQ(config->listen_port, 8080);
  EXPECT_EQ(config->admin_port, 0);
  EXPECT_EQ(config->limits.max_body_bytes, 1048576u);
  EXPECT_EQ(config->limits.max_decoded_bytes, 8388608u);
  EXPECT_EQ(config->limits.max_header_bytes, 16384u);
  EXPECT_EQ(config->limits.max_connections, 10000u);
  EXPECT_EQ(config->limits.header_timeout.count(), 10000);
  EXPECT_EQ(config->limits.body_timeout.count(), 30000);
  EXPECT_EQ(config->limits.idle_timeout.count(), 60000);
  EXPECT_FALSE(config->unrouted_reject);
  EXPECT_FALSE(config->make_authenticator);
  ASSERT_EQ(config->edges.size(), 1u);
  EXPECT_EQ(config->edges[0].name, "default");
  EXPECT_EQ(config->edges[0].queue.type, "log");
}

TEST_F(NodeConfigTest, ReadsEverySection) {
  const auto config = load_node_config(write(R"(
node: {name: orders, tenant: acme, send_message_type: orders.json}
listen: "[::1]:9000"
admin_listen: 127.0.0.1:9091
threads: 2
log_level: debug
drain_delay_ms: 1500
limits: {max_body_bytes: 10, max_decoded_bytes: 20, header_timeout_ms: 5}
unrouted: reject
edges:
  - name: a
    filter: {json_key_exists: x.y}
    queue: {type: log, dir: ./q, ack: write}
  - name: b
    queue: {type: redis, stream: s}
)"));
  EXPECT_EQ(config->name, "orders");
  EXPECT_EQ(config->tenant, "acme");
  EXPECT_EQ(config->send_message_type, "orders.json");
  EXPECT_EQ(config->listen_host, "::1");
  EXPECT_EQ(config->listen_port, 9000);
  EXPECT_EQ(config->admin_host, "127.0.0.1");
  EXPECT_EQ(config->admin_port, 9091);
  EXPECT_EQ(config->threads, 2u);
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->drain_delay.count(), 1500);
  EXPECT_EQ(config->limits.max_body_bytes, 10u);
  EXPECT_EQ(config->limits.header_timeout.count(), 5);
  EXPECT_TRUE(config->unrouted_reject);
  ASSERT_EQ(config->edges.size(), 2u);
  EXPECT_NE(config->edges[0].filter, nullptr);
  EXPECT_EQ(config->edges[1].filter, nullptr);
  EXPECT_EQ(config->edges[1].queue.type, "redis");
}

TEST_F(NodeConfigTest, UnknownKeysAreErrorsWithFileLineAndPath) {
  const std::string error = error_of("node: {name: x}\nlimits:\n  max_body_byte: 10\n");
  EXPECT_NE(error.find("node.yaml:3: limits.max_body_byte: unknown key"), std::string::npos) << error;
  EXPECT_NE(error_of("listen: 127.0.0.1:80\nlisten_port: 3\n").find("listen_port: unknown key"),
            std::string::npos);
}

TEST_F(NodeConfigTest, BadValuesNameTheKeyAndTheReason) {
  EXPECT_NE(error_of("listen: localhost\n").find("listen: must be host:port"), std::string::npos);
  EXPECT_NE(error_of("listen: 127.0.0.1:99999\n").find("listen: port must be a number"), std::string::npos);
  EXPECT_NE(error_of("threads: many\n").find("threads: must be an integer"), std::string::npos);
  EXPECT_NE(error_of("limits: {max_body_bytes: 0}\n").find("limits.max_body_bytes: must be between"),
            std::string::npos);
  EXPECT_NE(error_of("unrouted: maybe\n").find("unrouted: must be one of accept, reject"), std::string::npos);
  EXPECT_NE(error_of("limits: {max_body_bytes: 100, max_decoded_bytes: 10}\n").find("max_decoded_bytes"),
            std::string::npos);
  EXPECT_NE(error_of("edges: []\n").find("edges: must list at least one edge"), std::string::npos);
  EXPECT_NE(error_of("edges:\n  - {name: a, queue: {type: log}}\n  - {name: a, queue: {type: log}}\n")
                .find("edges[1].name: duplicate edge name 'a'"),
            std::string::npos);
  EXPECT_NE(error_of("edges:\n  - {name: a}\n").find("edges[0].queue: is required"), std::string::npos);
  EXPECT_NE(error_of("edges:\n  - {name: a, queue: {type: sqs}}\n").find("edges[0].queue.type: must be one of"),
            std::string::npos);
}

TEST_F(NodeConfigTest, InvalidYamlAndMissingFilesAreReported) {
  EXPECT_NE(error_of("node: {name: [unclosed\n").find("invalid YAML"), std::string::npos);
  try {
    load_node_config(dir_ / "missing.yaml");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot read the config file"), std::string::npos);
  }
}

}  // namespace
}  // namespace inlet::runtime
