#include "auth/verifier_common.h"

#include <gtest/gtest.h>

#include <string>

namespace inlet::auth {
namespace {

std::string hex(std::string_view in, std::size_t capacity = 64) {
  unsigned char out[64];
  const std::ptrdiff_t n = decode_hex(in, out, capacity);
  return n < 0 ? "<error>"
               : std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

std::string b64(std::string_view in, std::size_t capacity = 64) {
  unsigned char out[64];
  const std::ptrdiff_t n = decode_base64(in, out, capacity);
  return n < 0 ? "<error>"
               : std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

TEST(DecodeHex, TakesBothCases) {
  EXPECT_EQ(hex("4a4B"), "JK");
  EXPECT_EQ(hex(""), "");
}

TEST(DecodeHex, RefusesOddLengthBadDigitsAndOverflow) {
  EXPECT_EQ(hex("abc"), "<error>");
  EXPECT_EQ(hex("zz"), "<error>");
  EXPECT_EQ(hex("aabb", 1), "<error>");
}

TEST(DecodeBase64, DecodesPaddedAndUnpaddedInput) {
  EXPECT_EQ(b64("TWFu"), "Man");
  EXPECT_EQ(b64("TWE="), "Ma");
  EXPECT_EQ(b64("TWE"), "Ma");
  EXPECT_EQ(b64("TQ=="), "M");
  EXPECT_EQ(b64("TQ"), "M");
  EXPECT_EQ(b64("dXNlcjpwYXNz"), "user:pass");
}

TEST(DecodeBase64, TakesTheUrlSafeAlphabet) {
  EXPECT_EQ(b64("-_8="), b64("+/8="));
  EXPECT_NE(b64("-_8="), "<error>");
}

TEST(DecodeBase64, RefusesBadCharactersPaddingAndOverflow) {
  EXPECT_EQ(b64("TW!u"), "<error>");
  EXPECT_EQ(b64("T"), "<error>");
  EXPECT_EQ(b64("TQ="), "<error>");
  EXPECT_EQ(b64("T==="), "<error>");
  EXPECT_EQ(b64("=="), "<error>");
  EXPECT_EQ(b64("TWFu", 2), "<error>");
}

TEST(ParseUnixSeconds, TakesDigitsOnly) {
  std::int64_t s = 0;
  EXPECT_TRUE(parse_unix_seconds("1614265330", s));
  EXPECT_EQ(s, 1614265330);
  EXPECT_FALSE(parse_unix_seconds("", s));
  EXPECT_FALSE(parse_unix_seconds("-5", s));
  EXPECT_FALSE(parse_unix_seconds("12.5", s));
  EXPECT_FALSE(parse_unix_seconds("1234567890123456789", s));
}

TEST(WithinTolerance, RefusesThePastAndTheFutureAlike) {
  EXPECT_TRUE(within_tolerance(1000, 1300, 300));
  EXPECT_TRUE(within_tolerance(1300, 1000, 300));
  EXPECT_FALSE(within_tolerance(1000, 1301, 300));
  EXPECT_FALSE(within_tolerance(1301, 1000, 300));
}

TEST(TrimOws, StripsSpacesAndTabs) { EXPECT_EQ(trim_ows(" \tx y\t "), "x y"); }

}  // namespace
}  // namespace inlet::auth
