#include "runtime/delivery/delivery_command.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <random>
#include <stdexcept>

#include "runtime/delivery/http_client.h"
#include "runtime/log.h"
#include "runtime/message.h"

namespace inlet::runtime {

namespace {

std::string json(std::string_view text) {
  std::string out;
  append_json_string(out, text);
  return out;
}

OutboundRequest request_of(const DeliveryRequestOptions& options, std::string& id) {
  id = options.id;
  if (id.empty()) {
    std::mt19937_64 random(std::random_device{}());
    id.assign(32, '0');
    make_tracking_id(random, id.data());
  }
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  return OutboundRequest{options.body, id, options.timestamp.value_or(now)};
}

}  // namespace

int run_delivery_list(const NodeConfig& config, std::FILE* out) {
  for (const ConsumerNodeConfig& node : config.nodes) {
    if (node.kind != ConsumerKind::kDelivery) continue;
    for (const DeliveryEndpointConfig& endpoint : node.endpoints) {
      std::string line = "{\"node\":" + json(node.name) + ",\"input\":" + json(node.input) +
                         ",\"endpoint\":" + json(endpoint.name) + ",\"url\":" + json(endpoint.url.text) +
                         ",\"filter\":" + (endpoint.filter ? json(endpoint.filter_text) : "null");
      if (endpoint.signer) {
        line += ",\"signature\":{\"scheme\":" + json(endpoint.signer->scheme_name()) +
                ",\"headers\":" + json(endpoint.signer->header_names()) + "}";
      } else {
        line += ",\"signature\":null";
      }
      line += ",\"headers\":[";
      for (std::size_t i = 0; i < endpoint.headers.size(); ++i) {
        line += (i ? "," : "") + json(endpoint.headers[i].first);
      }
      const BackoffConfig& backoff = endpoint.backoff;
      line += "],\"timeout_ms\":" + std::to_string(endpoint.timeout.count()) +
              ",\"backoff\":{\"max_tries\":" + std::to_string(backoff.max_tries) +
              ",\"max_time_ms\":" + std::to_string(backoff.max_time.count()) +
              ",\"initial_interval_ms\":" + std::to_string(backoff.initial_interval.count()) +
              ",\"max_interval_ms\":" + std::to_string(backoff.max_interval.count()) + "}" +
              ",\"circuit_breaker\":{\"failures\":" + std::to_string(endpoint.circuit_breaker.failures) +
              ",\"pause_ms\":" + std::to_string(endpoint.circuit_breaker.pause.count()) + "}" +
              ",\"concurrency\":" + std::to_string(endpoint.concurrency) +
              ",\"rate_limit\":" + (endpoint.rate_limit > 0 ? json(endpoint.rate_limit_text) : "null") +
              ",\"ca_file\":" + (endpoint.ca_file.empty() ? "null" : json(endpoint.ca_file)) +
              ",\"dead_letter\":" + json(node.dead_letter ? node.dead_letter->name : "") + "}\n";
      std::fputs(line.c_str(), out);
    }
  }
  return 0;
}

const DeliveryEndpointConfig& find_endpoint(const NodeConfig& config, const std::string& name) {
  const std::size_t slash = name.find('/');
  const std::string node_name = slash == std::string::npos ? "" : name.substr(0, slash);
  const std::string endpoint_name = slash == std::string::npos ? name : name.substr(slash + 1);
  const DeliveryEndpointConfig* found = nullptr;
  std::string known;
  int matches = 0;
  for (const ConsumerNodeConfig& node : config.nodes) {
    for (const DeliveryEndpointConfig& endpoint : node.endpoints) {
      known += (known.empty() ? "" : ", ") + node.name + "/" + endpoint.name;
      if (endpoint.name == endpoint_name && (node_name.empty() || node.name == node_name)) {
        found = &endpoint;
        ++matches;
      }
    }
  }
  if (known.empty()) throw std::runtime_error(config.source.string() + ": no delivery node has endpoints");
  if (matches == 0) {
    throw std::runtime_error("no endpoint '" + name + "' in " + config.source.string() + "; it has " + known);
  }
  if (matches > 1) {
    throw std::runtime_error("endpoint '" + name + "' is in several nodes; name one as NODE/NAME: " + known);
  }
  return *found;
}

int run_delivery_sign(const NodeConfig& config, const DeliveryRequestOptions& options, std::FILE* out) {
  const DeliveryEndpointConfig& endpoint = find_endpoint(config, options.endpoint);
  std::string id;
  const std::string head = request_head_text(endpoint, request_of(options, id));
  std::fwrite(head.data(), 1, head.size(), out);
  std::fwrite(options.body.data(), 1, options.body.size(), out);
  if (!options.body.ends_with('\n')) std::fputc('\n', out);
  return 0;
}

int run_delivery_trigger(const NodeConfig& config, const DeliveryRequestOptions& options, std::FILE* out) {
  const DeliveryEndpointConfig& endpoint = find_endpoint(config, options.endpoint);
  boost::asio::io_context io;
  EndpointClient client(io, endpoint);
  std::string id;
  const OutboundRequest request = request_of(options, id);
  AttemptResult result;
  boost::asio::co_spawn(
      io, [&]() -> boost::asio::awaitable<void> { result = co_await client.send(request); },
      [](std::exception_ptr error) {
        if (error) std::rethrow_exception(error);
      });
  io.run();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(result.duration).count();
  if (result.kind != AttemptResult::Kind::kAnswered) {
    std::fprintf(out, "POST %s failed after %lld ms: %s (tracking id %s)\n", endpoint.url.text.c_str(),
                 static_cast<long long>(ms), result.error.c_str(), id.c_str());
    return 1;
  }
  std::fprintf(out, "POST %s: HTTP %u in %lld ms (tracking id %s)\n", endpoint.url.text.c_str(), result.status,
               static_cast<long long>(ms), id.c_str());
  if (!result.body.empty()) {
    std::fwrite(result.body.data(), 1, result.body.size(), out);
    if (result.body_truncated || result.body.size() == 512) std::fputs("\n[answer cut]", out);
    std::fputc('\n', out);
  }
  return result.status >= 200 && result.status < 300 ? 0 : 1;
}

}  // namespace inlet::runtime
