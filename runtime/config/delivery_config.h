// A delivery node's endpoints (CONTRACT.md section 6), parsed once into immutable settings that
// runtime/delivery/ reads. Secrets live only inside each endpoint's Signer.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "auth/signer.h"
#include "runtime/route/filter.h"

namespace inlet::runtime {

// An endpoint's URL, split once: http or https, the host, the port and the request target.
struct EndpointUrl {
  bool https = false;
  std::string host;  // without brackets for an IPv6 literal
  std::uint16_t port = 0;
  std::string target = "/";  // path and query
  std::string host_header;   // host[:port] as the Host header carries it
  std::string text;          // as written, for logs and `inlet delivery list`
};

// Parses "http(s)://host[:port][/path][?query]"; false, with `error`, on anything else (a user
// name, a fragment, another scheme).
bool parse_endpoint_url(std::string_view text, EndpointUrl& out, std::string& error);

// `backoff: {max_tries, max_time, initial_interval_ms, max_interval_ms}`, or `backoff: false` for
// one try. A retry waits a uniformly random time up to initial × 2^(tries-1), capped by the max
// interval (full jitter), or what a Retry-After asks when that is longer.
struct BackoffConfig {
  std::uint32_t max_tries = 3;
  std::chrono::milliseconds max_time{5 * 60 * 1000};  // from the first try to the last one's start
  std::chrono::milliseconds initial_interval{500};
  std::chrono::milliseconds max_interval{60000};
};

// After `failures` consecutive failed tries the endpoint pauses for `pause`, then lets one try
// through: its success closes the circuit, its failure opens it again.
struct CircuitBreakerConfig {
  std::uint32_t failures = 5;
  std::chrono::milliseconds pause{30000};
};

struct DeliveryEndpointConfig {
  std::string name;
  EndpointUrl url;
  std::shared_ptr<const Filter> filter;  // null: every message
  std::string filter_text;               // the filter as written (YAML flow), for listing
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<const auth::Signer> signer;  // null: unsigned
  std::chrono::milliseconds timeout{10000};    // each of connect, TLS handshake, write and read
  BackoffConfig backoff;
  CircuitBreakerConfig circuit_breaker;
  std::uint32_t concurrency = 1;  // requests in flight; 1 delivers in input order
  double rate_limit = 0;          // requests per second; 0: no limit
  std::string rate_limit_text;    // as written ("100/s")
  std::string ca_file;            // https: the CA bundle; empty: the system's
  std::uint32_t max_response_bytes = 64 << 10;  // the answer's body is read up to this, then dropped
};

}  // namespace inlet::runtime
