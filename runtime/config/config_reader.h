// Reads one YAML mapping of the node config with key paths in every error, and refuses unknown
// keys. Used only at start-up (and reload): it throws ConfigError, never on the request path.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace inlet::runtime {

// "edges[1].queue.dir: must be a string" (the file and line are added by the config loader).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& path, const std::string& reason, int line = -1);
  const std::string& path() const noexcept { return path_; }
  int line() const noexcept { return line_; }  // 1-based, -1 when unknown
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
  int line_;
};

class ConfigMap {
 public:
  // `node` must be a mapping (or null, read as empty); `path` names it in errors ("" for the root).
  ConfigMap(YAML::Node node, std::string path);

  bool has(std::string_view key) const;
  // The child's key path, for errors and nested maps: "limits.max_body_bytes".
  std::string path_of(std::string_view key) const;
  YAML::Node raw(std::string_view key);  // marks the key as read; Null node when absent

  std::string string(std::string_view key, std::string fallback);
  std::string required_string(std::string_view key);
  std::int64_t integer(std::string_view key, std::int64_t fallback, std::int64_t min, std::int64_t max);
  bool boolean(std::string_view key, bool fallback);
  // "250ms", "30s", "5m", "1h", or a bare number of seconds; positive, up to 7 days.
  std::chrono::milliseconds duration(std::string_view key, std::chrono::milliseconds fallback);
  // One of `choices`; errors list them.
  std::string choice(std::string_view key, std::string fallback, const std::vector<std::string>& choices);
  std::vector<std::string> string_list(std::string_view key);
  ConfigMap map(std::string_view key);  // a nested mapping (empty when absent)
  // A sequence of mappings (empty when absent).
  std::vector<ConfigMap> map_list(std::string_view key);
  // Flat string→scalar mapping (e.g. librdkafka properties), values as strings.
  std::vector<std::pair<std::string, std::string>> string_map(std::string_view key);

  // Throws for the first key that was never read: unknown keys are errors.
  void finish() const;

  [[noreturn]] void fail(std::string_view key, const std::string& reason) const;
  const std::string& path() const noexcept { return path_; }
  const YAML::Node& node() const noexcept { return node_; }

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string, std::less<>> read_;
};

// Line of a node in its file (1-based), -1 when unknown.
int line_of(const YAML::Node& node);

}  // namespace inlet::runtime
