#include "runtime/node/node_outputs.h"

#include <simdjson.h>

namespace inlet::runtime {

bool route_function_result(const ConsumerNodeConfig& node, python::FunctionResult&& result,
                           std::string_view input_body, codecs::JsonValidator& validator,
                           RoutedOutputs& out, std::string& error) {
  out.bodies.clear();
  out.routes.clear();
  if (node.kind == ConsumerKind::kRouter) {
    out.bodies.emplace_back(input_body);
    const auto bitmap = static_cast<std::uint64_t>(result.bitmap);
    for (std::size_t e = 0; e < node.edges.size(); ++e) {
      if ((bitmap & node.edges[e].route) == node.edges[e].route) out.routes.emplace_back(0, e);
    }
    return true;
  }
  out.bodies = std::move(result.outputs);
  for (std::size_t i = 0; i < out.bodies.size(); ++i) {
    std::string& body = out.bodies[i];
    // Room for simdjson's padding, so validating makes no copy.
    body.reserve(body.size() + codecs::kJsonPadding);
    if (!validator.validate(body)) {
      error = "output " + std::to_string(i) + " of " + std::to_string(out.bodies.size()) + ": " +
              std::string(validator.error());
      out.bodies.clear();
      out.routes.clear();
      return false;
    }
    for (std::size_t e = 0; e < node.edges.size(); ++e) {
      const Filter* filter = node.edges[e].filter.get();
      if (filter == nullptr || filter->matches(validator.root())) out.routes.emplace_back(i, e);
    }
  }
  return true;
}

InputAttributes parse_input_attributes(std::string_view attributes_json) {
  InputAttributes parsed;
  thread_local simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(simdjson::padded_string(attributes_json)).get_object().get(object) !=
      simdjson::SUCCESS) {
    return parsed;
  }
  const auto text = [&](std::string_view key, std::string& into) {
    std::string_view value;
    if (object[key].get_string().get(value) == simdjson::SUCCESS) into.assign(value);
  };
  const auto list = [&](std::string_view key, std::vector<std::string>& into) {
    simdjson::dom::array array;
    if (object[key].get_array().get(array) != simdjson::SUCCESS) return;
    for (simdjson::dom::element item : array) {
      std::string_view value;
      if (item.get_string().get(value) == simdjson::SUCCESS) into.emplace_back(value);
    }
  };
  text("tracking_id", parsed.tracking_id);
  text("message_type", parsed.message_type);
  text("received_at", parsed.received_at);
  text("content_type", parsed.content_type);
  text("user", parsed.user);
  text("identity", parsed.identity);
  list(kScopes, parsed.scopes);
  list("prev_tracking_ids", parsed.prev_tracking_ids);
  return parsed;
}

}  // namespace inlet::runtime
