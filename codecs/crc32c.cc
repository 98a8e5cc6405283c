#include "codecs/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace inlet::codecs {
namespace {

constexpr std::uint32_t kPolynomial = 0x82F63B78u;  // reflected Castagnoli

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPolynomial : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kTable = make_table();

std::uint32_t crc32c_portable(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  while (n--) crc = kTable[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The crc32 instruction takes 3 cycles but can start every cycle, so one dependency chain uses a
// third of it. Long inputs are cut into three lanes that run as independent chains, and the
// lanes' registers are joined by linearity: the register after lane A then lane B is
// shift(a, |B|) ^ b, where shift(a, n) is the register after n zero bytes from a. That shift is
// linear in a, so it is four table lookups, with tables made once per lane length.
struct LaneShift {
  std::array<std::array<std::uint32_t, 256>, 4> table;

  __attribute__((target("sse4.2"))) explicit LaneShift(std::size_t lane_bytes) {
    for (int byte = 0; byte < 4; ++byte) {
      for (std::uint32_t value = 0; value < 256; ++value) {
        std::uint64_t c = value << (8 * byte);
        for (std::size_t i = 0; i < lane_bytes; i += 8) c = _mm_crc32_u64(c, 0);
        table[byte][value] = static_cast<std::uint32_t>(c);
      }
    }
  }

  std::uint32_t operator()(std::uint32_t c) const noexcept {
    return table[0][c & 0xFF] ^ table[1][(c >> 8) & 0xFF] ^ table[2][(c >> 16) & 0xFF] ^ table[3][c >> 24];
  }
};

// Lane lengths: multiples of 8. A long lane amortizes the two joins; the short one serves
// records of a few hundred bytes.
constexpr std::size_t kLongLane = 1024;
constexpr std::size_t kShortLane = 128;

__attribute__((target("sse4.2"))) std::uint64_t crc_lanes(std::uint64_t c, const unsigned char*& p,
                                                         std::size_t& n, std::size_t lane,
                                                         const LaneShift& shift) noexcept {
  while (n >= 3 * lane) {
    std::uint64_t c1 = 0;
    std::uint64_t c2 = 0;
    for (std::size_t i = 0; i < lane; i += 8) {
      std::uint64_t w0, w1, w2;
      std::memcpy(&w0, p + i, 8);
      std::memcpy(&w1, p + lane + i, 8);
      std::memcpy(&w2, p + 2 * lane + i, 8);
      c = _mm_crc32_u64(c, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    c = shift(static_cast<std::uint32_t>(c)) ^ c1;
    c = shift(static_cast<std::uint32_t>(c)) ^ c2;
    p += 3 * lane;
    n -= 3 * lane;
  }
  return c;
}

__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::uint32_t crc,
                                                             const unsigned char* p,
                                                             std::size_t n) noexcept {
  static const LaneShift long_shift(kLongLane);
  static const LaneShift short_shift(kShortLane);
  std::uint64_t c = crc;
  c = crc_lanes(c, p, n, kLongLane, long_shift);
  c = crc_lanes(c, p, n, kShortLane, short_shift);
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}
#endif

}  // namespace

std::uint32_t crc32c(std::uint32_t crc, const void* data, std::size_t size) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__x86_64__)
  static const bool has_sse42 = __builtin_cpu_supports("sse4.2");
  crc = has_sse42 ? crc32c_sse42(crc, p, size) : crc32c_portable(crc, p, size);
#else
  crc = crc32c_portable(crc, p, size);
#endif
  return ~crc;
}

}  // namespace inlet::codecs
