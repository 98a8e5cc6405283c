// `nodes:` parsed into ConsumerNodeConfig: inputs by name and by {name, queue}, consumers-only
// files, the defaults, and the errors that name the key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "runtime/config/node_config.h"

namespace inlet::runtime {
namespace {

class ConsumerNodeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("inlet-nodes-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::shared_ptr<const NodeConfig> load(const std::string& yaml) {
    const auto path = dir_ / "node.yaml";
    std::ofstream(path) << yaml;
    return load_node_config(path);
  }
  std::string error_of(const std::string& yaml) {
    try {
      load(yaml);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  }

  std::filesystem::path dir_;
};

constexpr const char* kProcessor =
    "      inline: \"def processor(*, context, message, source):\\n    return message\\n\"\n";

TEST_F(ConsumerNodeConfigTest, AnInputByNameIsAnEdgeOfTheFileAndNodesChain) {
  const auto config = load(std::string(R"(listen: 127.0.0.1:0
edges: [{name: raw, queue: {type: log, dir: raw}}]
nodes:
  - name: second
    kind: router
    input: mid
    router:
      inline: "def bitmapper(*, context, message, source):\n    return 1\n"
    edges: [{name: a, route: 1, queue: {type: log, dir: a}}, {name: b, route: 3, queue: {type: log, dir: b}}]
  - name: first
    kind: processor
    input: raw
    processor:
)") + kProcessor + R"(    edges: [{name: mid, filter: {json_key_exists: id}, queue: {type: log, dir: mid}}]
    dead_letter: {name: dead, queue: {type: log, dir: dead}}
)");
  EXPECT_TRUE(config->webhook_node);
  ASSERT_EQ(config->nodes.size(), 2u);
  const ConsumerNodeConfig& second = config->nodes[0];
  EXPECT_EQ(second.kind, ConsumerKind::kRouter);
  EXPECT_EQ(second.input, "mid");  // a later node's output
  EXPECT_EQ(second.input_queue.type, "log");
  EXPECT_EQ(second.edges[1].route, 3u);
  const ConsumerNodeConfig& first = config->nodes[1];
  EXPECT_EQ(first.concurrency, 1u);
  EXPECT_EQ(first.max_attempts, 3u);
  EXPECT_EQ(first.retry_backoff.count(), 100);
  EXPECT_EQ(first.retry_backoff_max.count(), 10000);
  EXPECT_EQ(first.send_message_type, "echo.json");
  EXPECT_TRUE(first.edges[0].filter);
  ASSERT_TRUE(first.dead_letter);
  std::vector<std::string> written;
  for (const EdgeConfig* edge : written_edges(*config)) written.push_back(edge->name);
  EXPECT_EQ(written, (std::vector<std::string>{"raw", "a", "b", "mid", "dead"}));
  EXPECT_FALSE(config->nodes_fingerprint.empty());
}

TEST_F(ConsumerNodeConfigTest, NodesWithoutListenRunConsumersOnly) {
  const auto config = load(std::string(R"(nodes:
  - name: copy
    kind: processor
    input: {name: theirs, queue: {type: redis, url: "redis://127.0.0.1:1", stream: s}}
    concurrency: 8
    processor:
)") + kProcessor + "    edges: [{name: out, queue: {type: log, dir: out}}]\n");
  EXPECT_FALSE(config->webhook_node);
  EXPECT_TRUE(config->edges.empty());
  EXPECT_EQ(config->nodes[0].input, "theirs");
  EXPECT_EQ(config->nodes[0].input_queue.type, "redis");
  EXPECT_TRUE(config->nodes[0].input_queue.open_consumer);
  EXPECT_EQ(config->nodes[0].concurrency, 8u);
}

TEST_F(ConsumerNodeConfigTest, ErrorsNameTheKey) {
  const std::string head = "listen: 127.0.0.1:0\nedges: [{name: raw, queue: {type: log, dir: raw}}]\nnodes:\n";
  const std::string body = std::string("    processor:\n") + kProcessor +
                           "    edges: [{name: out, queue: {type: log, dir: out}}]\n";
  EXPECT_NE(error_of(head + "  - {name: n, input: raw}\n").find("nodes[0].kind: is required"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - name: bad/name\n    kind: processor\n    input: raw\n" + body)
                .find("nodes[0].name: must be 1 to 128 letters"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - name: n\n    kind: processor\n    input: out\n" + body)
                .find("would read its own output"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - name: n\n    kind: processor\n    input: raw\n    concurrency: 0\n" + body)
                .find("nodes[0].concurrency"),
            std::string::npos);
  EXPECT_NE(error_of(head + "  - name: n\n    kind: processor\n    input: raw\n    router: {inline: x}\n" + body)
                .find("nodes[0].router: is for kind: router"),
            std::string::npos);
  EXPECT_NE(error_of(std::string("nodes:\n  - name: n\n    kind: processor\n    input: raw\n") + body +
                     "edges: [{name: raw, queue: {type: log, dir: raw}}]\n")
                .find("edges: are the webhook node's outputs"),
            std::string::npos);
}

}  // namespace
}  // namespace inlet::runtime
