// The dedup store on its own: claims, waiters, abandon, the window, max_keys, and the journal read
// back by a second store over the same directory.
#include "runtime/server/dedup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <thread>

#include "tests/runtime/edge_test_support.h"

namespace inlet::runtime {
namespace {

class Waiter final : public DedupWaiter {
 public:
  void on_dedup_resolved() noexcept override { ++calls; }
  int calls = 0;
};

class DedupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.dir = std::filesystem::temp_directory_path() /
                  ("inlet-dedup-" + std::to_string(::getpid()) + "-" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(config_.dir);
    config_.fsync = false;
  }
  void TearDown() override { std::filesystem::remove_all(config_.dir); }

  // Claims `key` first, journals it as the exchange would, and commits it.
  static void store(Dedup& dedup, const std::string& key, const std::string& tracking_id) {
    Waiter waiter;
    char first[32];
    ASSERT_EQ(dedup.claim(key, waiter, first), Dedup::Claim::kFirst);
    const std::time_t now = std::time(nullptr);
    char received_at[40];
    std::strftime(received_at, sizeof received_at, "%Y-%m-%dT%H:%M:%S.000000Z", std::gmtime(&now));
    Message record;
    record.body = key;
    record.tracking_id = tracking_id;
    record.received_at = received_at;
    record.message_type = "inlet.dedup_key";
    testing::Recorder recorder(1);
    dedup.journal().store(record, recorder.at(0));
    ASSERT_TRUE(recorder.wait_for(1, std::chrono::seconds(5)));
    dedup.commit(key, tracking_id);
  }

  DedupConfig config_;
};

const std::string kIdA(32, 'a');
const std::string kIdB(32, 'b');

TEST_F(DedupTest, ALaterClaimGetsTheFirstTrackingIdAndAWaiterIsToldWhenTheFirstEnds) {
  Dedup dedup(config_);
  Waiter first_waiter, second;
  char id[32];
  ASSERT_EQ(dedup.claim("k", first_waiter, id), Dedup::Claim::kFirst);
  EXPECT_EQ(dedup.claim("k", second, id), Dedup::Claim::kWait);
  dedup.commit("k", kIdA);
  EXPECT_EQ(second.calls, 1);
  ASSERT_EQ(dedup.claim("k", second, id), Dedup::Claim::kDuplicate);
  EXPECT_EQ(std::string(id, 32), kIdA);
  dedup.close();
}

TEST_F(DedupTest, AnAbandonedKeyIsFreeAgainAndItsWaitersClaimAgain) {
  Dedup dedup(config_);
  Waiter a, b, c;
  char id[32];
  ASSERT_EQ(dedup.claim("k", a, id), Dedup::Claim::kFirst);
  ASSERT_EQ(dedup.claim("k", b, id), Dedup::Claim::kWait);
  ASSERT_EQ(dedup.claim("k", c, id), Dedup::Claim::kWait);
  dedup.abandon("k");
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(dedup.claim("k", b, id), Dedup::Claim::kFirst);  // the first to come back stores it
  EXPECT_EQ(dedup.claim("k", c, id), Dedup::Claim::kWait);
  dedup.commit("k", kIdB);
  EXPECT_EQ(c.calls, 2);
  dedup.close();
}

TEST_F(DedupTest, MaxKeysDropsTheOldestAndAKeyCommittedAgainIsNotDroppedByItsOldPlace) {
  config_.max_keys = 2;
  Dedup dedup(config_);
  Waiter w;
  char id[32];
  store(dedup, "k1", kIdA);
  store(dedup, "k2", kIdA);
  store(dedup, "k3", kIdB);  // drops k1
  EXPECT_EQ(dedup.claim("k1", w, id), Dedup::Claim::kFirst);
  dedup.abandon("k1");
  EXPECT_EQ(dedup.claim("k2", w, id), Dedup::Claim::kDuplicate);
  EXPECT_EQ(dedup.claim("k3", w, id), Dedup::Claim::kDuplicate);
  std::string metrics;
  dedup.append_metrics(metrics);
  EXPECT_NE(metrics.find("inlet_dedup_evictions_total 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("inlet_dedup_keys 2\n"), std::string::npos) << metrics;
  dedup.close();
}

TEST_F(DedupTest, AKeyPastTheWindowIsClaimedAnewAndItsOldPlaceInTheOrderIsSkipped) {
  config_.window = std::chrono::milliseconds(50);
  config_.max_keys = 4;
  Dedup dedup(config_);
  Waiter w;
  char id[32];
  store(dedup, "k", kIdA);
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  ASSERT_EQ(dedup.claim("k", w, id), Dedup::Claim::kFirst);
  dedup.commit("k", kIdB);
  // More keys push the old reference out first; the key's newer commit stands.
  for (int i = 0; i < 3; ++i) store(dedup, "other" + std::to_string(i), kIdA);
  ASSERT_EQ(dedup.claim("k", w, id), Dedup::Claim::kDuplicate);
  EXPECT_EQ(std::string(id, 32), kIdB);
  dedup.close();
}

TEST_F(DedupTest, ASecondStoreOverTheSameJournalKnowsTheKeys) {
  {
    Dedup dedup(config_);
    store(dedup, "k1", kIdA);
    store(dedup, "k2", kIdB);
    dedup.close();
  }
  Dedup again(config_);
  EXPECT_EQ(again.loaded(), 2u);
  Waiter w;
  char id[32];
  ASSERT_EQ(again.claim("k2", w, id), Dedup::Claim::kDuplicate);
  EXPECT_EQ(std::string(id, 32), kIdB);
  EXPECT_EQ(again.claim("k3", w, id), Dedup::Claim::kFirst);
  again.close();
}

}  // namespace
}  // namespace inlet::runtime
