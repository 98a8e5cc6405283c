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

using Names = std::vector<std::string_view>;

// The registry names of the parsed codings.
Names items(const EncodingList& list) {
  Names names;
  for (std::size_t i = 0; i < list.size; ++i) names.push_back(list.items[i]->name);
  return names;
}

TEST(ParseContentEncoding, ReadsSingleCodingsCaseInsensitively) {
  struct Case {
    const char* header;
    Names expected;
  };
  const Case cases[] = {
      {"", {}},
      {"   ", {}},
      {"identity", {}},
      {"IDENTITY", {}},
      {"gzip", {"gzip"}},
      {"GZip", {"gzip"}},
      {"x-gzip", {"gzip"}},
      {"X-Gzip", {"gzip"}},
      {"deflate", {"deflate"}},
      {"Deflate", {"deflate"}},
      {"br", {"br"}},
      {"BR", {"br"}},
      {" gzip\t", {"gzip"}},
      {"zstd", {"zstd"}},
      {"ZStd", {"zstd"}},
  };
  for (const Case& c : cases) {
    const auto parsed = parse_content_encoding(c.header);
    ASSERT_TRUE(parsed.has_value()) << c.header;
    EXPECT_EQ(items(*parsed), c.expected) << c.header;
  }
}

TEST(ParseContentEncoding, KeepsListsInTheOrderTheyWereApplied) {
  EXPECT_EQ(items(*parse_content_encoding("gzip, br")),
            (Names{"gzip", "br"}));
  EXPECT_EQ(items(*parse_content_encoding("br,gzip")),
            (Names{"br", "gzip"}));
  EXPECT_EQ(items(*parse_content_encoding("deflate ,\tgzip , br")),
            (Names{"deflate", "gzip", "br"}));
  EXPECT_EQ(items(*parse_content_encoding("identity, gzip, identity")),
            (Names{"gzip"}));
  // RFC 9110 5.6.1: empty list elements are ignored.
  EXPECT_EQ(items(*parse_content_encoding("gzip,, br,")),
            (Names{"gzip", "br"}));
  EXPECT_EQ(parse_content_encoding("gzip, gzip, gzip, gzip")->size, 4u);
}

TEST(ParseContentEncoding, RejectsUnknownCodingsAndLongLists) {
  for (const char* header :
       {"compress", "x-compress", "gzip, compress", "gzip br", "zstd;level=3", "x-zstd", "gzip;q=1", "gzi", "gzipx", "x-deflate",
        "brotli", "*", "gzip, gzip, gzip, gzip, gzip", "br, br, br, br, br, identity"}) {
    EXPECT_FALSE(parse_content_encoding(header).has_value()) << header;
  }
}

}  // namespace
}  // namespace inlet::codecs
