#include "runtime/server/forwarded.h"

#include <gtest/gtest.h>

#include <vector>

namespace inlet::runtime {
namespace {

std::vector<IpRange> ranges(std::initializer_list<const char*> texts) {
  std::vector<IpRange> out;
  for (const char* t : texts) out.push_back(*parse_ip_range(t));
  return out;
}

const std::vector<auth::Header> kForwarded = {
    {"X-Forwarded-For", "203.0.113.7, 198.51.100.2, 10.0.0.5"},
    {"X-Forwarded-Proto", "https"},
    {"X-Forwarded-Host", "hooks.example.com"},
};

TEST(ForwardedOrigin, ATrustedProxySetsClientSchemeAndHost) {
  const auto trusted = ranges({"127.0.0.1", "10.0.0.0/8"});
  const ForwardedOrigin o =
      forwarded_origin(trusted, *parse_ip("127.0.0.1"), "127.0.0.1", 5555, kForwarded);
  // 10.0.0.5 is a trusted hop; 198.51.100.2 is the first one that is not.
  EXPECT_EQ(o.client_host, "198.51.100.2");
  EXPECT_EQ(o.client_port, 0);
  EXPECT_EQ(o.scheme, "https");
  EXPECT_EQ(o.host, "hooks.example.com");
}

TEST(ForwardedOrigin, AnyOtherPeerIsTakenAsItIs) {
  const auto trusted = ranges({"10.0.0.0/8"});
  const ForwardedOrigin o =
      forwarded_origin(trusted, *parse_ip("192.0.2.9"), "192.0.2.9", 4000, kForwarded);
  EXPECT_EQ(o.client_host, "192.0.2.9");
  EXPECT_EQ(o.client_port, 4000);
  EXPECT_EQ(o.scheme, "http");
  EXPECT_EQ(o.host, "");
  const ForwardedOrigin none = forwarded_origin({}, *parse_ip("10.0.0.1"), "10.0.0.1", 1, kForwarded);
  EXPECT_EQ(none.client_host, "10.0.0.1");
}

TEST(ForwardedOrigin, IgnoresWhatCannotBeTrusted) {
  const auto trusted = ranges({"127.0.0.1"});
  const std::vector<auth::Header> odd = {
      {"X-Forwarded-For", "127.0.0.1"},          // every hop trusted: the left-most
      {"X-Forwarded-Proto", "gopher"},           // neither http nor https
      {"X-Forwarded-Host", "evil.example/path"}, // not a host
  };
  const ForwardedOrigin o = forwarded_origin(trusted, *parse_ip("127.0.0.1"), "127.0.0.1", 9, odd);
  EXPECT_EQ(o.client_host, "127.0.0.1");
  EXPECT_EQ(o.scheme, "http");
  EXPECT_EQ(o.host, "");
  const ForwardedOrigin bare = forwarded_origin(trusted, *parse_ip("127.0.0.1"), "127.0.0.1", 9, {});
  EXPECT_EQ(bare.client_host, "127.0.0.1");
  EXPECT_EQ(bare.client_port, 9);
}

}  // namespace
}  // namespace inlet::runtime
