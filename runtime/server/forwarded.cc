#include "runtime/server/forwarded.h"

#include "auth/verifier_common.h"
#include "codecs/content_type.h"
#include "runtime/server/framing.h"

namespace inlet::runtime {
namespace {

std::string_view first_element(std::string_view list) noexcept {
  return auth::trim_ows(list.substr(0, list.find(',')));
}

// Walks X-Forwarded-For from the right past the trusted proxies; the first other hop is the
// client. When every hop is trusted, the left-most is.
std::string_view client_from(std::string_view forwarded_for, std::span<const IpRange> trusted) {
  std::string_view rest = forwarded_for;
  std::string_view hop;
  while (!rest.empty()) {
    const std::size_t comma = rest.rfind(',');
    hop = auth::trim_ows(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (hop.empty()) continue;
    const std::optional<IpBytes> address = parse_ip(hop);
    if (!address || !contains_any(trusted, *address)) return hop;
  }
  return hop;
}

}  // namespace

ForwardedOrigin forwarded_origin(std::span<const IpRange> trusted, const IpBytes& peer,
                                 std::string_view peer_host, std::uint16_t peer_port,
                                 std::span<const auth::Header> headers) {
  ForwardedOrigin origin;
  origin.client_host = peer_host;
  origin.client_port = peer_port;
  if (trusted.empty() || !contains_any(trusted, peer)) return origin;
  auth::AuthRequest lookup;
  lookup.headers = headers;
  if (const std::string_view client = client_from(lookup.header("x-forwarded-for"), trusted);
      !client.empty()) {
    origin.client_host = client;
    origin.client_port = 0;
  }
  const std::string_view proto = first_element(lookup.header("x-forwarded-proto"));
  if (codecs::iequals(proto, "https")) origin.scheme = "https";
  const std::string_view host = first_element(lookup.header("x-forwarded-host"));
  if (!host.empty() && is_valid_host(host)) origin.host = host;
  return origin;
}

}  // namespace inlet::runtime
