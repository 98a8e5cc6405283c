#include "runtime/config/config_reader.h"

#include <charconv>

namespace inlet::runtime {

ConfigError::ConfigError(const std::string& path, const std::string& reason, int line)
    : std::runtime_error(path.empty() ? reason : path + ": " + reason),
      path_(path),
      reason_(reason),
      line_(line) {}

int line_of(const YAML::Node& node) {
  if (!node.IsDefined()) return -1;
  const YAML::Mark mark = node.Mark();
  return mark.line < 0 ? -1 : mark.line + 1;
}

ConfigMap::ConfigMap(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    throw ConfigError(path_, "must be a mapping", line_of(node_));
  }
}

bool ConfigMap::has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined() && !node_[std::string(key)].IsNull();
}

std::string ConfigMap::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

YAML::Node ConfigMap::raw(std::string_view key) {
  read_.emplace(key);
  if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Null);
  YAML::Node child = node_[std::string(key)];
  return child.IsDefined() ? child : YAML::Node(YAML::NodeType::Null);
}

void ConfigMap::fail(std::string_view key, const std::string& reason) const {
  int line = -1;
  if (node_.IsMap() && node_[std::string(key)].IsDefined()) line = line_of(node_[std::string(key)]);
  if (line < 0) line = line_of(node_);
  throw ConfigError(path_of(key), reason, line);
}

std::string ConfigMap::string(std::string_view key, std::string fallback) {
  YAML::Node value = raw(key);
  if (value.IsNull()) return fallback;
  if (!value.IsScalar()) fail(key, "must be a string");
  return value.Scalar();
}

std::string ConfigMap::required_string(std::string_view key) {
  YAML::Node value = raw(key);
  if (value.IsNull()) fail(key, "is required");
  if (!value.IsScalar() || value.Scalar().empty()) fail(key, "must be a non-empty string");
  return value.Scalar();
}

std::int64_t ConfigMap::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) {
  YAML::Node value = raw(key);
  if (value.IsNull()) return fallback;
  std::int64_t parsed = 0;
  if (!value.IsScalar() || !YAML::convert<std::int64_t>::decode(value, parsed)) {
    fail(key, "must be an integer");
  }
  if (parsed < min || parsed > max) {
    fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                  std::to_string(parsed));
  }
  return parsed;
}

std::chrono::milliseconds ConfigMap::duration(std::string_view key, std::chrono::milliseconds fallback) {
  constexpr std::int64_t kMaxMillis = 7ll * 24 * 3600 * 1000;
  if (!has(key)) return fallback;
  const std::string text = string(key, "");
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t scale = 0;
  if (unit == "ms") scale = 1;
  else if (unit == "s" || unit.empty()) scale = 1000;
  else if (unit == "m") scale = 60 * 1000;
  else if (unit == "h") scale = 3600 * 1000;
  if (ec != std::errc() || scale == 0 || value <= 0 || value > kMaxMillis / scale) {
    fail(key, "must be a positive duration such as 500ms, 30s, 5m or 1h, up to 7 days; got '" + text + "'");
  }
  return std::chrono::milliseconds(value * scale);
}

bool ConfigMap::boolean(std::string_view key, bool fallback) {
  YAML::Node value = raw(key);
  if (value.IsNull()) return fallback;
  bool parsed = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, parsed)) fail(key, "must be true or false");
  return parsed;
}

std::string ConfigMap::choice(std::string_view key, std::string fallback,
                              const std::vector<std::string>& choices) {
  std::string value = string(key, fallback);
  for (const std::string& c : choices) {
    if (c == value) return value;
  }
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  fail(key, "must be one of " + list + ", got '" + value + "'");
}

std::vector<std::string> ConfigMap::string_list(std::string_view key) {
  YAML::Node value = raw(key);
  std::vector<std::string> out;
  if (value.IsNull()) return out;
  if (!value.IsSequence()) fail(key, "must be a list of strings");
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (!value[i].IsScalar()) {
      throw ConfigError(path_of(key) + "[" + std::to_string(i) + "]", "must be a string", line_of(value[i]));
    }
    out.push_back(value[i].Scalar());
  }
  return out;
}

ConfigMap ConfigMap::map(std::string_view key) {
  YAML::Node value = raw(key);
  if (!value.IsNull() && !value.IsMap()) fail(key, "must be a mapping");
  return ConfigMap(value, path_of(key));
}

std::vector<ConfigMap> ConfigMap::map_list(std::string_view key) {
  YAML::Node value = raw(key);
  std::vector<ConfigMap> out;
  if (value.IsNull()) return out;
  if (!value.IsSequence()) fail(key, "must be a list");
  for (std::size_t i = 0; i < value.size(); ++i) {
    out.emplace_back(value[i], path_of(key) + "[" + std::to_string(i) + "]");
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ConfigMap::string_map(std::string_view key) {
  YAML::Node value = raw(key);
  std::vector<std::pair<std::string, std::string>> out;
  if (value.IsNull()) return out;
  if (!value.IsMap()) fail(key, "must be a mapping of names to values");
  for (const auto& entry : value) {
    if (!entry.second.IsScalar()) {
      throw ConfigError(path_of(key) + "." + entry.first.Scalar(), "must be a scalar", line_of(entry.second));
    }
    out.emplace_back(entry.first.Scalar(), entry.second.Scalar());
  }
  return out;
}

void ConfigMap::finish() const {
  if (!node_.IsMap()) return;
  for (const auto& entry : node_) {
    const std::string& key = entry.first.Scalar();
    if (!read_.contains(key)) {
      throw ConfigError(path_of(key), "unknown key", line_of(entry.first));
    }
  }
}

}  // namespace inlet::runtime
