#include "codecs/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace inlet::codecs {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c(0, "", 0), 0u);
}

TEST(Crc32c, MatchesRfc3720Vectors) {
  const std::string zeros(32, '\0');
  const std::string ones(32, '\xFF');
  EXPECT_EQ(crc32c(0, zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(0, ones.data(), ones.size()), 0x62A8AB43u);
}

TEST(Crc32c, ExtendsIncrementally) {
  const std::string data = "The quick brown fox jumps over the lazy dog, twice over.";
  const std::uint32_t whole = crc32c(0, data.data(), data.size());
  for (std::size_t split = 0; split <= data.size(); ++split) {
    const std::uint32_t first = crc32c(0, data.data(), split);
    EXPECT_EQ(crc32c(first, data.data() + split, data.size() - split), whole) << split;
  }
}

// Bit at a time, straight from the polynomial: shares nothing with the code under test.
std::uint32_t reference_crc32c(const std::string& data) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
  }
  return ~crc;
}

// Lengths around every boundary of the three-lane path (3 x 128 and 3 x 1024 bytes) and past
// several long blocks, at every start alignment modulo 8.
TEST(Crc32c, MatchesABitwiseReferenceAcrossLaneBoundaries) {
  std::mt19937 random(7);
  std::string buffer(12000, '\0');
  for (char& c : buffer) c = static_cast<char>(random());
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 420; ++n) lengths.push_back(n);
  for (std::size_t base : {768u, 3072u, 3456u, 6144u, 7168u, 9216u, 11000u}) {
    for (std::size_t n = base - 9; n <= base + 9; ++n) lengths.push_back(n);
  }
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t n : lengths) {
      const std::string data = buffer.substr(offset, n);
      ASSERT_EQ(crc32c(0, buffer.data() + offset, n), reference_crc32c(data)) << n << " at +" << offset;
    }
  }
}

}  // namespace
}  // namespace inlet::codecs
