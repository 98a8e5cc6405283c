#include "codecs/crc32c.h"

#include <gtest/gtest.h>

#include <string>

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

}  // namespace
}  // namespace inlet::codecs
