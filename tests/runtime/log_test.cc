#include "runtime/log.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>

namespace inlet::runtime {
namespace {

std::string escaped(std::string_view text) {
  std::string out = "prefix:";
  append_json_escaped(out, text);
  return out;
}

// What a JSON parser reads back from append_json_string's output.
std::string parsed_back(std::string_view text) {
  std::string json;
  append_json_string(json, text);
  simdjson::dom::parser parser;
  std::string_view value;
  EXPECT_EQ(parser.parse(simdjson::padded_string(json)).get_string().get(value), simdjson::SUCCESS)
      << json;
  return std::string(value);
}

TEST(JsonEscape, PlainTextIsAppendedAsIs) {
  EXPECT_EQ(escaped(""), "prefix:");
  EXPECT_EQ(escaped("push"), "prefix:push");
  EXPECT_EQ(escaped("application/vnd.github+json; charset=utf-8"),
            "prefix:application/vnd.github+json; charset=utf-8");
  EXPECT_EQ(escaped("caf\xc3\xa9 \xf0\x9f\x9a\x80"), "prefix:caf\xc3\xa9 \xf0\x9f\x9a\x80");
}

TEST(JsonEscape, QuotesBackslashesAndControlsAreEscapedWhereverTheyAre) {
  EXPECT_EQ(escaped("\"a\\b\""), "prefix:\\\"a\\\\b\\\"");
  EXPECT_EQ(escaped("\n"), "prefix:\\n");
  EXPECT_EQ(escaped("a\r\nb\tc"), "prefix:a\\r\\nb\\tc");
  EXPECT_EQ(escaped(std::string_view("x\0y", 3)), "prefix:x\\u0000y");
  EXPECT_EQ(escaped("\x1f\x01"), "prefix:\\u001f\\u0001");
  EXPECT_EQ(escaped("end\x7f"), "prefix:end\x7f");
}

TEST(JsonEscape, EveryByteRoundTripsThroughAJsonParser) {
  std::string all_ascii;
  for (int c = 0; c < 0x80; ++c) all_ascii += static_cast<char>(c);
  EXPECT_EQ(parsed_back(all_ascii), all_ascii);
  const std::string mixed = "\"tracking\\id\"\x02 caf\xc3\xa9\n";
  EXPECT_EQ(parsed_back(mixed), mixed);
}

}  // namespace
}  // namespace inlet::runtime
