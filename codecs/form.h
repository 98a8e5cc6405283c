// application/x-www-form-urlencoded bodies (the WHATWG URL standard's parser): the media type, and
// one field's value, percent- and '+'-decoded. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace inlet::codecs {

// True for `application/x-www-form-urlencoded`, case-insensitive, with optional parameters.
bool is_form_media_type(std::string_view content_type) noexcept;

enum class FormField { kFound, kMissing };

// Replaces `value` with the decoded value of the first `name` field of `body` (names are decoded
// before they are compared). A '%' not followed by two hex digits stays as it is, as browsers and
// Python's urllib.parse read it.
FormField find_form_field(std::string_view body, std::string_view name, std::string& value);

}  // namespace inlet::codecs
