#include "codecs/content_type.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace inlet::codecs {
namespace {

TEST(IsJsonMediaType, AcceptsJsonAndStructuredJsonSuffixes) {
  for (const char* type : {
           "application/json",
           "APPLICATION/JSON",
           "Application/Json",
           "application/json; charset=utf-8",
           "application/json;charset=UTF-8",
           "application/json ; charset=utf-8",
           "  application/json  ",
           "\tapplication/json",
           "application/vnd.github+json",
           "application/VND.GITHUB+JSON",
           "application/ld+json; profile=\"x\"",
           "application/cloudevents+json; charset=utf-8",
           "text/foo+json",
           "application/problem+json",
       }) {
    EXPECT_TRUE(is_json_media_type(type)) << type;
  }
}

TEST(IsJsonMediaType, RejectsEverythingElse) {
  for (const char* type : {
           "",
           " ",
           "text/plain",
           "application/jsonx",
           "application/xjson",
           "application/json+xml",
           "application/+json",
           "/vnd+json",
           "+json",
           "application/",
           "application",
           "json",
           "application/json/x",
           "application /json",
           "application/ json",
           "application/x-www-form-urlencoded",
           "multipart/form-data; boundary=json",
           "text/json+",
           ";application/json",
       }) {
    EXPECT_FALSE(is_json_media_type(type)) << '"' << type << '"';
  }
}

std::vector<Encoding> items(const EncodingList& list) {
  return {list.items.begin(), list.items.begin() + list.size};
}

TEST(ParseContentEncoding, ReadsSingleCodingsCaseInsensitively) {
  struct Case {
    const char* header;
    std::vector<Encoding> expected;
  };
  const Case cases[] = {
      {"", {}},
      {"   ", {}},
      {"identity", {}},
      {"IDENTITY", {}},
      {"gzip", {Encoding::kGzip}},
      {"GZip", {Encoding::kGzip}},
      {"x-gzip", {Encoding::kGzip}},
      {"X-Gzip", {Encoding::kGzip}},
      {"deflate", {Encoding::kDeflate}},
      {"Deflate", {Encoding::kDeflate}},
      {"br", {Encoding::kBrotli}},
      {"BR", {Encoding::kBrotli}},
      {" gzip\t", {Encoding::kGzip}},
  };
  for (const Case& c : cases) {
    const auto parsed = parse_content_encoding(c.header);
    ASSERT_TRUE(parsed.has_value()) << c.header;
    EXPECT_EQ(items(*parsed), c.expected) << c.header;
  }
}

TEST(ParseContentEncoding, KeepsListsInTheOrderTheyWereApplied) {
  EXPECT_EQ(items(*parse_content_encoding("gzip, br")),
            (std::vector{Encoding::kGzip, Encoding::kBrotli}));
  EXPECT_EQ(items(*parse_content_encoding("br,gzip")),
            (std::vector{Encoding::kBrotli, Encoding::kGzip}));
  EXPECT_EQ(items(*parse_content_encoding("deflate ,\tgzip , br")),
            (std::vector{Encoding::kDeflate, Encoding::kGzip, Encoding::kBrotli}));
  EXPECT_EQ(items(*parse_content_encoding("identity, gzip, identity")),
            (std::vector{Encoding::kGzip}));
  // RFC 9110 5.6.1: empty list elements are ignored.
  EXPECT_EQ(items(*parse_content_encoding("gzip,, br,")),
            (std::vector{Encoding::kGzip, Encoding::kBrotli}));
  EXPECT_EQ(parse_content_encoding("gzip, gzip, gzip, gzip")->size, 4u);
}

TEST(ParseContentEncoding, RejectsUnknownCodingsAndLongLists) {
  for (const char* header :
       {"compress", "zstd", "gzip, zstd", "gzip br", "gzip;q=1", "gzi", "gzipx", "x-deflate",
        "brotli", "*", "gzip, gzip, gzip, gzip, gzip", "br, br, br, br, br, identity"}) {
    EXPECT_FALSE(parse_content_encoding(header).has_value()) << header;
  }
}

}  // namespace
}  // namespace inlet::codecs
