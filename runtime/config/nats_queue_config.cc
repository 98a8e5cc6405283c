#include <filesystem>
#include <fstream>

#include "runtime/config/node_config.h"
#include "runtime/queue/nats_queue.h"

namespace inlet::runtime {
namespace {

// Resolved now (from the working directory, like the log's `dir`) and checked readable, so that a
// typo is a config error naming the key rather than a connection that never authenticates.
std::string readable_file(ConfigMap& section, std::string_view key) {
  const std::string text = section.string(key, "");
  if (text.empty()) return text;
  std::error_code ec;
  const std::filesystem::path path = std::filesystem::absolute(text, ec);
  if (ec || !std::ifstream(path).good()) section.fail(key, "cannot read '" + text + "'");
  return path.string();
}

// NATS names may not hold '.', '*', '>', whitespace or path separators.
void check_name(ConfigMap& queue, std::string_view key, const std::string& name) {
  for (const char c : name) {
    if (c == '.' || c == '*' || c == '>' || c == '/' || c == '\\' || static_cast<unsigned char>(c) <= ' ') {
      queue.fail(key, "'" + name + "' is not a NATS stream name: no '.', '*', '>', '/', '\\' or spaces");
    }
  }
}

}  // namespace

QueueSpec parse_nats_queue(ConfigMap& queue) {
  queue.raw("type");
  NatsQueueOptions options;
  NatsConnectionOptions& connection = options.connection;
  if (queue.has("servers") && queue.raw("servers").IsScalar()) {
    const std::string list = queue.string("servers", "");
    for (std::size_t start = 0; start <= list.size();) {
      const std::size_t comma = std::min(list.find(',', start), list.size());
      if (comma > start) connection.servers.push_back(list.substr(start, comma - start));
      start = comma + 1;
    }
  } else {
    connection.servers = queue.string_list("servers");
  }
  if (connection.servers.empty()) connection.servers.push_back("nats://127.0.0.1:4222");
  for (const std::string& server : connection.servers) {
    if (!server.starts_with("nats://") && !server.starts_with("tls://")) {
      queue.fail("servers", "'" + server + "' must be nats://host:port or tls://host:port");
    }
    if (server.starts_with("tls://")) connection.tls = true;
  }
  options.stream = queue.required_string("stream");
  check_name(queue, "stream", options.stream);
  options.subject = queue.required_string("subject");
  if (options.subject.find_first_of("*> \t") != std::string::npos) {
    queue.fail("subject", "must be one subject to publish on, without wildcards or spaces");
  }
  options.create = queue.boolean("create", options.create);
  options.replicas = static_cast<int>(queue.integer("replicas", options.replicas, 1, 5));
  options.duplicate_window = queue.duration("duplicate_window", options.duplicate_window);
  options.max_age = queue.duration("max_age", std::chrono::milliseconds(0));
  options.max_in_flight =
      static_cast<std::uint32_t>(queue.integer("max_in_flight", options.max_in_flight, 1, 1000000));
  options.retry_budget_ms = static_cast<std::uint32_t>(
      queue.integer("retry_budget_ms", options.retry_budget_ms, 0, 3600000));
  options.ack_timeout_ms =
      static_cast<std::uint32_t>(queue.integer("ack_timeout_ms", options.ack_timeout_ms, 10, 600000));
  options.ack_wait = queue.duration("ack_wait", options.ack_wait);
  connection.credentials_file = readable_file(queue, "credentials_file");
  connection.user = queue.string("user", "");
  connection.password = queue.string("password", "");
  connection.token = queue.string("token", "");
  if (!connection.password.empty() && connection.user.empty()) {
    queue.fail("password", "needs a user");
  }
  const int ways = !connection.credentials_file.empty() + !connection.user.empty() + !connection.token.empty();
  if (ways > 1) queue.fail("credentials_file", "give one of credentials_file, user and password, or token");
  if (queue.has("tls")) {
    ConfigMap tls = queue.map("tls");
    connection.tls = true;
    connection.ca_file = readable_file(tls, "ca_file");
    connection.cert_file = readable_file(tls, "cert_file");
    connection.key_file = readable_file(tls, "key_file");
    if (connection.cert_file.empty() != connection.key_file.empty()) {
      tls.fail(connection.cert_file.empty() ? "cert_file" : "key_file", "cert_file and key_file go together");
    }
    tls.finish();
  }
  queue.finish();
  QueueSpec spec{"nats", [options] { return open_nats_queue(options); }, {}, {}, nullptr};
  spec.open_consumer = [options](const std::string& durable) { return open_nats_consumer(options, durable); };
  return spec;
}

}  // namespace inlet::runtime
