// `inlet delivery list | sign | trigger` (CONTRACT.md section 6): what a delivery node's endpoints
// are, the exact request one would be sent, and one request sent now.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "runtime/config/node_config.h"

namespace inlet::runtime {

// One JSON line per endpoint of every delivery node: node, input, endpoint, url, filter,
// signature scheme and headers, header names, timeout, backoff, circuit breaker, concurrency,
// rate limit and dead letter. Never a secret or a header's value. Returns 0.
int run_delivery_list(const NodeConfig& config, std::FILE* out);

// Which endpoint a command means: NAME alone when one node has it, else NODE/NAME.
// Throws std::runtime_error naming the choices.
const DeliveryEndpointConfig& find_endpoint(const NodeConfig& config, const std::string& name);

struct DeliveryRequestOptions {
  std::string endpoint;
  std::string body;
  std::string id;                       // empty: a new tracking id
  std::optional<std::int64_t> timestamp;  // Unix seconds; empty: now
};

// Prints the request the endpoint would be sent (head, then the body), signed; no network.
int run_delivery_sign(const NodeConfig& config, const DeliveryRequestOptions& options, std::FILE* out);

// Sends the request once, no retries, and prints the answer's status, time and body (or the
// error). Returns 0 for a 2xx, else 1.
int run_delivery_trigger(const NodeConfig& config, const DeliveryRequestOptions& options, std::FILE* out);

}  // namespace inlet::runtime
