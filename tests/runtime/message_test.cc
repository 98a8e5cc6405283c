// The message schema's two directions: a Message as attributes JSON, and what a queue carried
// (Kafka headers, Redis fields) read back into the same JSON.
#include "runtime/message.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace inlet::runtime {
namespace {

TEST(MessageAttributes, ReadBackFromFieldsInSchemaOrder) {
  const std::vector<AttributeField> fields = {
      {"node", "n"}, {"tracking_id", "t"}, {"user", ""}, {"received_at", "r"},
      {"message_type", "m"}, {"content_type", "c"}, {"x-other", "ignored"}, {"scopes", R"(["a","b \"c\""])"}};
  std::string out;
  append_attributes_json(out, fields);
  EXPECT_EQ(out, R"({"tracking_id":"t","received_at":"r","message_type":"m","node":"n","content_type":"c",)"
                 R"("scopes":["a","b \"c\""]})");
}

TEST(MessageAttributes, AForeignWritersMalformedScopesAreLeftOut) {
  for (const char* scopes : {"[1,2]", "[\"a\"", "{}", "read,write", "[]"}) {
    const std::vector<AttributeField> fields = {{"tracking_id", "t"}, {"scopes", scopes}};
    std::string out;
    append_attributes_json(out, fields);
    EXPECT_EQ(out, R"({"tracking_id":"t"})") << scopes;
  }
  std::string empty;
  append_attributes_json(empty, std::vector<AttributeField>{});
  EXPECT_EQ(empty, "{}");
}

}  // namespace
}  // namespace inlet::runtime
