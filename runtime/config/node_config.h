// The node's configuration, parsed and validated once (start-up, reload) into immutable objects
// shared read-only by every I/O thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "python/python_function.h"
#include "runtime/config/config_reader.h"
#include "runtime/config/dedup_config.h"
#include "runtime/config/delivery_config.h"
#include "runtime/ip_range.h"
#include "runtime/queue/consumer.h"
#include "runtime/queue/queue.h"
#include "runtime/route/filter.h"
#include "runtime/tls_context.h"

namespace inlet::runtime {

struct Limits {
  std::uint64_t max_body_bytes = 1 << 20;
  std::uint64_t max_decoded_bytes = 8 << 20;
  std::uint32_t max_header_bytes = 16 << 10;
  std::uint32_t max_connections = 10000;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds body_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
};

// How an edge's queue is built; the queue itself is opened by the server (opening touches disk or
// the network, which `inlet check` must not).
struct QueueSpec {
  std::string type;  // log | kafka | redis | nats
  std::function<std::unique_ptr<Queue>()> open;
  // The queue's settings as written (YAML), so that a reload can tell whether an edge's queue
  // changed. May hold secrets: never log it.
  std::string fingerprint;
  // A named consumer of this queue (CONTRACT.md section 5): the log's consumer file, Kafka's group,
  // Redis' group, NATS' durable consumer. Throws std::runtime_error when the queue cannot be reached.
  std::function<std::unique_ptr<Consumer>(const std::string& consumer)> open_consumer;
  // For a queue that keeps the order of one key's messages (kafka's `key:`): where the key is in
  // the body. The pipeline evaluates it on the parsed body it already has (Message::key).
  std::shared_ptr<const KeyPath> key;
};

struct EdgeConfig {
  std::string name;
  std::shared_ptr<const Filter> filter;  // null: every message
  QueueSpec queue;
  std::uint64_t route = 0;  // a router's output: taken when bitmap & route == route
};

enum class ConsumerKind : std::uint8_t { kProcessor, kRouter, kDelivery };

// One entry of `nodes:`: a consumer node that reads `input` and writes its outputs.
struct ConsumerNodeConfig {
  std::string name;  // also its consumer's name on the input (log file, Kafka and Redis group)
  ConsumerKind kind = ConsumerKind::kProcessor;
  std::string input;       // the input edge's name
  QueueSpec input_queue;   // how to read it
  std::function<std::unique_ptr<python::PythonFunction>()> make_function;  // empty for delivery
  std::vector<std::string> requirements;  // the function's pip specifiers
  std::string site_packages;              // where `inlet requirements install` puts them
  std::string send_message_type = "echo.json";
  std::uint32_t concurrency = 1;   // messages in flight
  std::uint32_t max_attempts = 3;  // calls of the function before the dead letter
  std::chrono::milliseconds retry_backoff{100};      // the first retry's wait, doubled each time
  std::chrono::milliseconds retry_backoff_max{10000};
  std::vector<EdgeConfig> edges;        // outputs, with filters (processor) or routes (router)
  std::vector<DeliveryEndpointConfig> endpoints;  // a delivery node's; it has no edges
  std::optional<EdgeConfig> dead_letter;  // required for a delivery node
};

struct NodeConfig {
  std::filesystem::path source;  // the config file
  std::string name = "inlet";
  std::string tenant;
  std::string send_message_type = "echo.json";
  std::string listen_host = "0.0.0.0";
  std::uint16_t listen_port = 8080;
  std::string admin_host;  // empty: no admin listener
  std::uint16_t admin_port = 0;
  // `tls:` and `admin_tls:`; null: plain HTTP. A reload (the watched files changed, or SIGHUP)
  // builds new ones, which new connections use.
  std::shared_ptr<const TlsContext> tls;
  std::shared_ptr<const TlsContext> admin_tls;
  unsigned threads = 0;    // 0: one per core
  Limits limits;
  // The pip specifiers of the Python authenticator and of every node's function, and the
  // node-local directory they are installed into (`inlet requirements install`); empty without
  // Python. Every function of a file shares the one interpreter, so they share the directory.
  std::vector<std::string> python_requirements;
  std::string python_site_packages;
  // Peers whose X-Forwarded-For/-Proto/-Host set request.client and request.url; empty: nobody's.
  std::vector<IpRange> trusted_proxies;
  bool unrouted_reject = false;
  // A form post's field whose URL-decoded value is the message body; empty: forms are refused (415).
  std::string form_param;
  std::string log_level = "info";
  std::chrono::milliseconds drain_delay{0};
  double access_log_sample = 0;  // `access_log: {sample: 0.01}`: fraction of requests logged
  // Built lazily by make_authenticator() because the Python one starts an interpreter.
  std::function<std::unique_ptr<auth::Authenticator>()> make_authenticator;
  std::function<void()> check_authenticator;  // validation only, for `inlet check`
  std::vector<std::shared_ptr<auth::Authenticator>> verifiers;  // run before the Python one
  // The webhook node's outputs; empty in a file with `nodes:` and no `listen:` (consumers only).
  std::vector<EdgeConfig> edges;
  bool webhook_node = true;  // false: no listener, consumers only
  std::vector<ConsumerNodeConfig> nodes;
  // `nodes:` as written, so that a reload can tell whether it changed (nodes are built once).
  std::string nodes_fingerprint;
  std::optional<DedupConfig> dedup;  // `dedup:`; the keys' store is built once, like the nodes
  std::string dedup_fingerprint;
};

// Every edge this process writes: the webhook node's, then each consumer node's outputs and dead
// letter. Every name is distinct across the file.
std::vector<const EdgeConfig*> written_edges(const NodeConfig& config);

// Reads and validates a config file; throws ConfigError ("file:line: path: reason").
std::shared_ptr<const NodeConfig> load_node_config(const std::filesystem::path& file);

// Section parsers, one per component. Each reads its keys, calls finish(), and throws ConfigError.
QueueSpec parse_log_queue(ConfigMap& queue);
QueueSpec parse_kafka_queue(ConfigMap& queue);
QueueSpec parse_redis_queue(ConfigMap& queue);
QueueSpec parse_nats_queue(ConfigMap& queue);
std::shared_ptr<auth::Authenticator> parse_verifier(ConfigMap& verifier);  // one `verifiers[]` item
std::optional<DedupConfig> parse_dedup(ConfigMap& root);  // `dedup:`; reads `verifiers:` for auto
// `tls:` or `admin_tls:`; relative paths are from the config file's folder. `inherit` (the
// listener's settings, for admin_tls) supplies cert_file and key_file when they are not given.
std::shared_ptr<const TlsContext> parse_tls(ConfigMap& section, const std::filesystem::path& config_dir,
                                            const TlsSettings* inherit = nullptr);
// `authenticator: {function: echo.basic | echo.bearer | echo.x-hub-signature, config: {...}}`, no
// library: the managed platform's system functions, run by the built-in verifiers.
std::shared_ptr<auth::Authenticator> parse_system_function(ConfigMap& section);
// The `authenticator:` section; returns the factory and the check (both capture the parsed options).
struct PythonAuthSection {
  std::function<std::unique_ptr<auth::Authenticator>()> make;
  std::function<void()> check;
  std::vector<std::string> requirements;
  std::string site_packages;
};
// Who the authenticator runs for: context.node, context.tenant, and the tenant-level config
// (`node.tenant_config`, a mapping or null) under the node's own `config:`.
struct PythonAuthOwner {
  std::string node;
  std::string tenant;
  YAML::Node tenant_config;
};
// The keys every Python function's section shares (source, config, requirements, timeout_ms),
// into `options`; the caller reads its own keys and calls finish().
void parse_python_function(ConfigMap& section, const std::filesystem::path& config_dir,
                           const PythonAuthOwner& owner, const std::filesystem::path& config_file,
                           python::PythonFunctionOptions& options);
// Where context.logger's records go: log lines named `event`, with `node` when not empty.
std::function<void(int, const std::string&)> python_log_sink(std::string event, std::string node);
// A delivery endpoint's `signature:` {scheme, secret | secret_env | secret_file, hmac's keys}.
std::shared_ptr<const auth::Signer> parse_signature(ConfigMap& section);
// A delivery node's `endpoints:`; relative CA files are from `config_dir`.
std::vector<DeliveryEndpointConfig> parse_delivery_endpoints(ConfigMap& node,
                                                             const std::filesystem::path& config_dir);
// `nodes:`; `edges` are the webhook node's (an input may name one of them).
std::vector<ConsumerNodeConfig> parse_consumer_nodes(ConfigMap& root, const NodeConfig& config,
                                                     const YAML::Node& tenant_config);
// `queue:` of an edge: its type's parser, and its fingerprint.
QueueSpec parse_queue(ConfigMap queue);
// One edge `{name, filter, queue}` (and `route` when `with_route`).
EdgeConfig parse_edge(ConfigMap& item, bool with_route);
// `config_file` names inline source in errors and tracebacks ("node.yaml:12"), when known.
PythonAuthSection parse_python_authenticator(ConfigMap& section, const std::filesystem::path& config_dir,
                                             const PythonAuthOwner& owner,
                                             const std::filesystem::path& config_file = {});

}  // namespace inlet::runtime
