#include "runtime/config/filter_config.h"

#include <stdexcept>

#include "runtime/config/yaml_scalar.h"

namespace inlet::runtime {
namespace {

Scalar read_scalar(const YAML::Node& node, const std::string& path) {
  if (node.IsDefined() && !node.IsNull() && !node.IsScalar()) {
    throw ConfigError(path, "must be a JSON scalar (string, number, boolean or null)",
                      line_of(node));
  }
  return resolve_scalar(node);
}

const std::vector<std::string> kOperators = {
    "json_key_equals", "json_key_in", "json_key_exists", "step_id", "all", "any", "not"};

// Chat-bot platforms route "step reached" events by the step: `step_id: ID` or `step_id: [IDs]`
// is json_key_in on data.step.id.
std::unique_ptr<Filter> compile_step_id(const YAML::Node& ids, const std::string& path) {
  std::vector<Scalar> values;
  if (ids.IsSequence()) {
    if (ids.size() == 0) {
      throw ConfigError(path, "must be a step id or a non-empty list of them", line_of(ids));
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
      values.push_back(read_scalar(ids[i], path + "[" + std::to_string(i) + "]"));
    }
  } else {
    if (!ids.IsScalar()) {
      throw ConfigError(path, "must be a step id or a non-empty list of them", line_of(ids));
    }
    values.push_back(read_scalar(ids, path));
  }
  return make_key_in(KeyPath("data.step.id"), std::move(values));
}

std::vector<std::unique_ptr<Filter>> compile_list(ConfigMap& filter, const std::string& op) {
  YAML::Node list = filter.raw(op);
  const std::string path = filter.path_of(op);
  if (!list.IsSequence() || list.size() == 0) {
    throw ConfigError(path, "must be a non-empty list of filters", line_of(list));
  }
  std::vector<std::unique_ptr<Filter>> children;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = path + "[" + std::to_string(i) + "]";
    if (!list[i].IsMap())
      throw ConfigError(item_path, "must be a filter mapping", line_of(list[i]));
    ConfigMap child(list[i], item_path);
    children.push_back(compile_filter(child));
  }
  return children;
}

}  // namespace

KeyPath key_path_at(std::string_view dotted, const std::string& config_path) {
  try {
    return KeyPath(dotted);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(config_path, e.what());
  }
}

std::unique_ptr<Filter> compile_filter(ConfigMap& filter) {
  const YAML::Node& node = filter.node();
  if (!node.IsMap() || node.size() != 1) {
    std::string list;
    for (const std::string& op : kOperators) list += (list.empty() ? "" : ", ") + op;
    throw ConfigError(filter.path(), "must hold exactly one operator: " + list, line_of(node));
  }
  const std::string op = node.begin()->first.Scalar();
  const std::string path = filter.path_of(op);
  std::unique_ptr<Filter> compiled;
  if (op == "json_key_equals" || op == "json_key_in") {
    ConfigMap args = filter.map(op);
    const std::string key = args.required_string("key");
    KeyPath key_path = key_path_at(key, args.path_of("key"));
    if (op == "json_key_equals") {
      if (!args.node().IsMap() || !args.node()["value"].IsDefined())
        args.fail("value", "is required");
      Scalar value = read_scalar(args.raw("value"), args.path_of("value"));
      compiled = make_key_equals(std::move(key_path), std::move(value));
    } else {
      YAML::Node list = args.raw("values");
      if (!list.IsSequence() || list.size() == 0)
        args.fail("values", "must be a non-empty list of scalars");
      std::vector<Scalar> values;
      for (std::size_t i = 0; i < list.size(); ++i) {
        values.push_back(
            read_scalar(list[i], args.path_of("values") + "[" + std::to_string(i) + "]"));
      }
      compiled = make_key_in(std::move(key_path), std::move(values));
    }
    args.finish();
  } else if (op == "json_key_exists") {
    YAML::Node key = filter.raw(op);
    if (!key.IsScalar()) throw ConfigError(path, "must be a dotted key path", line_of(key));
    compiled = make_key_exists(key_path_at(key.Scalar(), path));
  } else if (op == "step_id") {
    compiled = compile_step_id(filter.raw(op), path);
  } else if (op == "all") {
    compiled = make_all_of(compile_list(filter, op));
  } else if (op == "any") {
    compiled = make_any_of(compile_list(filter, op));
  } else if (op == "not") {
    ConfigMap child = filter.map(op);
    if (!child.node().IsMap()) throw ConfigError(path, "must be a filter mapping", line_of(node));
    compiled = make_not(compile_filter(child));
  } else {
    std::string list;
    for (const std::string& name : kOperators) list += (list.empty() ? "" : ", ") + name;
    throw ConfigError(path, "unknown filter operator; expected one of " + list,
                      line_of(node.begin()->first));
  }
  filter.finish();
  return compiled;
}

}  // namespace inlet::runtime
