#include "codecs/form.h"

#include <gtest/gtest.h>

#include "codecs/content_type.h"

namespace inlet::codecs {
namespace {

TEST(FormMediaType, IsUrlencodedCaseInsensitiveWithParameters) {
  EXPECT_TRUE(is_form_media_type("application/x-www-form-urlencoded"));
  EXPECT_TRUE(is_form_media_type("Application/X-WWW-Form-Urlencoded; charset=utf-8"));
  EXPECT_TRUE(is_form_media_type(" application/x-www-form-urlencoded "));
  EXPECT_FALSE(is_form_media_type("multipart/form-data; boundary=x"));
  EXPECT_FALSE(is_form_media_type("application/json"));
  EXPECT_FALSE(is_form_media_type(""));
}

TEST(FindFormField, DecodesTheFirstFieldOfThatName) {
  std::string value;
  ASSERT_EQ(find_form_field("a=1&payload=%7B%22k%22%3A+%22v+w%22%7D&payload=2", "payload", value),
            FormField::kFound);
  EXPECT_EQ(value, R"({"k": "v w"})");
  ASSERT_EQ(find_form_field("pay%6Coad=x", "payload", value), FormField::kFound);  // name decoded
  EXPECT_EQ(value, "x");
  ASSERT_EQ(find_form_field("&&payload=&x=1", "payload", value), FormField::kFound);
  EXPECT_EQ(value, "");
  ASSERT_EQ(find_form_field("payload", "payload", value), FormField::kFound);
  EXPECT_EQ(value, "");
  ASSERT_EQ(find_form_field("payload=%E2%9C%93%zz%4", "payload", value), FormField::kFound);
  EXPECT_EQ(value, "\xE2\x9C\x93%zz%4");  // bad escapes stay as they are
  EXPECT_EQ(find_form_field("payloads=1&xpayload=2", "payload", value), FormField::kMissing);
  EXPECT_EQ(find_form_field("", "payload", value), FormField::kMissing);
}

}  // namespace
}  // namespace inlet::codecs
