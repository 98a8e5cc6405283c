// The content codings inlet decodes: one table (codings.cc), one row per coding. A new coding is a
// `<name>_decoder.cc` with its factory, a row here, and a line in CMakeLists.txt; the
// Content-Encoding parser, BodyDecoder, the 415's Accept-Encoding and the codec tests all walk the
// table.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace inlet::codecs {

class Decoder;

struct Coding {
  std::string_view name;   // the token in Content-Encoding, lower case
  std::string_view alias;  // another accepted token ("x-gzip"), or empty
  std::unique_ptr<Decoder> (*make_decoder)();
};

// Every coding, in a fixed order; `coding - codings().data()` is a stable index.
std::span<const Coding> codings() noexcept;

// The coding named `token` (ASCII case-insensitive, name or alias); nullptr when unknown.
// `identity` is no coding: see parse_content_encoding.
const Coding* find_coding(std::string_view token) noexcept;

// "gzip, deflate, br, zstd": the value of the Accept-Encoding a 415 sends (RFC 9110 §12.5.3).
std::string_view accept_encoding_value() noexcept;

}  // namespace inlet::codecs
