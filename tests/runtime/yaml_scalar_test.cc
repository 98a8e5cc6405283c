#include "runtime/config/yaml_scalar.h"

#include <gtest/gtest.h>

namespace inlet::runtime {
namespace {

// `value: <text>` in YAML, typed by the one rule, written as JSON.
std::string typed(const std::string& text) {
  const YAML::Node doc = YAML::Load("value: " + text);
  std::string out;
  append_scalar_json(out, resolve_scalar(doc["value"]));
  return out;
}

struct Case {
  const char* yaml;
  const char* json;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << "value: " << c.yaml; }

class YamlScalar : public ::testing::TestWithParam<Case> {};

TEST_P(YamlScalar, FollowsTheYaml12CoreSchema) {
  EXPECT_EQ(typed(GetParam().yaml), GetParam().json) << GetParam().yaml;
}

INSTANTIATE_TEST_SUITE_P(
    Core, YamlScalar,
    ::testing::Values(
        Case{"", "null"}, Case{"~", "null"}, Case{"null", "null"}, Case{"NULL", "null"},
        Case{"true", "true"}, Case{"False", "false"}, Case{"TRUE", "true"},
        Case{"yes", "\"yes\""}, Case{"3", "3"}, Case{"-7", "-7"}, Case{"+5", "5"}, Case{"-0", "0"},
        Case{"0x1f", "31"}, Case{"0o17", "15"}, Case{"-0x10", "\"-0x10\""},
        Case{"+-5", "\"+-5\""}, Case{"9223372036854775807", "9223372036854775807"},
        Case{"-9223372036854775808", "-9223372036854775808"},
        Case{"18446744073709551615", "18446744073709551615"}, Case{"3.0", "3.0"},
        Case{"1e3", "1000.0"}, Case{".5", "0.5"}, Case{"-2.5e-3", "-0.0025000000000000001"},
        Case{"0.1", "0.10000000000000001"}, Case{"99999999999999999999", "1e+20"},
        Case{".inf", "\".inf\""}, Case{"inf", "\"inf\""}, Case{"nan", "\"nan\""},
        Case{"1_000", "\"1_000\""}, Case{"'3'", "\"3\""}, Case{"\"true\"", "\"true\""},
        Case{"'null'", "\"null\""}, Case{"a \"quoted\" word", "\"a \\\"quoted\\\" word\""}));

}  // namespace
}  // namespace inlet::runtime
