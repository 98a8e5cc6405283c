// `trusted_proxies`: what a proxy in front of the node says of the original request. From a
// trusted peer, X-Forwarded-For names the client (the right-most address that is not itself a
// trusted proxy), X-Forwarded-Proto the scheme (http or https) and X-Forwarded-Host the host of
// request.url. From any other peer the headers are ignored, so a client cannot forge them.
// Pure functions; the views point into the headers or the peer text.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "auth/authenticator.h"
#include "runtime/ip_range.h"

namespace inlet::runtime {

struct ForwardedOrigin {
  std::string_view client_host;
  std::uint16_t client_port = 0;  // 0 when a proxy named the client (it does not say the port)
  std::string_view scheme = "http";
  std::string_view host;  // empty: the Host header
};

ForwardedOrigin forwarded_origin(std::span<const IpRange> trusted, const IpBytes& peer,
                                 std::string_view peer_host, std::uint16_t peer_port,
                                 std::span<const auth::Header> headers);

}  // namespace inlet::runtime
