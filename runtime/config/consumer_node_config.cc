// `nodes:` (CONTRACT.md section 5): consumer nodes, each reading one edge through a named consumer
// and writing its outputs to its own edges.
#include <set>

#include "runtime/config/node_config.h"
#include "runtime/queue/log_consumer.h"

namespace inlet::runtime {

namespace {

constexpr std::int64_t kMaxMillis = 24ll * 3600 * 1000;
constexpr std::uint32_t kDeliveryWindow = 512;

struct PendingInput {
  std::size_t node;
  std::string edge;   // a name, resolved once every node's outputs are known
  std::string path;   // for the error
  int line = -1;
};


// A processor's or router's function and its retry knobs.
void parse_function_node(ConfigMap& item, const NodeConfig& config, const YAML::Node& tenant_config,
                         ConsumerNodeConfig& node) {
  if (item.has("endpoints")) item.fail("endpoints", "is for kind: delivery");
  item.raw("endpoints");
  const char* section_key = node.kind == ConsumerKind::kRouter ? "router" : "processor";
  const char* other_key = node.kind == ConsumerKind::kRouter ? "processor" : "router";
  if (item.has(other_key)) item.fail(other_key, std::string("is for kind: ") + other_key);
  item.raw(other_key);
  if (!item.has(section_key)) {
    item.fail(section_key, "is required: the function (inline, file or library + function)");
  }
  ConfigMap function_section = item.map(section_key);
  python::PythonFunctionOptions options;
  parse_python_function(function_section, config.source.parent_path(),
                        PythonAuthOwner{node.name, config.tenant, tenant_config}, config.source,
                        options);
  function_section.finish();
  options.log_sink = python_log_sink("node_log", node.name);
  node.requirements = options.requirements;
  node.site_packages = options.site_packages;
  const python::FunctionKind function_kind = node.kind == ConsumerKind::kRouter
                                                 ? python::FunctionKind::kRouter
                                                 : python::FunctionKind::kProcessor;
  node.make_function = [function_kind, options] {
    return python::make_python_function(function_kind, options);
  };

  node.send_message_type = item.string("send_message_type", config.send_message_type);
  node.concurrency = static_cast<std::uint32_t>(item.integer("concurrency", 1, 1, 1024));
  node.max_attempts = static_cast<std::uint32_t>(item.integer("max_attempts", 3, 1, 1000000));
  node.retry_backoff =
      std::chrono::milliseconds(item.integer("retry_backoff_ms", 100, 1, kMaxMillis));
  node.retry_backoff_max = std::chrono::milliseconds(
      item.integer("retry_backoff_max_ms", std::max<std::int64_t>(10000, node.retry_backoff.count()),
                   node.retry_backoff.count(), kMaxMillis));
}

// A delivery node: endpoints, each with its own retries and concurrency; no function, no edges.
void parse_delivery_node(ConfigMap& item, const NodeConfig& config, ConsumerNodeConfig& node) {
  for (const char* key : {"processor", "router", "edges", "send_message_type", "concurrency",
                          "max_attempts", "retry_backoff_ms", "retry_backoff_max_ms"}) {
    if (item.has(key)) {
      item.fail(key, "is not a delivery node's key: retries, backoff and concurrency are set per "
                     "endpoint (endpoints[].backoff, endpoints[].concurrency)");
    }
  }
  node.endpoints = parse_delivery_endpoints(item, config.source.parent_path());
  // The window of messages between the input's committed position and the newest one read: each
  // endpoint keeps its own `concurrency` within it.
  node.concurrency = kDeliveryWindow;
}

}  // namespace

std::vector<ConsumerNodeConfig> parse_consumer_nodes(ConfigMap& root, const NodeConfig& config,
                                                     const YAML::Node& tenant_config) {
  std::vector<ConsumerNodeConfig> nodes;
  std::vector<PendingInput> pending;
  std::set<std::string> edge_names;
  for (const EdgeConfig& edge : config.edges) edge_names.insert(edge.name);
  const auto claim_edge_name = [&](ConfigMap& item, const std::string& name) {
    if (!edge_names.insert(name).second) {
      item.fail("name", "duplicate edge name '" + name + "': every edge of the file needs its own");
    }
  };

  std::vector<ConfigMap> items = root.map_list("nodes");
  if (items.empty()) root.fail("nodes", "must list at least one node");
  for (ConfigMap& item : items) {
    ConsumerNodeConfig node;
    node.name = item.required_string("name");
    if (!is_valid_consumer_name(node.name)) {
      item.fail("name", "must be 1 to 128 letters, digits, '.', '_' or '-' (it names the node's "
                        "consumer), got '" + node.name + "'");
    }
    if (node.name == config.name && config.webhook_node) {
      item.fail("name", "'" + node.name + "' is the webhook node's name (node.name)");
    }
    for (const ConsumerNodeConfig& other : nodes) {
      if (other.name == node.name) item.fail("name", "duplicate node name '" + node.name + "'");
    }
    if (!item.has("kind")) item.fail("kind", "is required: processor, router or delivery");
    const std::string kind = item.choice("kind", "", {"processor", "router", "delivery"});
    node.kind = kind == "router"     ? ConsumerKind::kRouter
                : kind == "delivery" ? ConsumerKind::kDelivery
                                     : ConsumerKind::kProcessor;

    // input: an edge of this file by name, or {name, queue} for one another process writes.
    if (!item.has("input")) item.fail("input", "is required: the edge this node reads");
    const YAML::Node input = item.node()["input"];
    if (input.IsScalar()) {
      pending.push_back({nodes.size(), item.string("input", ""), item.path_of("input"),
                         line_of(input)});
    } else {
      ConfigMap section = item.map("input");
      node.input = section.required_string("name");
      if (!section.has("queue")) section.fail("queue", "is required");
      node.input_queue = parse_queue(section.map("queue"));
      section.finish();
      if (edge_names.count(node.input) != 0) {
        section.fail("name", "'" + node.input + "' is an edge of this file: name it alone, as "
                             "input: " + node.input);
      }
    }

    if (node.kind == ConsumerKind::kDelivery) {
      parse_delivery_node(item, config, node);
    } else {
      parse_function_node(item, config, tenant_config, node);
      std::vector<ConfigMap> outputs = item.map_list("edges");
      if (outputs.empty()) item.fail("edges", "must list at least one output edge");
      if (outputs.size() > 64) item.fail("edges", "at most 64 edges");
      for (ConfigMap& output : outputs) {
        EdgeConfig edge = parse_edge(output, node.kind == ConsumerKind::kRouter);
        claim_edge_name(output, edge.name);
        node.edges.push_back(std::move(edge));
      }
    }
    if (item.has("dead_letter")) {
      ConfigMap section = item.map("dead_letter");
      EdgeConfig edge = parse_edge(section, false);
      if (edge.filter) section.fail("filter", "a dead-letter edge takes every dead letter");
      claim_edge_name(section, edge.name);
      node.dead_letter = std::move(edge);
    } else if (node.kind == ConsumerKind::kDelivery) {
      item.fail("dead_letter", "is required for a delivery node: where a message goes when an "
                               "endpoint refuses it or the retries run out");
    } else {
      item.raw("dead_letter");
    }
    item.finish();
    nodes.push_back(std::move(node));
  }

  // Inputs by name: the webhook node's edges, or another node's outputs or dead letters.
  for (const PendingInput& input : pending) {
    ConsumerNodeConfig& node = nodes[input.node];
    const EdgeConfig* found = nullptr;
    for (const EdgeConfig& edge : config.edges) {
      if (edge.name == input.edge) found = &edge;
    }
    for (const ConsumerNodeConfig& other : nodes) {
      for (const EdgeConfig& edge : other.edges) {
        if (edge.name == input.edge) found = &edge;
      }
      if (other.dead_letter && other.dead_letter->name == input.edge) found = &*other.dead_letter;
    }
    if (found == nullptr) {
      throw ConfigError(input.path,
                        "no edge named '" + input.edge +
                            "' in this file; for an edge another process writes, give {name, queue}",
                        input.line);
    }
    for (const EdgeConfig& edge : node.edges) {
      if (edge.name == input.edge) {
        throw ConfigError(input.path, "node '" + node.name + "' would read its own output", input.line);
      }
    }
    node.input = input.edge;
    node.input_queue = found->queue;
  }
  return nodes;
}

}  // namespace inlet::runtime
