// application/x-www-form-urlencoded bodies (the WHATWG URL standard's parser): one field's value,
// percent- and '+'-decoded (the media type check is is_form_media_type, in content_type.h). Pure
// functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace inlet::codecs {

enum class FormField { kFound, kMissing };

// Replaces `value` with the decoded value of the first `name` field of `body` (names are decoded
// before they are compared). A '%' not followed by two hex digits stays as it is, as browsers and
// Python's urllib.parse read it.
FormField find_form_field(std::string_view body, std::string_view name, std::string& value);

}  // namespace inlet::codecs
