// What a consumer node makes of one call of its function, without storing anything: the outputs,
// validated as JSON, and the edges each goes to (a processor's filters, a router's routes). The
// node and `inlet test --node` share it, so the test shows what the node would store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "codecs/json_validator.h"
#include "python/python_function.h"
#include "runtime/config/node_config.h"

namespace inlet::runtime {

struct RoutedOutputs {
  std::vector<std::string> bodies;
  // (index in bodies, index in the node's edges), in output order then edge order.
  std::vector<std::pair<std::size_t, std::size_t>> routes;
};

// False with `error` set when the function's result cannot be stored: an output that is not valid
// JSON. A router's message is the input body itself.
bool route_function_result(const ConsumerNodeConfig& node, python::FunctionResult&& result,
                           std::string_view input_body, codecs::JsonValidator& validator,
                           RoutedOutputs& out, std::string& error);

// The attributes an input message carried (the schema of runtime/message.h), as strings that
// outputs and dead letters point into.
struct InputAttributes {
  std::string tracking_id;
  std::string message_type;
  std::string received_at;
  std::string content_type;
  std::string user;
  std::string identity;
  std::vector<std::string> scopes;
  std::vector<std::string> prev_tracking_ids;
};
// Missing or malformed attributes are left empty: a message another writer stored still flows.
InputAttributes parse_input_attributes(std::string_view attributes_json);

}  // namespace inlet::runtime
