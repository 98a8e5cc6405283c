#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "runtime/config/node_config.h"

namespace inlet::runtime {
namespace {

TEST(LogQueueConfig, AcceptsEveryKeyAndBuildsALogQueueSpec) {
  ConfigMap map(
      YAML::Load(
          "{type: log, dir: /tmp/q, ack: write, segment_bytes: 65536, retention_bytes: 1000000,"
          " retention_ms: 60000, max_in_flight: 16}"),
      "edges[0].queue");
  const QueueSpec spec = parse_log_queue(map);
  EXPECT_EQ(spec.type, "log");
  EXPECT_TRUE(static_cast<bool>(spec.open));
}

TEST(LogQueueConfig, DefaultsNeedOnlyTheType) {
  ConfigMap map(YAML::Load("{type: log}"), "edges[0].queue");
  EXPECT_EQ(parse_log_queue(map).type, "log");
}

TEST(LogQueueConfig, RejectsUnknownKeysWithTheirPath) {
  ConfigMap map(YAML::Load("{type: log, dirr: /tmp/q}"), "edges[0].queue");
  try {
    parse_log_queue(map);
    FAIL() << "accepted an unknown key";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), "edges[0].queue.dirr");
  }
}

TEST(LogQueueConfig, RejectsABadAckModeAndOutOfRangeNumbers) {
  ConfigMap bad_ack(YAML::Load("{type: log, ack: sometimes}"), "q");
  EXPECT_THROW(parse_log_queue(bad_ack), ConfigError);
  ConfigMap zero_budget(YAML::Load("{type: log, max_in_flight: 0}"), "q");
  EXPECT_THROW(parse_log_queue(zero_budget), ConfigError);
  ConfigMap tiny_segment(YAML::Load("{type: log, segment_bytes: 10}"), "q");
  EXPECT_THROW(parse_log_queue(tiny_segment), ConfigError);
}

}  // namespace
}  // namespace inlet::runtime
