#include "runtime/config/filter_config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <deque>
#include <stdexcept>
#include <string>

#include "test_payloads.h"

namespace inlet::runtime {
namespace {

struct FilterCase {
  const char* yaml;
  bool expected;
};

std::unique_ptr<Filter> compile(const std::string& yaml) {
  ConfigMap map(YAML::Load(yaml), "edges[0].filter");
  return compile_filter(map);
}

// The check_run event, parsed once: the generated one (tests/payload_generator.py writes it with
// these values), and GitHub's own where the corpus is present.
struct CheckRunDocuments {
  CheckRunDocuments() {
    add("generated", inlet::testing::generated_payload("check_run-completed.json").body);
    const auto github =
        inlet::testing::load_payload_dir(INLET_CORPUS_DIR, "github");
    for (const auto& p : github) {
      if (p.name == "github/check_run__completed.payload.json") add(p.name, p.body);
    }
  }
  void add(std::string name, const std::string& body) {
    auto& d = documents.emplace_back();
    d.name = std::move(name);
    d.json = simdjson::padded_string(body);
    if (d.parser.parse(d.json).get(d.root) != simdjson::SUCCESS) throw std::runtime_error("parse " + d.name);
  }
  struct Document {
    std::string name;
    simdjson::padded_string json;
    simdjson::dom::parser parser;
    simdjson::dom::element root;
  };
  std::deque<Document> documents;  // a deque: elements point into their own parser
};

const CheckRunDocuments& check_runs() {
  static const CheckRunDocuments instance;
  return instance;
}

class FilterOnCorpus : public ::testing::TestWithParam<FilterCase> {};

TEST_P(FilterOnCorpus, MatchesAsExpected) {
  const FilterCase& c = GetParam();
  auto filter = compile(c.yaml);
  for (const auto& document : check_runs().documents) {
    EXPECT_EQ(filter->matches(document.root), c.expected) << c.yaml << " on " << document.name;
  }
}

// check_run__completed: action "completed", check_run.id 128620228, check_run.conclusion "success",
// check_run.pull_requests[0].number 2, repository.private false, repository.license null,
// check_run.output.annotations_count 0, sender.site_admin false.
INSTANTIATE_TEST_SUITE_P(
    Operators, FilterOnCorpus,
    ::testing::Values(
        FilterCase{"json_key_equals: {key: action, value: completed}", true},
        FilterCase{"json_key_equals: {key: action, value: created}", false},
        FilterCase{"json_key_equals: {key: check_run.conclusion, value: success}", true},
        FilterCase{"json_key_equals: {key: check_run.id, value: 128620228}", true},
        FilterCase{"json_key_equals: {key: check_run.id, value: 128620228.0}", true},
        FilterCase{"json_key_equals: {key: check_run.id, value: 1.2862022800e8}", true},
        FilterCase{"json_key_equals: {key: check_run.id, value: '128620228'}", false},
        FilterCase{"json_key_equals: {key: check_run.id, value: 128620229}", false},
        FilterCase{"json_key_equals: {key: check_run.pull_requests.0.number, value: 2}", true},
        FilterCase{"json_key_equals: {key: check_run.pull_requests.0.head.ref, value: changes}",
                   true},
        FilterCase{"json_key_equals: {key: check_run.pull_requests.1.number, value: 2}", false},
        FilterCase{"json_key_equals: {key: repository.private, value: false}", true},
        FilterCase{"json_key_equals: {key: repository.private, value: 'false'}", false},
        FilterCase{"json_key_equals: {key: repository.private, value: true}", false},
        FilterCase{"json_key_equals: {key: repository.license, value: null}", true},
        FilterCase{"json_key_equals: {key: repository.license, value: ~}", true},
        FilterCase{"json_key_equals: {key: repository.license, value: 'null'}", false},
        FilterCase{"json_key_equals: {key: repository.missing, value: null}", false},
        FilterCase{"json_key_equals: {key: check_run.output.annotations_count, value: 0}", true},
        FilterCase{"json_key_equals: {key: check_run, value: completed}", false},
        FilterCase{"json_key_in: {key: action, values: [created, completed]}", true},
        FilterCase{"json_key_in: {key: action, values: [created, rerequested]}", false},
        FilterCase{"json_key_in: {key: check_run.id, values: [1, 128620228]}", true},
        FilterCase{"json_key_exists: check_run.pull_requests.0.base.repo.id", true},
        FilterCase{"json_key_exists: check_run.pull_requests.5", false},
        FilterCase{"json_key_exists: repository.license", true},
        FilterCase{"json_key_exists: action.0", false},
        FilterCase{"json_key_exists: data.step.id", false},
        FilterCase{"all: [{json_key_exists: action}, {json_key_equals: {key: sender.site_admin, "
                   "value: false}}]",
                   true},
        FilterCase{"all: [{json_key_exists: action}, {json_key_exists: nope}]", false},
        FilterCase{
            "any: [{json_key_exists: nope}, {json_key_equals: {key: action, value: completed}}]",
            true},
        FilterCase{"any: [{json_key_exists: nope}, {json_key_exists: nope2}]", false},
        FilterCase{"not: {json_key_exists: nope}", true},
        FilterCase{"not: {any: [{json_key_exists: action}, {json_key_exists: nope}]}", false}));

TEST(StepIdFilter, IsJsonKeyInOnDataStepId) {
  simdjson::dom::parser parser;
  const auto matches = [&](const std::string& yaml, const std::string& body) {
    simdjson::dom::element root;
    EXPECT_EQ(parser.parse(simdjson::padded_string(body)).get(root), simdjson::SUCCESS);
    return compile(yaml)->matches(root);
  };
  const std::string welcome = R"({"type": "step", "data": {"step": {"id": "welcome"}}})";
  const std::string numbered = R"({"data": {"step": {"id": 7}}})";
  EXPECT_TRUE(matches("step_id: welcome", welcome));
  EXPECT_FALSE(matches("step_id: goodbye", welcome));
  EXPECT_TRUE(matches("step_id: [goodbye, welcome]", welcome));
  EXPECT_TRUE(matches("step_id: 7", numbered));
  EXPECT_FALSE(matches("step_id: '7'", numbered));
  EXPECT_FALSE(matches("step_id: welcome", R"({"data": {"step": {}}})"));
  EXPECT_TRUE(matches("not: {step_id: [a, b]}", welcome));
}

struct NumberCase {
  const char* json;
  const char* value;
  bool expected;
};

class FilterNumbers : public ::testing::TestWithParam<NumberCase> {};

TEST_P(FilterNumbers, CompareNumericallyAcrossRepresentations) {
  const NumberCase& c = GetParam();
  auto filter = compile(std::string("json_key_equals: {key: n, value: ") + c.value + "}");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(simdjson::padded_string(std::string("{\"n\": ") + c.json + "}")).get(root),
            simdjson::SUCCESS);
  EXPECT_EQ(filter->matches(root), c.expected) << c.json << " vs " << c.value;
}

INSTANTIATE_TEST_SUITE_P(
    Numbers, FilterNumbers,
    ::testing::Values(NumberCase{"3", "3", true}, NumberCase{"3.0", "3", true},
                      NumberCase{"3", "3.0", true}, NumberCase{"3.5", "3", false},
                      NumberCase{"3.5", "3.5", true}, NumberCase{"-7", "-7", true},
                      NumberCase{"30", "3e1", true}, NumberCase{"31", "0x1f", true},
                      NumberCase{"18446744073709551615", "18446744073709551615", true},
                      NumberCase{"18446744073709551615", "-1", false},
                      NumberCase{"9007199254740993", "9007199254740992", false},
                      NumberCase{"\"3\"", "3", false}, NumberCase{"true", "1", false},
                      NumberCase{"[3]", "3", false}));

struct ErrorCase {
  const char* yaml;
  const char* path;  // the key path the error must name
};

class FilterErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(FilterErrors, NameTheKeyPath) {
  const ErrorCase& c = GetParam();
  try {
    compile(c.yaml);
    FAIL() << "compiled: " << c.yaml;
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.path(), c.path) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    StepId, FilterErrors,
    ::testing::Values(ErrorCase{"step_id: []", "edges[0].filter.step_id"},
                      ErrorCase{"step_id: {id: 1}", "edges[0].filter.step_id"},
                      ErrorCase{"step_id: [a, [b]]", "edges[0].filter.step_id[1]"}));

INSTANTIATE_TEST_SUITE_P(
    Config, FilterErrors,
    ::testing::Values(
        ErrorCase{"{}", "edges[0].filter"},
        ErrorCase{"{json_key_exists: a, not: {json_key_exists: b}}", "edges[0].filter"},
        ErrorCase{"json_key_matches: {key: a}", "edges[0].filter.json_key_matches"},
        ErrorCase{"json_key_equals: {value: 1}", "edges[0].filter.json_key_equals.key"},
        ErrorCase{"json_key_equals: {key: a}", "edges[0].filter.json_key_equals.value"},
        ErrorCase{"json_key_equals: {key: a, value: [1]}", "edges[0].filter.json_key_equals.value"},
        ErrorCase{"json_key_equals: {key: a, value: 1, extra: 2}",
                  "edges[0].filter.json_key_equals.extra"},
        ErrorCase{"json_key_equals: {key: a..b, value: 1}", "edges[0].filter.json_key_equals.key"},
        ErrorCase{"json_key_in: {key: a, values: []}", "edges[0].filter.json_key_in.values"},
        ErrorCase{"json_key_in: {key: a, values: [1, {x: 2}]}",
                  "edges[0].filter.json_key_in.values[1]"},
        ErrorCase{"json_key_exists: ''", "edges[0].filter.json_key_exists"},
        ErrorCase{"json_key_exists: [a]", "edges[0].filter.json_key_exists"},
        ErrorCase{"all: []", "edges[0].filter.all"},
        ErrorCase{"all: [{json_key_exists: a}, 3]", "edges[0].filter.all[1]"},
        ErrorCase{"any: [{json_key_exists: a}, {bogus: 1}]", "edges[0].filter.any[1].bogus"},
        ErrorCase{"not: {}", "edges[0].filter.not"}));

}  // namespace
}  // namespace inlet::runtime
