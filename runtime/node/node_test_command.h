// `inlet test --config F --node NAME --message FILE`: one message through a consumer node's
// function, filters and routes, printing what the node would store, and storing nothing.
#pragma once

#include <cstdio>
#include <string>

#include "runtime/config/node_config.h"

namespace inlet::runtime {

// Prints one JSON object: {"node", "kind", "result": "emitted"|"filtered"|"failed", "error",
// "outputs": [{"edge", "body"}...]}. Returns 0 unless the function failed (1). Throws
// std::runtime_error when the node does not exist or its function does not load.
int run_node_test(const NodeConfig& config, const std::string& node, const std::string& message,
                  std::FILE* out);

}  // namespace inlet::runtime
