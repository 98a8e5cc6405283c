// The `authenticator:` section: where the Python function comes from and how it runs.
#include <fstream>

#include "python/python_authenticator.h"
#include "runtime/config/node_config.h"
#include "runtime/config/yaml_scalar.h"
#include "runtime/log.h"

namespace inlet::runtime {

namespace {

constexpr std::int64_t kMaxTimeoutMs = 600000;

void append_json(std::string& out, const YAML::Node& node, const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out += "null";
      return;
    case YAML::NodeType::Scalar:
      append_scalar_json(out, resolve_scalar(node));
      return;
    case YAML::NodeType::Sequence: {
      out += '[';
      for (std::size_t i = 0; i < node.size(); ++i) {
        if (i > 0) out += ',';
        append_json(out, node[i], path + "[" + std::to_string(i) + "]");
      }
      out += ']';
      return;
    }
    case YAML::NodeType::Map: {
      out += '{';
      bool first = true;
      for (const auto& item : node) {
        if (!item.first.IsScalar())
          throw ConfigError(path, "mapping keys must be scalars", line_of(item.first));
        if (!first) out += ',';
        first = false;
        out += '"';
        append_json_escaped(out, item.first.Scalar());
        out += "\":";
        append_json(out, item.second, path + "." + item.first.Scalar());
      }
      out += '}';
      return;
    }
  }
}

void log_from_python(std::string_view event, std::string_view node, int level,
                     const std::string& message) {
  LogLevel node_level = LogLevel::kDebug;
  const char* name = "DEBUG";
  if (level >= 50) {
    node_level = LogLevel::kError;
    name = "CRITICAL";
  } else if (level >= 40) {
    node_level = LogLevel::kError;
    name = "ERROR";
  } else if (level >= 30) {
    node_level = LogLevel::kWarn;
    name = "WARNING";
  } else if (level >= 20) {
    node_level = LogLevel::kInfo;
    name = "INFO";
  }
  Logger& logger = Logger::instance();
  if (!logger.enabled(node_level)) return;
  // "level" is the node logger's own key; Python's level name goes in "python_level".
  if (node.empty()) {
    logger.log(node_level, event, {{"python_level", name}, {"message", message}});
  } else {
    logger.log(node_level, event, {{"node", node}, {"python_level", name}, {"message", message}});
  }
}

// The line before inline source's first line, so "file:N" errors count lines of the config file:
// the key's own line for a block scalar (`inline: |`), the line before it for one on the key's
// line.
int inline_line_before(const YAML::Node& node, const std::filesystem::path& config_file) {
  const YAML::Mark mark = node.Mark();
  if (mark.line < 0) return 0;
  std::ifstream in(config_file);
  std::string line;
  for (int i = 0; i <= mark.line && std::getline(in, line); ++i) {
  }
  const auto column = static_cast<std::size_t>(mark.column);
  const bool block = in && column < line.size() && (line[column] == '|' || line[column] == '>');
  return block ? mark.line + 1 : mark.line;
}

}  // namespace

void parse_python_function(ConfigMap& section, const std::filesystem::path& config_dir,
                           const PythonAuthOwner& owner, const std::filesystem::path& config_file,
                           python::PythonFunctionOptions& options) {
  const auto resolve = [&](const std::string& path) {
    const std::filesystem::path p(path);
    return (p.is_absolute() ? p : config_dir / p).lexically_normal().string();
  };
  int sources = 0;
  if (section.has("inline")) {
    ++sources;
    options.inline_source = section.required_string("inline");
    if (!config_file.empty()) {
      options.inline_name = config_file.string();
      options.inline_line = inline_line_before(section.node()["inline"], config_file);
    }
  } else {
    section.raw("inline");
  }
  if (section.has("file")) {
    ++sources;
    options.file = resolve(section.required_string("file"));
  } else {
    section.raw("file");
  }
  if (section.has("library")) {
    ++sources;
    options.library = resolve(section.required_string("library"));
    options.function = section.required_string("function");
  } else {
    section.raw("library");
    if (section.has("function")) section.fail("function", "is only valid with library");
    section.raw("function");
  }
  if (sources != 1) {
    throw ConfigError(
        section.path(),
        "needs exactly one of inline, file or library + function, got " + std::to_string(sources),
        line_of(section.node()));
  }

  // context.config: the tenant's keys, then the node's, which win.
  YAML::Node config = section.raw("config");
  if (config.IsDefined() && !config.IsNull() && !config.IsMap()) section.fail("config", "must be a mapping");
  YAML::Node merged(YAML::NodeType::Map);
  const auto add_keys = [&](const YAML::Node& from, const std::string& path) {
    if (!from.IsMap()) return;
    for (const auto& item : from) {
      if (!item.first.IsScalar()) throw ConfigError(path, "mapping keys must be scalars", line_of(item.first));
      merged[item.first.Scalar()] = item.second;
    }
  };
  add_keys(owner.tenant_config, "node.tenant_config");
  add_keys(config, section.path_of("config"));
  options.config_json.clear();
  append_json(options.config_json, merged, section.path_of("config"));
  options.requirements = section.string_list("requirements");
  options.site_packages = resolve(section.string("site_packages", ".inlet/site-packages"));
  options.timeout_ms =
      static_cast<std::uint32_t>(section.integer("timeout_ms", 2000, 1, kMaxTimeoutMs));
  options.node = owner.node;
  options.tenant = owner.tenant;
}

std::function<void(int, const std::string&)> python_log_sink(std::string event, std::string node) {
  return [event = std::move(event), node = std::move(node)](int level, const std::string& message) {
    log_from_python(event, node, level, message);
  };
}

PythonAuthSection parse_python_authenticator(ConfigMap& section,
                                             const std::filesystem::path& config_dir,
                                             const PythonAuthOwner& owner,
                                             const std::filesystem::path& config_file) {
  python::PythonAuthOptions options;
  parse_python_function(section, config_dir, owner, config_file, options);
  options.none_means_reject =
      section.choice("none_means", "accept", {"accept", "reject"}) == "reject";
  section.finish();
  options.log_sink = python_log_sink("authenticator_log", "");

  PythonAuthSection parsed;
  parsed.make = [options] { return python::make_python_authenticator(options); };
  parsed.check = [options] { python::check_python_authenticator(options); };
  parsed.requirements = options.requirements;
  parsed.site_packages = options.site_packages;
  return parsed;
}

}  // namespace inlet::runtime
