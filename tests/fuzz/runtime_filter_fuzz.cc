// libFuzzer target: the routing filter compiler and evaluator. The input is a YAML filter, a NUL
// byte, then a JSON document. A filter either compiles or is refused with a ConfigError naming its
// key path; a compiled filter evaluates any valid document without crashing, and the same way twice.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runtime/config/config_reader.h"
#include "runtime/config/filter_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static simdjson::dom::parser parser;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string yaml(input.substr(0, nul));
  const std::string_view json = nul == std::string_view::npos ? std::string_view("{}") : input.substr(nul + 1);
  std::unique_ptr<inlet::runtime::Filter> filter;
  try {
    inlet::runtime::ConfigMap map(YAML::Load(yaml), "edges[0].filter");
    filter = inlet::runtime::compile_filter(map);
  } catch (const inlet::runtime::ConfigError& e) {
    if (e.path().rfind("edges[0].filter", 0) != 0) std::abort();  // must name where it is
    return 0;
  } catch (const YAML::Exception&) {
    return 0;  // not YAML: the config loader reports it with its line
  }
  if (!filter) std::abort();
  simdjson::dom::element root;
  if (parser.parse(simdjson::padded_string(json)).get(root) != simdjson::SUCCESS) return 0;
  if (filter->matches(root) != filter->matches(root)) std::abort();
  return 0;
}
