// The NATS edge's `queue:` keys (runtime/config/nats_queue_config.cc): every refusal names its key
// path. The queue itself is tested against real servers in test_nats.py.
#include <gtest/gtest.h>

#include "runtime/config/node_config.h"
#include "tests/runtime/edge_test_support.h"

namespace inlet::runtime {
namespace {

std::string error(const std::string& yaml) { return testing::config_error_path(parse_nats_queue, yaml); }

TEST(NatsQueueConfig, RefusesBadSettingsWithTheKeyPath) {
  const std::string base = "type: nats, stream: S, subject: s.x";
  EXPECT_EQ(error("{type: nats, subject: s.x}"), "edges[0].queue.stream");
  EXPECT_EQ(error("{type: nats, stream: S}"), "edges[0].queue.subject");
  EXPECT_EQ(error("{" + base + ", servers: ['http://x:1']}"), "edges[0].queue.servers");
  EXPECT_EQ(error("{" + base + ", servers: 'nats://a:1,redis://b:2'}"), "edges[0].queue.servers");
  EXPECT_EQ(error("{type: nats, stream: a.b, subject: s.x}"), "edges[0].queue.stream");
  EXPECT_EQ(error("{type: nats, stream: S, subject: 's.>'}"), "edges[0].queue.subject");
  EXPECT_EQ(error("{" + base + ", replicas: 0}"), "edges[0].queue.replicas");
  EXPECT_EQ(error("{" + base + ", replicas: 6}"), "edges[0].queue.replicas");
  EXPECT_EQ(error("{" + base + ", duplicate_window: soon}"), "edges[0].queue.duplicate_window");
  EXPECT_EQ(error("{" + base + ", ack_timeout_ms: 1}"), "edges[0].queue.ack_timeout_ms");
  EXPECT_EQ(error("{" + base + ", password: p}"), "edges[0].queue.password");
  EXPECT_EQ(error("{" + base + ", user: u, token: t}"), "edges[0].queue.credentials_file");
  EXPECT_EQ(error("{" + base + ", credentials_file: /nonexistent/x.creds}"), "edges[0].queue.credentials_file");
  EXPECT_EQ(error("{" + base + ", tls: {ca_file: /nonexistent/ca.pem}}"), "edges[0].queue.tls.ca_file");
  EXPECT_EQ(error("{" + base + ", tls: {cert_file: /etc/passwd}}"), "edges[0].queue.tls.key_file");
  EXPECT_EQ(error("{" + base + ", tls: {verify: false}}"), "edges[0].queue.tls.verify");
  EXPECT_EQ(error("{" + base + ", topic: t}"), "edges[0].queue.topic");
}

TEST(NatsQueueConfig, AcceptsEveryKeyAndBothFormsOfTheServerList) {
  EXPECT_EQ(error("{type: nats, servers: [nats://a:4222, tls://b:4222], stream: S, subject: s.x, "
                  "create: false, replicas: 3, duplicate_window: 10m, max_age: 168h, max_in_flight: 5, "
                  "retry_budget_ms: 100, ack_timeout_ms: 50, ack_wait: 30s, user: u, password: p}"),
            "");
  EXPECT_EQ(error("{type: nats, servers: 'nats://a:4222,nats://b:4222', stream: S, subject: s.x, token: t}"), "");
  const QueueSpec spec = parse_queue(ConfigMap(YAML::Load("{type: nats, stream: S, subject: s.x}"), "q"));
  EXPECT_EQ(spec.type, "nats");
  EXPECT_TRUE(spec.open_consumer);
}

}  // namespace
}  // namespace inlet::runtime
