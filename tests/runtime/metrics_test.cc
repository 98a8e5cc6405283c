#include "runtime/metrics.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace inlet::runtime {
namespace {

using std::chrono::microseconds;

TEST(LatencyHistogram, PutsADurationInTheFirstBucketWhoseBoundIsNotBelowIt) {
  LatencyHistogram h;
  h.observe(microseconds(0));
  h.observe(microseconds(8));            // le 8 µs
  h.observe(microseconds(9));            // le 16 µs
  h.observe(microseconds(16));           // le 16 µs
  h.observe(microseconds(17));           // le 32 µs
  h.observe(std::chrono::seconds(100));  // +Inf
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 2u);
  EXPECT_EQ(h.bucket(2), 1u);
  EXPECT_EQ(h.bucket(LatencyHistogram::kBounds), 1u);
  EXPECT_EQ(h.sum_micros(), 0u + 8 + 9 + 16 + 17 + 100000000);
  EXPECT_DOUBLE_EQ(LatencyHistogram::bound_seconds(0), 8e-6);
}

TEST(MetricsRegistry, SumsEveryWorkersBlockAtScrapeTime) {
  auto a = std::make_unique<WorkerMetrics>();
  auto b = std::make_unique<WorkerMetrics>();
  MetricsRegistry registry;
  registry.add_worker(*a);
  registry.add_worker(*b);
  const std::uint16_t slot = registry.edge_slot("main");
  EXPECT_EQ(registry.edge_slot("main"), slot);
  a->count_status(200);
  b->count_status(200);
  b->count_status(413);
  b->count_reject(Reject::kBodyTooLarge);
  a->edges[slot].sent.add(3);
  a->edges[slot].stored.add(2);
  std::string text;
  registry.render(text);
  EXPECT_NE(text.find("inlet_requests_total{status=\"200\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("inlet_requests_total{status=\"413\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("inlet_rejects_total{reason=\"body_too_large\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("inlet_rejects_total{reason=\"queue_full\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("inlet_edge_in_flight{edge=\"main\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("inlet_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"), std::string::npos);
}

TEST(MetricsRegistry, RunsOutOfEdgeSlotsWithoutFailing) {
  MetricsRegistry registry;
  for (std::size_t i = 0; i < kMaxEdgeSlots; ++i)
    EXPECT_EQ(registry.edge_slot("e" + std::to_string(i)), static_cast<std::uint16_t>(i));
  EXPECT_EQ(registry.edge_slot("one-too-many"), kNoEdgeSlot);
  EXPECT_EQ(registry.edge_slot("e0"), 0);
}

TEST(MetricsRegistry, EscapesEdgeNamesInLabels) {
  EXPECT_EQ(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

}  // namespace
}  // namespace inlet::runtime
