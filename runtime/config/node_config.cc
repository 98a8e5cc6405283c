#include "runtime/config/node_config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include "runtime/config/filter_config.h"
#include "runtime/log.h"

namespace inlet::runtime {
namespace {

constexpr std::int64_t kMaxBytes = std::int64_t{1} << 40;
constexpr std::int64_t kMaxMillis = 24ll * 3600 * 1000;

// "host:port" or "[v6]:port".
void parse_listen(ConfigMap& root, std::string_view key, std::string& host, std::uint16_t& port) {
  const std::string text = root.string(key, "");
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) root.fail(key, "must be host:port, got '" + text + "'");
  host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string_view digits = std::string_view(text).substr(colon + 1);
  unsigned value = 0;
  const auto result = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (result.ec != std::errc() || result.ptr != digits.data() + digits.size() || value > 65535) {
    root.fail(key, "port must be a number from 0 to 65535, got '" + std::string(digits) + "'");
  }
  port = static_cast<std::uint16_t>(value);
}

Limits parse_limits(ConfigMap limits) {
  Limits out;
  out.max_body_bytes = static_cast<std::uint64_t>(
      limits.integer("max_body_bytes", static_cast<std::int64_t>(out.max_body_bytes), 1, kMaxBytes));
  out.max_decoded_bytes = static_cast<std::uint64_t>(
      limits.integer("max_decoded_bytes", static_cast<std::int64_t>(out.max_decoded_bytes), 1, kMaxBytes));
  out.max_header_bytes =
      static_cast<std::uint32_t>(limits.integer("max_header_bytes", out.max_header_bytes, 256, 1 << 20));
  out.max_connections =
      static_cast<std::uint32_t>(limits.integer("max_connections", out.max_connections, 1, 1000000));
  out.header_timeout = std::chrono::milliseconds(
      limits.integer("header_timeout_ms", out.header_timeout.count(), 1, kMaxMillis));
  out.body_timeout =
      std::chrono::milliseconds(limits.integer("body_timeout_ms", out.body_timeout.count(), 1, kMaxMillis));
  out.idle_timeout =
      std::chrono::milliseconds(limits.integer("idle_timeout_ms", out.idle_timeout.count(), 1, kMaxMillis));
  limits.finish();
  return out;
}

double parse_access_log(ConfigMap access) {
  double sample = 0;
  if (access.has("sample")) {
    const YAML::Node node = access.raw("sample");
    try {
      sample = node.as<double>();
    } catch (const YAML::Exception&) {
      access.fail("sample", "must be a number from 0 to 1");
    }
    if (!(sample >= 0 && sample <= 1)) access.fail("sample", "must be a number from 0 to 1");
  }
  access.finish();
  return sample;
}

std::vector<EdgeConfig> parse_edges(ConfigMap& root) {
  std::vector<EdgeConfig> edges;
  if (!root.has("edges")) {
    ConfigMap queue(YAML::Load("{type: log, dir: ./data/queue}"), "edges[0].queue");
    edges.push_back(EdgeConfig{"default", nullptr, parse_queue(std::move(queue))});
    root.raw("edges");
    return edges;
  }
  std::vector<ConfigMap> items = root.map_list("edges");
  if (items.empty()) root.fail("edges", "must list at least one edge");
  if (items.size() > 64) root.fail("edges", "at most 64 edges");
  for (ConfigMap& item : items) {
    EdgeConfig edge = parse_edge(item, false);
    for (const EdgeConfig& other : edges) {
      if (other.name == edge.name) item.fail("name", "duplicate edge name '" + edge.name + "'");
    }
    edges.push_back(std::move(edge));
  }
  return edges;
}

}  // namespace

QueueSpec parse_queue(ConfigMap queue) {
  const std::string type = queue.choice("type", "log", {"log", "kafka", "redis", "nats"});
  QueueSpec spec = type == "kafka"   ? parse_kafka_queue(queue)
                   : type == "redis" ? parse_redis_queue(queue)
                   : type == "nats"  ? parse_nats_queue(queue)
                                     : parse_log_queue(queue);
  spec.fingerprint = YAML::Dump(queue.node());
  return spec;
}

EdgeConfig parse_edge(ConfigMap& item, bool with_route) {
  EdgeConfig edge;
  edge.name = item.required_string("name");
  if (item.has("filter")) {
    ConfigMap filter = item.map("filter");
    edge.filter = compile_filter(filter);
  } else {
    item.raw("filter");
  }
  if (with_route) {
    if (!item.has("route")) item.fail("route", "is required: the bits of the bitmap this edge takes");
    edge.route = static_cast<std::uint64_t>(item.integer("route", 0, 1, std::int64_t{1} << 62));
  }
  if (!item.has("queue")) item.fail("queue", "is required");
  edge.queue = parse_queue(item.map("queue"));
  item.finish();
  return edge;
}

std::vector<const EdgeConfig*> written_edges(const NodeConfig& config) {
  std::vector<const EdgeConfig*> edges;
  for (const EdgeConfig& edge : config.edges) edges.push_back(&edge);
  for (const ConsumerNodeConfig& node : config.nodes) {
    for (const EdgeConfig& edge : node.edges) edges.push_back(&edge);
    if (node.dead_letter) edges.push_back(&*node.dead_letter);
  }
  return edges;
}

