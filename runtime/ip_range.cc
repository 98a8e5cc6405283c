#include "runtime/ip_range.h"

#include <arpa/inet.h>

#include <charconv>
#include <string>

namespace inlet::runtime {

std::optional<IpBytes> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string copy(text);  // inet_pton wants a terminated string
  IpBytes bytes{};
  if (::inet_pton(AF_INET6, copy.c_str(), bytes.data()) == 1) return bytes;
  std::array<std::uint8_t, 4> v4{};
  if (::inet_pton(AF_INET, copy.c_str(), v4.data()) != 1) return std::nullopt;
  bytes[10] = 0xFF;
  bytes[11] = 0xFF;
  for (int i = 0; i < 4; ++i) bytes[12 + i] = v4[i];
  return bytes;
}

std::optional<IpRange> parse_ip_range(std::string_view text) {
  const std::size_t slash = text.find('/');
  const std::string_view address = text.substr(0, slash);
  std::optional<IpBytes> bytes = parse_ip(address);
  if (!bytes) return std::nullopt;
  const bool v4 = address.find(':') == std::string_view::npos;
  IpRange range{*bytes, 128};
  if (slash != std::string_view::npos) {
    const std::string_view bits = text.substr(slash + 1);
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
    if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() || value > (v4 ? 32u : 128u))
      return std::nullopt;
    range.prefix_bits = static_cast<std::uint8_t>(v4 ? value + 96 : value);
  }
  return range;
}

bool contains(const IpRange& range, const IpBytes& address) noexcept {
  unsigned bits = range.prefix_bits;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i) {
    const unsigned take = bits >= 8 ? 8 : bits;
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - take));
    if ((range.network[i] & mask) != (address[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

bool contains_any(std::span<const IpRange> ranges, const IpBytes& address) noexcept {
  for (const IpRange& range : ranges) {
    if (contains(range, address)) return true;
  }
  return false;
}

}  // namespace inlet::runtime
