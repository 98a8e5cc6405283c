#include "runtime/route/filter.h"

#include <gtest/gtest.h>

namespace inlet::runtime {
namespace {

// KeyPath::text_at is what a keyed edge (kafka's `key:`) partitions by.
TEST(KeyPathText, IsAStringsTextOrTheValuesMinifiedJson) {
  simdjson::dom::parser parser;
  const simdjson::padded_string body(std::string(
      R"({"repository": {"id": 1296269, "full_name": "octo\u0063at/Hello", "big": 18446744073709551615,)"
      R"( "score": 1.50, "topics": [ "a", 2 ], "owner": { "login": "o" }, "empty": "", "none": null},)"
      R"( "commits": [{"id": "c0"}, {"id": "c1"}]})"));
  simdjson::dom::element root = parser.parse(body);
  struct Case {
    const char* path;
    bool found;
    const char* text;
  };
  const Case cases[] = {
      {"repository.full_name", true, "octocat/Hello"},  // unescaped
      {"repository.id", true, "1296269"},
      {"repository.big", true, "18446744073709551615"},
      {"repository.score", true, "1.5"},
      {"repository.topics", true, R"(["a",2])"},
      {"repository.owner", true, R"({"login":"o"})"},
      {"repository.none", true, "null"},
      {"commits.1.id", true, "c1"},
      {"repository.empty", false, ""},  // an empty key is no key: the queue falls back
      {"repository.missing", false, ""},
      {"commits.2.id", false, ""},
  };
  std::string out = "stale";
  for (const Case& c : cases) {
    EXPECT_EQ(KeyPath(c.path).text_at(root, out), c.found) << c.path;
    EXPECT_EQ(out, c.text) << c.path;
  }
}

}  // namespace
}  // namespace inlet::runtime
