#include "runtime/ip_range.h"

#include <gtest/gtest.h>

namespace inlet::runtime {
namespace {

bool in(std::string_view range, std::string_view address) {
  return contains(*parse_ip_range(range), *parse_ip(address));
}

TEST(IpRange, MatchesV4AndV6RangesAndV4MappedPeers) {
  EXPECT_TRUE(in("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(in("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(in("192.168.1.7", "192.168.1.7"));
  EXPECT_FALSE(in("192.168.1.7", "192.168.1.8"));
  EXPECT_TRUE(in("172.16.0.0/12", "172.31.255.255"));
  EXPECT_FALSE(in("172.16.0.0/12", "172.32.0.0"));
  EXPECT_TRUE(in("0.0.0.0/0", "8.8.8.8"));
  EXPECT_FALSE(in("0.0.0.0/0", "2001:db8::1"));
  EXPECT_TRUE(in("10.0.0.0/8", "::ffff:10.1.2.3"));  // a v4 peer on a dual-stack socket
  EXPECT_TRUE(in("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(in("2001:db8::/32", "2001:db9::1"));
  EXPECT_TRUE(in("::1", "::1"));
  EXPECT_TRUE(in("fd00::/7", "fdff::1"));
}

TEST(IpRange, RefusesMalformedRanges) {
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "::/129", "host.example",
                          "10.0.0.0/8x", "10.0.0.0/-1", "1.2.3.4 "}) {
    EXPECT_FALSE(parse_ip_range(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace inlet::runtime
