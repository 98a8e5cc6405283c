#include "runtime/server/edge_queues.h"

#include <gtest/gtest.h>

#include <map>

namespace inlet::runtime {
namespace {

// Counts, per edge name, the queues opened and closed.
struct Ledger {
  std::map<std::string, int> opened;
  std::map<std::string, int> closed;
};

class CountingQueue final : public Queue {
 public:
  CountingQueue(Ledger& ledger, std::string name) : ledger_(ledger), name_(std::move(name)) {
    ++ledger_.opened[name_];
  }
  void store(const Message&, StoreCallback& callback) override { callback.on_stored(StoreStatus::kStored); }
  void close() override {
    if (!closed_) ++ledger_.closed[name_];
    closed_ = true;
  }
  std::string_view type() const noexcept override { return "counting"; }

 private:
  Ledger& ledger_;
  std::string name_;
  bool closed_ = false;
};

EdgeConfig edge(Ledger& ledger, const std::string& name, const std::string& fingerprint = "v1") {
  EdgeConfig e;
  e.name = name;
  e.queue.type = "counting";
  e.queue.fingerprint = fingerprint;
  e.queue.open = [&ledger, name] { return std::make_unique<CountingQueue>(ledger, name); };
  return e;
}

std::shared_ptr<const NodeConfig> config_with(std::vector<EdgeConfig> edges) {
  auto config = std::make_shared<NodeConfig>();
  config->edges = std::move(edges);
  return config;
}

TEST(EdgeQueues, KeepsQueuesAcrossReloadsAndClosesARemovedOneOnceUnused) {
  Ledger ledger;
  MetricsRegistry metrics;
  EdgeQueues queues(metrics);
  auto first = queues.build_pipeline(config_with({edge(ledger, "a"), edge(ledger, "b")}));
  auto second = queues.build_pipeline(config_with({edge(ledger, "a")}));
  EXPECT_EQ(ledger.opened["a"], 1) << "a kept its queue across the reload";
  EXPECT_EQ(first->edges[0].queue, second->edges[0].queue);
  queues.close_retired();
  EXPECT_EQ(ledger.closed["b"], 0) << "an in-flight request still holds the first pipeline";
  first.reset();
  queues.close_retired();
  EXPECT_EQ(ledger.closed["b"], 1);
  EXPECT_EQ(ledger.closed["a"], 0);
  queues.close_all();
  EXPECT_EQ(ledger.closed["a"], 1);
}

TEST(EdgeQueues, RefusesChangedSettingsAndBringsBackARetiredQueueWithTheSameOnes) {
  Ledger ledger;
  MetricsRegistry metrics;
  EdgeQueues queues(metrics);
  auto first = queues.build_pipeline(config_with({edge(ledger, "a"), edge(ledger, "b")}));
  EXPECT_THROW(queues.build_pipeline(config_with({edge(ledger, "a", "v2")})), std::runtime_error);
  auto without_b = queues.build_pipeline(config_with({edge(ledger, "a")}));
  // b is retired but still in use by `first`: changed settings are refused, the same come back.
  EXPECT_THROW(queues.build_pipeline(config_with({edge(ledger, "a"), edge(ledger, "b", "v2")})),
               std::runtime_error);
  auto with_b = queues.build_pipeline(config_with({edge(ledger, "a"), edge(ledger, "b")}));
  EXPECT_EQ(ledger.opened["b"], 1) << "the retired queue came back instead of a second one";
  EXPECT_EQ(with_b->edges[1].queue, first->edges[1].queue);
  EXPECT_EQ(ledger.closed["b"], 0);
}

}  // namespace
}  // namespace inlet::runtime
