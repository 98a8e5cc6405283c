#include "codecs/json_validator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "allocation_counter.h"
#include "codec_test_util.h"

namespace inlet::codecs {
namespace {

using testing::corpus;

// A body as the decoder hands it over: followed by simdjson's padding.
std::string padded(std::string_view body) {
  std::string s;
  s.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  s.assign(body);
  return s;
}

TEST(JsonValidator, AcceptsEveryCorpusPayload) {
  JsonValidator validator;
  for (const auto& payload : corpus()) {
    const std::string body = padded(payload.body);
    ASSERT_TRUE(validator.validate(body)) << payload.name << ": " << validator.error();
    EXPECT_TRUE(validator.error().empty());
    EXPECT_TRUE(validator.root().is_object()) << payload.name;
  }
}

TEST(JsonValidator, AcceptsAnyValueWithWhitespaceAroundIt) {
  JsonValidator validator;
  for (const char* body :
       {"{}", "[]", "0", "-0", "1.5e-3", "\"x\"", "true", "false", "null",
        " \t\r\n{\"a\": [1, 2, {\"b\": null}]} \n", "\"\\uD83D\\uDE00 \xC3\xA9\"",
        "18446744073709551615", "-9223372036854775808", "1e-400", "123456789012345678901.5"}) {
    EXPECT_TRUE(validator.validate(padded(body))) << body << ": " << validator.error();
  }
}

struct Invalid {
  std::string body;
  std::string error;
};

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonValidator, SaysWhatIsWrongAndWhere) {
  const Invalid cases[] = {
      {"", "invalid JSON: empty body"},
      {"  \n ", "invalid JSON: unexpected end of input at byte 4"},
      {"{} {}", "invalid JSON: trailing data after the value at byte 3"},
      {"1 2", "invalid JSON: trailing data after the value at byte 2"},
      {"{\"a\":1}\n\x01", "invalid JSON: trailing data after the value at byte 8"},
      {"{\"a\":1,}", "invalid JSON: unexpected character at line 1 column 8 (byte 7)"},
      {"{\n  \"a\": [1, 2,\n    x]\n}",
       "invalid JSON: unexpected character at line 3 column 5 (byte 20)"},
      {"[1, 2", "invalid JSON: unexpected end of input at byte 5"},
      {"{\"a\":", "invalid JSON: unexpected end of input at byte 5"},
      {"\"abc", "invalid JSON: unexpected end of input at byte 4"},
      {"[1 2]", "invalid JSON: unexpected character at line 1 column 4 (byte 3)"},
      {"{\"a\" 1}", "invalid JSON: unexpected character at line 1 column 6 (byte 5)"},
      {"{1:2}", "invalid JSON: unexpected character at line 1 column 2 (byte 1)"},
      {"[1,]", "invalid JSON: unexpected character at line 1 column 4 (byte 3)"},
      {"'a'", "invalid JSON: unexpected character at line 1 column 1 (byte 0)"},
      {"\"abc\xFF\"", "invalid JSON: invalid UTF-8 at byte 4"},
      {"[\"\xC3\"]", "invalid JSON: invalid UTF-8 at byte 2"},
      {"\"\xED\xA0\x80\"", "invalid JSON: invalid UTF-8 at byte 1"},
      {"\"\xC0\xAF\"", "invalid JSON: invalid UTF-8 at byte 1"},
      {"\xFF", "invalid JSON: invalid UTF-8 at byte 0"},
      {"\xEF\xBB\xBF{}", "invalid JSON: unexpected character at line 1 column 1 (byte 0)"},
      {"\"a\x01\"", "invalid JSON: control character in string at line 1 column 3 (byte 2)"},
      {"[\"a\tb\"]", "invalid JSON: control character in string at line 1 column 4 (byte 3)"},
      {"\"\\x\"", "invalid JSON: invalid escape at line 1 column 2 (byte 1)"},
      {"\"\\u12G4\"", "invalid JSON: invalid escape at line 1 column 2 (byte 1)"},
      {"\"\\uD800\"", "invalid JSON: invalid escape at line 1 column 2 (byte 1)"},
      {"\"\\uDC00\"", "invalid JSON: invalid escape at line 1 column 2 (byte 1)"},
      {"01", "invalid JSON: invalid number at line 1 column 2 (byte 1)"},
      {"[1.]", "invalid JSON: invalid number at line 1 column 4 (byte 3)"},
      {"-", "invalid JSON: unexpected end of input at byte 1"},
      {"[-x]", "invalid JSON: invalid number at line 1 column 3 (byte 2)"},
      {"1e", "invalid JSON: unexpected end of input at byte 2"},
      {"18446744073709551616", "invalid JSON: number out of range at line 1 column 1 (byte 0)"},
      {"[-9223372036854775809]", "invalid JSON: number out of range at line 1 column 2 (byte 1)"},
      {"1.8e308", "invalid JSON: number out of range at line 1 column 1 (byte 0)"},
      {"nul", "invalid JSON: unexpected end of input at byte 3"},
      {"truex", "invalid JSON: unexpected character at line 1 column 5 (byte 4)"},
      {"[tru]", "invalid JSON: unexpected character at line 1 column 5 (byte 4)"},
      {"NaN", "invalid JSON: unexpected character at line 1 column 1 (byte 0)"},
      {"{\"a\":1}}", "invalid JSON: trailing data after the value at byte 7"},
      {nested(1025), "invalid JSON: nesting too deep at line 1 column 1025 (byte 1024)"},
  };
  JsonValidator validator;
  for (const Invalid& c : cases) {
    EXPECT_FALSE(validator.validate(padded(c.body))) << c.body;
    EXPECT_EQ(validator.error(), c.error) << c.body;
  }
}

TEST(JsonValidator, AcceptsTheDeepestNestingItAllows) {
  JsonValidator validator;
  EXPECT_TRUE(validator.validate(padded(nested(1024)))) << validator.error();
}

TEST(JsonValidator, NeverEchoesTheBodyInTheError) {
  JsonValidator validator;
  const std::string long_line(5000, ' ');
  for (std::string body : {std::string("{\"password\": \"hunter2\" x}"),
                           std::string("{\"password\": \"hunter2\x01\"}"),
                           long_line + "{\"password\": hunter2}" + long_line}) {
    ASSERT_FALSE(validator.validate(padded(body)));
    EXPECT_EQ(std::string(validator.error()).find("hunter2"), std::string::npos);
    EXPECT_EQ(std::string(validator.error()).find("password"), std::string::npos);
    EXPECT_LT(validator.error().size(), 120u);
  }
}

// Every way of breaking a real payload must be reported with a place, never with simdjson's bare
// message: the scanner agrees with simdjson on what is invalid.
TEST(JsonValidator, LocatesTheErrorInDamagedCorpusPayloads) {
  JsonValidator validator;
  std::size_t checked = 0;
  // Every payload of the generated set (49), every seventh beyond it (the corpus, where present).
  for (std::size_t n = 0; n < corpus().size(); n += n < 49 ? 1 : 7) {
    const std::string& body = corpus()[n].body;
    for (std::size_t cut : {body.size() / 3, body.size() / 2, body.size() - 2}) {
      std::vector<std::string> broken = {body.substr(0, cut), body.substr(0, cut) + "\x80",
                                         body.substr(0, cut) + "," + body.substr(cut),
                                         body.substr(0, cut) + "\x01" + body.substr(cut),
                                         body + body.substr(cut)};
      for (const std::string& b : broken) {
        if (validator.validate(padded(b))) continue;
        ++checked;
        const std::string error(validator.error());
        EXPECT_NE(error.find("byte "), std::string::npos) << corpus()[n].name << ": " << error;
      }
    }
  }
  EXPECT_GE(checked, 49u * 3 * 2);  // a stray 0x80 and a raw 0x01 are invalid at any cut
}

TEST(JsonValidator, ParsesAPaddedBufferInPlaceWithoutAllocating) {
  JsonValidator validator;
  const std::string body = padded(corpus().front().body);
  ASSERT_TRUE(validator.validate(body));  // sizes the parser
  testing::start_counting_allocations();
  const bool valid = validator.validate(body);
  const testing::AllocationStats stats = testing::stop_counting_allocations();
  EXPECT_TRUE(valid);
  EXPECT_EQ(stats.count, 0u);
}

TEST(JsonValidator, CopiesABufferWithoutPadding) {
  JsonValidator validator;
  const std::string& source = corpus().front().body;
  std::vector<char> exact(source.begin(), source.end());
  exact.shrink_to_fit();
  ASSERT_TRUE(validator.validate(padded(source)));  // sizes the parser
  testing::start_counting_allocations();
  const bool valid = validator.validate(exact.data(), exact.size(), exact.size());
  const testing::AllocationStats stats = testing::stop_counting_allocations();
  EXPECT_TRUE(valid);
  EXPECT_GE(stats.largest, exact.size() + simdjson::SIMDJSON_PADDING);
}

TEST(JsonValidator, ClearsTheErrorAfterAValidBody) {
  JsonValidator validator;
  EXPECT_FALSE(validator.validate(padded("{")));
  EXPECT_FALSE(validator.error().empty());
  EXPECT_TRUE(validator.validate(padded("{\"a\":1}")));
  EXPECT_TRUE(validator.error().empty());
  EXPECT_EQ(int64_t(validator.root()["a"]), 1);
}

}  // namespace
}  // namespace inlet::codecs
