#include "codecs/decoder.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "allocation_counter.h"
#include "codec_test_util.h"

namespace inlet::codecs {
namespace {

using testing::corpus;

constexpr std::size_t kPadding = 64;

EncodingList list_of(std::initializer_list<std::string_view> names) {
  EncodingList list;
  for (std::string_view name : names) list.items[list.size++] = find_coding(name);
  return list;
}

std::unique_ptr<Decoder> decoder_of(std::string_view name) {
  return find_coding(name)->make_decoder();
}

struct Codec {
  const char* name;
  const char* header;  // as a client would send it
  std::function<std::string(std::string_view)> encode;
  bool has_checksum;  // whether flipping a byte in the middle must be detected
};

std::ostream& operator<<(std::ostream& os, const Codec& codec) { return os << codec.name; }

const Codec kCodecs[] = {
    {"gzip", "gzip", testing::gzip, true},
    {"x_gzip", "X-GZIP", testing::gzip, true},
    {"deflate_zlib", "deflate", testing::zlib_wrap, true},
    {"deflate_raw", "deflate", testing::raw_deflate, false},
    {"br", "br", [](std::string_view d) { return testing::brotli(d); }, false},
    {"zstd", "zstd", [](std::string_view d) { return testing::zstd(d); }, true},
    {"zstd_streamed", "ZSTD", [](std::string_view d) { return testing::zstd(d, 0, false); }, true},
    {"gzip_then_br", "gzip, br",
     [](std::string_view d) { return testing::brotli(testing::gzip(d)); }, false},
    {"br_then_zstd", "br, zstd",
     [](std::string_view d) { return testing::zstd(testing::brotli(d)); }, true},
};

// Every coding of the registry has a row above: a new coding cannot skip these tests.
TEST(EveryCodec, CoversEveryRegisteredCoding) {
  for (const Coding& coding : codings()) {
    bool covered = false;
    for (const Codec& codec : kCodecs) covered |= iequals(codec.header, coding.name);
    EXPECT_TRUE(covered) << coding.name << " has no row in kCodecs";
  }
}

class EveryCodec : public ::testing::TestWithParam<Codec> {
 protected:
  EncodingList encodings() const { return *parse_content_encoding(GetParam().header); }
  std::string encode(std::string_view body) const { return GetParam().encode(body); }
  BodyDecoder decoder_;
};

TEST_P(EveryCodec, RoundTripsEveryCorpusPayloadWithPadding) {
  std::string out;
  for (const auto& payload : corpus()) {
    const std::string encoded = encode(payload.body);
    ASSERT_EQ(decoder_.decode(encoded, encodings(), out, payload.body.size(), kPadding),
              DecodeStatus::kOk)
        << payload.name;
    ASSERT_EQ(out, payload.body) << payload.name;
    EXPECT_GE(out.capacity(), out.size() + kPadding) << payload.name;
  }
}

TEST_P(EveryCodec, RoundTripsTheWholeCorpusAsOneBody) {
  std::string all;
  for (const auto& payload : corpus()) all += payload.body;
  std::string out;
  ASSERT_EQ(decoder_.decode(encode(all), encodings(), out, all.size(), kPadding),
            DecodeStatus::kOk);
  EXPECT_TRUE(out == all);
  EXPECT_GE(out.capacity(), out.size() + kPadding);
}

TEST_P(EveryCodec, TripsTheLimitOneByteBelowTheDecodedSize) {
  std::string out;
  for (const auto& payload : corpus()) {
    const std::string encoded = encode(payload.body);
    const std::size_t size = payload.body.size();
    EXPECT_EQ(decoder_.decode(encoded, encodings(), out, size - 1, kPadding),
              DecodeStatus::kTooLarge)
        << payload.name;
    EXPECT_LE(out.size(), size - 1) << payload.name;
    ASSERT_EQ(decoder_.decode(encoded, encodings(), out, size, kPadding), DecodeStatus::kOk)
        << payload.name;
    EXPECT_EQ(out.size(), size);
  }
}

TEST_P(EveryCodec, DecodesAnEmptyBody) {
  std::string out = "stale";
  ASSERT_EQ(decoder_.decode(encode(""), encodings(), out, 0, kPadding), DecodeStatus::kOk);
  EXPECT_EQ(out, "");
  EXPECT_GE(out.capacity(), kPadding);
}

TEST_P(EveryCodec, StopsADecompressionBombAtTheLimit) {
  constexpr std::size_t kBombSize = std::size_t{1} << 30;
  static const std::string gzip_bomb = testing::deflate_zeros(kBombSize, 16 + 15);
  const std::string_view name = GetParam().name;
  std::string bomb;
  if (name == "deflate_zlib") {
    bomb = testing::deflate_zeros(kBombSize, 15);
  } else if (name == "deflate_raw") {
    bomb = testing::deflate_zeros(kBombSize, -15);
  } else if (name == "br") {
    bomb = testing::brotli_zeros(kBombSize);
  } else if (name == "gzip_then_br") {
    bomb = testing::brotli(gzip_bomb);
  } else if (name == "zstd" || name == "zstd_streamed") {
    bomb = testing::zstd_zeros(kBombSize);
  } else if (name == "br_then_zstd") {
    bomb = testing::zstd(testing::brotli_zeros(kBombSize));
  } else {
    bomb = gzip_bomb;
  }
  ASSERT_LT(bomb.size(), 2u << 20);
  constexpr std::size_t kLimit = 1 << 20;
  std::string out;
  testing::start_counting_allocations();
  const DecodeStatus status = decoder_.decode(bomb, encodings(), out, kLimit, kPadding);
  const testing::AllocationStats allocations = testing::stop_counting_allocations();
  EXPECT_EQ(status, DecodeStatus::kTooLarge);
  EXPECT_LE(out.size(), kLimit);
  EXPECT_LE(out.capacity(), kLimit + kPadding);
  // An intermediate layer of a list may use limit/8 + 4 KiB more (see BodyDecoder::decode).
  const std::size_t bound = encodings().size > 1 ? kLimit + kLimit / 8 + 4096 : kLimit + kPadding;
  EXPECT_LE(allocations.largest, bound + 1);
}

TEST_P(EveryCodec, RejectsATruncatedStream) {
  const std::string& body = corpus().front().body;
  const std::string encoded = encode(body);
  std::string out;
  for (std::size_t cut : {std::size_t{0}, std::size_t{1}, encoded.size() / 2, encoded.size() - 1}) {
    EXPECT_EQ(decoder_.decode(std::string_view(encoded).substr(0, cut), encodings(), out,
                              body.size(), kPadding),
              DecodeStatus::kCorrupt)
        << "cut at " << cut << " of " << encoded.size();
  }
}

TEST_P(EveryCodec, RejectsTrailingBytesAfterTheEndOfTheStream) {
  const std::string& body = corpus().front().body;
  std::string out;
  for (std::string_view garbage :
       {std::string_view("x"), std::string_view("\n"), std::string_view("\0\0\0\0", 4)}) {
    const std::string encoded = encode(body) + std::string(garbage);
    EXPECT_EQ(decoder_.decode(encoded, encodings(), out, body.size(), kPadding),
              DecodeStatus::kCorrupt);
  }
}

TEST_P(EveryCodec, RejectsDataThatWasNeverCompressed) {
  std::string out;
  EXPECT_EQ(decoder_.decode("not compressed at all", encodings(), out, 1 << 20, kPadding),
            DecodeStatus::kCorrupt);
}

// Only the formats that carry a checksum are instantiated (below); the others cannot detect it.
class EveryChecksummedCodec : public EveryCodec {};

TEST_P(EveryChecksummedCodec, DetectsAFlippedByte) {
  const std::string& body = corpus().front().body;
  std::string out;
  std::string encoded = encode(body);
  for (std::size_t at : {encoded.size() / 3, encoded.size() / 2, encoded.size() - 2}) {
    std::string damaged = encoded;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x55);
    EXPECT_NE(decoder_.decode(damaged, encodings(), out, 1 << 20, kPadding), DecodeStatus::kOk)
        << "flipped byte " << at;
  }
}

TEST_P(EveryCodec, IsReusableAfterAFailure) {
  const std::string& body = corpus().back().body;
  const std::string encoded = encode(body);
  std::string out;
  ASSERT_EQ(decoder_.decode(encoded.substr(0, encoded.size() / 2), encodings(), out, body.size(),
                            kPadding),
            DecodeStatus::kCorrupt);
  ASSERT_EQ(decoder_.decode(encoded, encodings(), out, body.size() / 2, kPadding),
            DecodeStatus::kTooLarge);
  ASSERT_EQ(decoder_.decode(encoded, encodings(), out, body.size(), kPadding), DecodeStatus::kOk);
  EXPECT_EQ(out, body);
}

INSTANTIATE_TEST_SUITE_P(Codecs, EveryCodec, ::testing::ValuesIn(kCodecs),
                         [](const auto& info) { return std::string(info.param.name); });

std::vector<Codec> checksummed_codecs() {
  std::vector<Codec> out;
  for (const Codec& codec : kCodecs) {
    if (codec.has_checksum) out.push_back(codec);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Codecs, EveryChecksummedCodec, ::testing::ValuesIn(checksummed_codecs()),
                         [](const auto& info) { return std::string(info.param.name); });

// The bombs are built by splicing deflate blocks; check that they are what they claim to be.
TEST(DeflateZerosHelper, BuildsAValidStreamOfZeros) {
  constexpr std::size_t kSize = 8 << 20;
  const std::string zeros(kSize, '\0');
  std::string out;
  for (int window_bits : {16 + 15, 15, -15}) {
    const std::string bomb = testing::deflate_zeros(kSize, window_bits);
    std::unique_ptr<Decoder> decoder =
        decoder_of(window_bits > 15 ? "gzip" : "deflate");
    out.clear();
    ASSERT_EQ(decoder->decode(bomb, out, kSize), DecodeStatus::kOk) << window_bits;
    EXPECT_TRUE(out == zeros) << window_bits;
  }
}

TEST(GzipDecoder, DecodesConcatenatedMembersAsOneBody) {
  const std::string encoded = testing::gzip("{\"a\":") + testing::gzip("1}");
  std::string out;
  BodyDecoder decoder;
  ASSERT_EQ(decoder.decode(encoded, list_of({"gzip"}), out, 100, kPadding),
            DecodeStatus::kOk);
  EXPECT_EQ(out, "{\"a\":1}");
}

// One gzip member decodes in one libdeflate call, sized by its trailer; a trailer that does not
// match what the data holds is corrupt whichever way it errs, as zlib's streaming path says too.
TEST(GzipDecoder, ATrailerThatDoesNotMatchTheDataIsCorrupt) {
  const std::string body = corpus().front().body;
  std::unique_ptr<Decoder> decoder = decoder_of("gzip");
  for (const int delta : {-1, 1, 1 << 20}) {
    std::string encoded = testing::gzip(body);
    const std::uint32_t lie = static_cast<std::uint32_t>(static_cast<std::int64_t>(body.size()) + delta);
    for (int i = 0; i < 4; ++i) encoded[encoded.size() - 4 + i] = static_cast<char>(lie >> (8 * i));
    std::string out;
    EXPECT_EQ(decoder->decode(encoded, out, 8 << 20, kPadding), DecodeStatus::kCorrupt) << delta;
  }
  std::string out;
  ASSERT_EQ(decoder->decode(testing::gzip(body), out, body.size(), kPadding), DecodeStatus::kOk);
  EXPECT_EQ(out, body);
  EXPECT_GE(out.capacity(), out.size() + kPadding);
}

TEST(ZstdDecoder, DecodesConcatenatedAndSkippableFramesAsOneBody) {
  // A skippable frame: magic 0x184D2A50, a 4-byte length, then that many ignored bytes.
  const std::string skippable = std::string("\x50\x2a\x4d\x18\x03\x00\x00\x00", 8) + "abc";
  const std::string encoded = testing::zstd("{\"a\":") + skippable + testing::zstd("1}");
  std::string out;
  BodyDecoder decoder;
  ASSERT_EQ(decoder.decode(encoded, list_of({"zstd"}), out, 100, kPadding), DecodeStatus::kOk);
  EXPECT_EQ(out, "{\"a\":1}");
}

// RFC 9659: the zstd content coding's window is at most 8 MiB; a frame asking for a 16 MiB
// window would make every worker hold one.
TEST(ZstdDecoder, RefusesAWindowLargerThan8MiBAndAcceptsOneOf8MiB) {
  std::string body;
  for (int i = 0; body.size() < (9u << 20); ++i) body += std::to_string(i * 2654435761u);
  std::string out;
  BodyDecoder decoder;
  EXPECT_EQ(decoder.decode(testing::zstd(body, 24, false), list_of({"zstd"}), out, 32 << 20,
                           kPadding),
            DecodeStatus::kCorrupt);
  ASSERT_EQ(decoder.decode(testing::zstd(body, 23, false), list_of({"zstd"}), out, 32 << 20,
                           kPadding),
            DecodeStatus::kOk);
  EXPECT_TRUE(out == body);
}

TEST(Decoder, AppendsToTheOutputAndCountsItAgainstTheLimit) {
  const std::string encoded = testing::gzip("{}");
  std::unique_ptr<Decoder> decoder = decoder_of("gzip");
  std::string out = "xx";
  EXPECT_EQ(decoder->decode(encoded, out, 3), DecodeStatus::kTooLarge);
  out = "xx";
  ASSERT_EQ(decoder->decode(encoded, out, 4), DecodeStatus::kOk);
  EXPECT_EQ(out, "xx{}");
}

TEST(BodyDecoder, CopiesTheInputForAnEmptyEncodingList) {
  BodyDecoder decoder;
  std::string out = "stale";
  ASSERT_EQ(decoder.decode("{\"a\":1}", EncodingList{}, out, 7, kPadding), DecodeStatus::kOk);
  EXPECT_EQ(out, "{\"a\":1}");
  EXPECT_GE(out.capacity(), out.size() + kPadding);
  EXPECT_EQ(decoder.decode("{\"a\":1}", EncodingList{}, out, 6, kPadding), DecodeStatus::kTooLarge);
}

TEST(BodyDecoder, UndoesTheLastListedCodingFirst) {
  const std::string body = corpus().front().body;
  // Content-Encoding: deflate, gzip, br means deflate was applied first and br last.
  const std::string encoded = testing::brotli(testing::gzip(testing::zlib_wrap(body)));
  BodyDecoder decoder;
  std::string out;
  ASSERT_EQ(decoder.decode(encoded, *parse_content_encoding("deflate, gzip, br"), out, body.size(),
                           kPadding),
            DecodeStatus::kOk);
  EXPECT_EQ(out, body);
  EXPECT_EQ(decoder.decode(encoded, *parse_content_encoding("br, gzip, deflate"), out, body.size(),
                           kPadding),
            DecodeStatus::kCorrupt);
}

TEST(BodyDecoder, HandlesTheSameCodingTwiceAndFourCodings) {
  const std::string body = corpus().back().body;
  const std::string encoded = testing::gzip(testing::brotli(testing::gzip(testing::gzip(body))));
  BodyDecoder decoder;
  std::string out;
  ASSERT_EQ(decoder.decode(encoded, *parse_content_encoding("gzip, gzip, br, gzip"), out,
                           body.size(), kPadding),
            DecodeStatus::kOk);
  EXPECT_EQ(out, body);
  EXPECT_GE(out.capacity(), out.size() + kPadding);
}

TEST(BodyDecoder, ReusesItsBuffersAcrossRequests) {
  BodyDecoder decoder;
  std::string out;
  const std::string& body = corpus().front().body;
  const std::string encoded = testing::gzip(body);
  const EncodingList gzip = list_of({"gzip"});
  ASSERT_EQ(decoder.decode(encoded, gzip, out, 1 << 20, kPadding), DecodeStatus::kOk);
  testing::start_counting_allocations();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(decoder.decode(encoded, gzip, out, 1 << 20, kPadding), DecodeStatus::kOk);
  }
  EXPECT_EQ(testing::stop_counting_allocations().count, 0u);
}

}  // namespace
}  // namespace inlet::codecs
