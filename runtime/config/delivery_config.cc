// A delivery node's `endpoints:` (CONTRACT.md section 6).
#include "runtime/config/delivery_config.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <set>

#include "runtime/config/filter_config.h"
#include "runtime/config/node_config.h"

namespace inlet::runtime {

namespace {

constexpr std::int64_t kMaxMillis = 7ll * 24 * 3600 * 1000;

bool valid_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!token) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// "100/s", "6000/m", "10/h".
double rate_at(ConfigMap& map, std::string_view key, std::string& text) {
  text = map.string(key, "");
  if (text.empty()) return 0;
  double count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  const std::string_view per(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double seconds = 0;
  if (per == "/s") seconds = 1;
  else if (per == "/m") seconds = 60;
  else if (per == "/h") seconds = 3600;
  if (ec != std::errc() || seconds == 0 || !(count > 0) || !std::isfinite(count)) {
    map.fail(key, "must be a count per second, minute or hour: 100/s, 600/m or 10/h; got '" + text + "'");
  }
  return count / seconds;
}

void parse_backoff(ConfigMap& endpoint, BackoffConfig& out) {
  const YAML::Node node = endpoint.node()["backoff"];
  if (!node) return;
  if (node.IsScalar()) {
    if (endpoint.boolean("backoff", true)) {
      endpoint.fail("backoff", "is a mapping {max_tries, max_time}, or false for a single try");
    }
    out.max_tries = 1;
    return;
  }
  ConfigMap backoff = endpoint.map("backoff");
  out.max_tries = static_cast<std::uint32_t>(backoff.integer("max_tries", out.max_tries, 1, 1000));
  out.max_time = backoff.duration("max_time", out.max_time);
  out.initial_interval = std::chrono::milliseconds(
      backoff.integer("initial_interval_ms", out.initial_interval.count(), 1, kMaxMillis));
  out.max_interval = std::chrono::milliseconds(backoff.integer(
      "max_interval_ms", std::max(out.max_interval.count(), out.initial_interval.count()),
      out.initial_interval.count(), kMaxMillis));
  backoff.finish();
}

DeliveryEndpointConfig parse_endpoint(ConfigMap& item, const std::filesystem::path& config_dir) {
  DeliveryEndpointConfig endpoint;
  endpoint.name = item.required_string("name");
  std::string error;
  if (!parse_endpoint_url(item.required_string("url"), endpoint.url, error)) item.fail("url", error);
  if (item.has("filter")) {
    ConfigMap filter = item.map("filter");
    endpoint.filter = compile_filter(filter);
    YAML::Emitter text;
    text << YAML::Flow << item.node()["filter"];
    endpoint.filter_text = text.c_str();
  } else {
    item.raw("filter");
  }
  for (ConfigMap& header : item.map_list("headers")) {
    std::string name = header.required_string("name");
    std::string value = header.string("value", "");
    header.finish();
    if (!valid_header_name(name)) header.fail("name", "is not an HTTP header name: '" + name + "'");
    if (value.find_first_of("\r\n") != std::string::npos) header.fail("value", "must be one line");
    for (std::string_view reserved : {"host", "content-length", "content-type", "transfer-encoding",
                                      "connection", "x-inlet-tracking-id"}) {
      if (iequals(name, reserved)) header.fail("name", "'" + name + "' is set by inlet");
    }
    endpoint.headers.emplace_back(std::move(name), std::move(value));
  }
  if (item.has("signature")) {
    ConfigMap signature = item.map("signature");
    endpoint.signer = parse_signature(signature);
  } else {
    item.raw("signature");
  }
  endpoint.timeout = std::chrono::milliseconds(item.integer("timeout_ms", 10000, 1, 3600 * 1000));
  parse_backoff(item, endpoint.backoff);
  if (item.has("circuit_breaker")) {
    ConfigMap breaker = item.map("circuit_breaker");
    endpoint.circuit_breaker.failures =
        static_cast<std::uint32_t>(breaker.integer("failures", endpoint.circuit_breaker.failures, 1, 1000000));
    endpoint.circuit_breaker.pause = std::chrono::milliseconds(
        breaker.integer("pause_ms", endpoint.circuit_breaker.pause.count(), 1, kMaxMillis));
    breaker.finish();
  } else {
    item.raw("circuit_breaker");
  }
  endpoint.concurrency = static_cast<std::uint32_t>(item.integer("concurrency", 1, 1, 1024));
  endpoint.rate_limit = rate_at(item, "rate_limit", endpoint.rate_limit_text);
  endpoint.max_response_bytes =
      static_cast<std::uint32_t>(item.integer("max_response_bytes", 64 << 10, 0, 16 << 20));
  if (item.has("tls")) {
    if (!endpoint.url.https) item.fail("tls", "is for an https:// url");
    ConfigMap tls = item.map("tls");
    const std::string ca = tls.string("ca_file", "");
    tls.finish();
    if (!ca.empty()) {
      const std::filesystem::path path = std::filesystem::path(ca).is_absolute() ? std::filesystem::path(ca) : config_dir / ca;
      std::error_code ec;
      if (!std::filesystem::is_regular_file(path, ec)) tls.fail("ca_file", "no such file: " + path.string());
      endpoint.ca_file = path.string();
    }
  } else {
    item.raw("tls");
  }
  item.finish();
  return endpoint;
}

}  // namespace

bool parse_endpoint_url(std::string_view text, EndpointUrl& out, std::string& error) {
  out = EndpointUrl{};
  out.text = std::string(text);
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    out.https = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    error = "must start with http:// or https://, got '" + std::string(text) + "'";
    return false;
  }
  const std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view target = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (target.find('#') != std::string_view::npos) {
    error = "must not have a #fragment";
    return false;
  }
  if (authority.find('@') != std::string_view::npos) {
    error = "must not hold a user name or password; use headers for credentials";
    return false;
  }
  std::string_view port_text;
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "has an unclosed [ in its host";
      return false;
    }
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "has text after its [host]";
        return false;
      }
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) {
    error = "has no host";
    return false;
  }
  for (char c : out.host) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '\\') {
      error = "has a host with a space or control character";
      return false;
    }
  }
  out.port = out.https ? 443 : 80;
  if (!port_text.empty() || authority.ends_with(":")) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      error = "has a port that is not 1 to 65535";
      return false;
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = "/" + std::string(target);
  } else {
    out.target = std::string(target);
  }
  for (char c : out.target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      error = "has a space or control character in its path; percent-encode it";
      return false;
    }
  }
  const bool default_port = out.port == (out.https ? 443 : 80);
  const bool ipv6 = out.host.find(':') != std::string::npos;
  out.host_header = ipv6 ? "[" + out.host + "]" : out.host;
  if (!default_port) out.host_header += ":" + std::to_string(out.port);
  return true;
}

std::vector<DeliveryEndpointConfig> parse_delivery_endpoints(ConfigMap& node,
                                                             const std::filesystem::path& config_dir) {
  std::vector<ConfigMap> items = node.map_list("endpoints");
  if (items.empty()) node.fail("endpoints", "must list at least one endpoint: {name, url}");
  std::vector<DeliveryEndpointConfig> endpoints;
  std::set<std::string> names;
  for (ConfigMap& item : items) {
    DeliveryEndpointConfig endpoint = parse_endpoint(item, config_dir);
    if (!names.insert(endpoint.name).second) {
      item.fail("name", "duplicate endpoint name '" + endpoint.name + "'");
    }
    endpoints.push_back(std::move(endpoint));
  }
  return endpoints;
}

}  // namespace inlet::runtime
