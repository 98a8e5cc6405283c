// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`, or one address), for
// `trusted_proxies`. IPv4 is held as IPv4-mapped IPv6, so one comparison serves both families and
// a v4 peer on a dual-stack socket (::ffff:10.1.2.3) matches a v4 range. Plain value; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace inlet::runtime {

using IpBytes = std::array<std::uint8_t, 16>;

struct IpRange {
  IpBytes network{};
  std::uint8_t prefix_bits = 128;
};

// `text` as an address, IPv4 mapped into IPv6; nullopt when it is neither family.
std::optional<IpBytes> parse_ip(std::string_view text);
// "addr" or "addr/bits"; nullopt when malformed or the bits exceed the family's width.
std::optional<IpRange> parse_ip_range(std::string_view text);

bool contains(const IpRange& range, const IpBytes& address) noexcept;
bool contains_any(std::span<const IpRange> ranges, const IpBytes& address) noexcept;

}  // namespace inlet::runtime