std::shared_ptr<const NodeConfig> load_node_config(const std::filesystem::path& file) {
  auto config = std::make_shared<NodeConfig>();
  config->source = file;
  const std::string where = file.string();
  YAML::Node document;
  try {
    document = YAML::LoadFile(file.string());
  } catch (const YAML::BadFile&) {
    throw ConfigError("", where + ": cannot read the config file");
  } catch (const YAML::Exception& e) {
    throw ConfigError("", where + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg,
                      e.mark.line + 1);
  }
  try {
    ConfigMap root(document, "");
    ConfigMap node = root.map("node");
    config->name = node.string("name", config->name);
    config->tenant = node.string("tenant", "");
    YAML::Node tenant_config = node.raw("tenant_config");
    if (tenant_config.IsDefined() && !tenant_config.IsNull() && !tenant_config.IsMap()) {
      node.fail("tenant_config", "must be a mapping (context.config's defaults for the tenant)");
    }
    config->send_message_type = node.string("send_message_type", config->send_message_type);
    node.finish();

    // A file with `nodes:` and no `listen:` runs consumers only.
    config->webhook_node = root.has("listen") || !root.has("nodes");
    if (root.has("listen")) {
      parse_listen(root, "listen", config->listen_host, config->listen_port);
    } else {
      root.raw("listen");
    }
    if (root.has("admin_listen")) {
      parse_listen(root, "admin_listen", config->admin_host, config->admin_port);
    } else {
      root.raw("admin_listen");
    }
    if (root.has("tls")) {
      ConfigMap section = root.map("tls");
      config->tls = parse_tls(section, file.parent_path());
    } else {
      root.raw("tls");
    }
    if (root.has("admin_tls")) {
      if (config->admin_host.empty()) root.fail("admin_tls", "needs admin_listen");
      ConfigMap section = root.map("admin_tls");
      config->admin_tls =
          parse_tls(section, file.parent_path(), config->tls ? &config->tls->settings() : nullptr);
    } else {
      root.raw("admin_tls");
    }
    config->threads = static_cast<unsigned>(root.integer("threads", 0, 0, 256));
    const std::vector<std::string> proxies = root.string_list("trusted_proxies");
    for (std::size_t i = 0; i < proxies.size(); ++i) {
      std::optional<IpRange> range = parse_ip_range(proxies[i]);
      if (!range) {
        root.fail("trusted_proxies[" + std::to_string(i) + "]",
                  "must be an IP address or a CIDR range (10.0.0.0/8, 2001:db8::/32), got '" +
                      proxies[i] + "'");
      }
      config->trusted_proxies.push_back(*range);
    }
    config->limits = parse_limits(root.map("limits"));
    if (config->limits.max_decoded_bytes < config->limits.max_body_bytes) {
      root.fail("limits", "max_decoded_bytes must not be smaller than max_body_bytes");
    }
    config->log_level = root.choice("log_level", "info", {"debug", "info", "warn", "error"});
    config->drain_delay = std::chrono::milliseconds(root.integer("drain_delay_ms", 0, 0, kMaxMillis));
    config->access_log_sample = parse_access_log(root.map("access_log"));

    for (ConfigMap& verifier : root.map_list("verifiers")) config->verifiers.push_back(parse_verifier(verifier));
    if (root.has("authenticator") && root.map("authenticator").has("function") &&
        !root.map("authenticator").has("library")) {
      ConfigMap section = root.map("authenticator");
      config->verifiers.push_back(parse_system_function(section));
    } else if (root.has("authenticator")) {
      ConfigMap section = root.map("authenticator");
      PythonAuthSection python =
          parse_python_authenticator(section, file.parent_path(),
                                     PythonAuthOwner{config->name, config->tenant, tenant_config}, file);
      config->make_authenticator = std::move(python.make);
      config->check_authenticator = std::move(python.check);
      config->python_requirements = std::move(python.requirements);
      config->python_site_packages = std::move(python.site_packages);
    } else {
      root.raw("authenticator");
    }
    if (root.has("dedup")) {
      if (!config->webhook_node) root.fail("dedup", "is the webhook node's, and this file has no listen:");
      config->dedup_fingerprint = YAML::Dump(root.node()["dedup"]);
    }
    config->dedup = parse_dedup(root);
    config->unrouted_reject = root.choice("unrouted", "accept", {"accept", "reject"}) == "reject";
    config->form_param = root.string("form_param", "");
    if (config->webhook_node) {
      config->edges = parse_edges(root);
    } else if (root.has("edges")) {
      root.fail("edges", "are the webhook node's outputs, and this file has no listen: (consumers "
                         "only); give each node's input as {name, queue}");
    }
    if (root.has("nodes")) {
      config->nodes_fingerprint = YAML::Dump(root.node()["nodes"]);
      config->nodes = parse_consumer_nodes(root, *config, tenant_config);
      for (const ConsumerNodeConfig& node : config->nodes) {
        for (const std::string& requirement : node.requirements) {
          if (std::find(config->python_requirements.begin(), config->python_requirements.end(),
                        requirement) == config->python_requirements.end()) {
            config->python_requirements.push_back(requirement);
          }
        }
        if (config->python_site_packages.empty()) config->python_site_packages = node.site_packages;
      }
    } else {
      root.raw("nodes");
    }
    root.finish();
  } catch (const ConfigError& e) {
    const std::string line = e.line() > 0 ? ":" + std::to_string(e.line()) : "";
    throw ConfigError("", where + line + ": " + e.what(), e.line());
  }
  return config;
}

}  // namespace inlet::runtime
