#include "runtime/server/pipeline.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <regex>

#include "runtime/queue/log_queue.h"

namespace inlet::runtime {
namespace {

RequestHead head(std::string_view method, std::string_view target, std::string_view type,
                 std::string_view encoding = {}) {
  return RequestHead{.method = method, .is_post = method == "POST", .target = target,
                     .content_type = type, .content_encoding = encoding};
}

TEST(CheckHead, AppliesTheContractChecksInOrder) {
  codecs::EncodingList encodings;
  EXPECT_EQ(check_head(head("GET", "/x", "text/plain"), encodings), Reject::kNotFound);
  EXPECT_EQ(check_head(head("GET", "/", "text/plain"), encodings), Reject::kMethodNotAllowed);
  EXPECT_EQ(check_head(head("POST", "/", "text/plain", "compress"), encodings), Reject::kUnsupportedMediaType);
  EXPECT_EQ(check_head(head("POST", "/", "application/json", "compress"), encodings), Reject::kUnsupportedEncoding);
  EXPECT_EQ(check_head(head("POST", "/?a=1", "application/cloudevents+json", "gzip, br"), encodings),
            std::nullopt);
  EXPECT_EQ(encodings.size, 2u);
  EXPECT_EQ(check_head(head("POST", "//", "application/json"), encodings), Reject::kNotFound);
  EXPECT_EQ(check_head(head("POST", "/index", "application/json"), encodings), Reject::kNotFound);
}

TEST(RejectTable, EveryReasonHasAStatusALabelAndADetail) {
  for (int i = 0; i < static_cast<int>(Reject::kCount); ++i) {
    const RejectInfo& info = describe(static_cast<Reject>(i));
    EXPECT_FALSE(info.label.empty()) << i;
    if (static_cast<Reject>(i) == Reject::kAuthHttpError) continue;  // the authenticator's status
    EXPECT_GE(info.status, 400) << i;
    EXPECT_FALSE(info.detail.empty()) << i;
    EXPECT_EQ(info.retry_after, info.status == 503) << i;
  }
}

TEST(Attributes, TrackingIdsAreVersion4UuidsIn32Hex) {
  std::mt19937_64 random(42);
  char id[32];
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    make_tracking_id(random, id);
    const std::string text(id, 32);
    EXPECT_TRUE(std::regex_match(text, std::regex("[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}"))) << text;
    seen.insert(text);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Attributes, ReceivedAtIsRfc3339UtcWithMicroseconds) {
  StageTools tools;
  char text[27];
  format_received_at(tools.clock, text);
  EXPECT_TRUE(std::regex_match(std::string(text, 27),
                               std::regex(R"(20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)")))
      << std::string(text, 27);
}

class ExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("inlet-exchange-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    LogQueueOptions options;
    options.dir = dir_;
    options.ack = AckMode::kWrite;
    queue_ = open_log_queue(options);
    auto config = std::make_shared<NodeConfig>();
    config->name = "unit";
    config->limits.max_decoded_bytes = 64;
    config_ = config;
  }
  void TearDown() override {
    queue_->close();
    std::filesystem::remove_all(dir_);
  }

  std::shared_ptr<const Pipeline> pipeline(bool unrouted_reject = false) {
    auto config = std::make_shared<NodeConfig>(*config_);
    config->unrouted_reject = unrouted_reject;
    auto built = std::make_shared<Pipeline>();
    built->config = config;
    built->authenticator = std::make_unique<auth::AcceptAll>();
    if (!unrouted_reject) built->edges.push_back({"main", nullptr, queue_.get()});
    return built;
  }

  const Outcome& run(std::string body, codecs::EncodingList encodings = {}, bool unrouted_reject = false) {
    body_ = std::move(body);
    body_.reserve(body_.size() + simdjson::SIMDJSON_PADDING);
    const ExchangeInput input{.target = "/", .content_type = "application/json", .encodings = encodings,
                              .headers = {}, .raw_body = &body_, .client_host = "127.0.0.1", .client_port = 1,
                              .scheme = "http", .host = {}, .client_cert = {}};
    exchange_.run(pipeline(unrouted_reject), input);
    driver_.wait(exchange_);
    return exchange_.outcome();
  }

  std::filesystem::path dir_;
  std::unique_ptr<Queue> queue_;
  std::shared_ptr<const NodeConfig> config_;
  StageTools tools_;
  BlockingRun driver_;
  Exchange exchange_{driver_, driver_, tools_};
  std::string body_;
};

TEST_F(ExchangeTest, StoresAValidBodyAndAnswers200WithItsTrackingId) {
  const Outcome& outcome = run(R"({"a": [1, 2]})");
  EXPECT_EQ(outcome.status, 200);
  EXPECT_FALSE(outcome.reject);
  LogReader reader(dir_, 0);
  const auto record = reader.next();
  ASSERT_TRUE(record);
  EXPECT_EQ(record->body, R"({"a": [1, 2]})");
  EXPECT_NE(record->attributes.find(std::string(outcome.tracking_id, 32)), std::string::npos);
  EXPECT_NE(record->attributes.find("\"node\":\"unit\""), std::string::npos);
}

TEST_F(ExchangeTest, RejectsInvalidJsonWithWhereAndStoresNothing) {
  const Outcome& outcome = run(R"({"a": })");
  EXPECT_EQ(outcome.status, 400);
  EXPECT_EQ(outcome.reject, Reject::kInvalidJson);
  EXPECT_NE(outcome.detail.find("byte"), std::string::npos) << outcome.detail;
  EXPECT_FALSE(LogReader(dir_, 0).next());
}

TEST_F(ExchangeTest, DecodesGzipAndEnforcesTheDecodedLimit) {
  auto gzip = [](const std::string& text) {
    z_stream z{};
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    std::string out(compressBound(text.size()) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z.avail_in = static_cast<uInt>(text.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return out;
  };
  codecs::EncodingList encodings;
  encodings.items[0] = codecs::find_coding("gzip");
  encodings.size = 1;
  EXPECT_EQ(run(gzip(R"({"small": true})"), encodings).status, 200);
  const Outcome& big = run(gzip("[" + std::string(100, ' ') + "]"), encodings);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.reject, Reject::kDecodedTooLarge);
  EXPECT_EQ(run("not gzip at all", encodings).reject, Reject::kBadEncoding);
}

TEST_F(ExchangeTest, UnroutedRejectAnswers422) {
  const Outcome& outcome = run("{}", {}, /*unrouted_reject=*/true);
  EXPECT_EQ(outcome.status, 422);
  EXPECT_EQ(outcome.reject, Reject::kUnrouted);
}

}  // namespace
}  // namespace inlet::runtime
