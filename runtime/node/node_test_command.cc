#include "runtime/node/node_test_command.h"

#include <chrono>
#include <future>
#include <stdexcept>

#include "runtime/log.h"
#include "runtime/node/node_outputs.h"

namespace inlet::runtime {

namespace {

class Waiter final : public python::FunctionCallback {
 public:
  void on_function_done(python::FunctionResult&& result) noexcept override {
    promise_.set_value(std::move(result));
  }
  python::FunctionResult wait() { return promise_.get_future().get(); }

 private:
  std::promise<python::FunctionResult> promise_;
};

}  // namespace

int run_node_test(const NodeConfig& config, const std::string& name, const std::string& message,
                  std::FILE* out) {
  const ConsumerNodeConfig* node = nullptr;
  std::string names;
  for (const ConsumerNodeConfig& candidate : config.nodes) {
    if (candidate.name == name) node = &candidate;
    names += (names.empty() ? "" : ", ") + candidate.name;
  }
  if (node == nullptr) {
    throw std::runtime_error(config.source.string() + ": no node '" + name + "' under nodes:" +
                             (names.empty() ? std::string(" (the file has none)") : " (it has " + names + ")"));
  }
  const auto function = node->make_function();
  Waiter waiter;
  function->call(message, node->input, waiter);  // the timeout answers a call that hangs
  python::FunctionResult result = waiter.wait();

  std::string line = "{\"node\":";
  append_json_string(line, node->name);
  line += ",\"kind\":";
  line += node->kind == ConsumerKind::kRouter ? "\"router\"" : "\"processor\"";
  if (node->kind == ConsumerKind::kRouter && result.status == python::FunctionResult::Status::kOk) {
    line += ",\"bitmap\":" + std::to_string(result.bitmap);
  }
  std::string error;
  RoutedOutputs routed;
  codecs::JsonValidator validator;
  bool ok = result.status == python::FunctionResult::Status::kOk;
  if (ok) {
    ok = route_function_result(*node, std::move(result), message, validator, routed, error);
    if (!ok) error = "output is not valid JSON: " + error;
  } else {
    error = result.error;
  }
  line += ",\"result\":";
  line += !ok ? "\"failed\"" : routed.routes.empty() ? "\"filtered\"" : "\"emitted\"";
  line += ",\"error\":";
  if (ok) {
    line += "null";
  } else {
    append_json_string(line, error);
  }
  line += ",\"outputs\":[";
  for (std::size_t i = 0; i < routed.routes.size(); ++i) {
    const auto& [body, edge] = routed.routes[i];
    if (i) line += ',';
    line += "{\"edge\":";
    append_json_string(line, node->edges[edge].name);
    line += ",\"body\":";
    line += routed.bodies[body];  // validated JSON
    line += '}';
  }
  line += "]}\n";
  std::fputs(line.c_str(), out);
  return ok ? 0 : 1;
}

}  // namespace inlet::runtime
