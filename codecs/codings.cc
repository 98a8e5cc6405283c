#include "codecs/codings.h"

#include <array>
#include <string>

#include "codecs/content_type.h"
#include "codecs/decoder.h"

namespace inlet::codecs {

// Each factory is defined beside its decoder, in <name>_decoder.cc.
std::unique_ptr<Decoder> make_gzip_decoder();
std::unique_ptr<Decoder> make_deflate_decoder();
std::unique_ptr<Decoder> make_brotli_decoder();
std::unique_ptr<Decoder> make_zstd_decoder();

namespace {

constexpr std::array kCodings{
    Coding{"gzip", "x-gzip", make_gzip_decoder},  // RFC 9110 §8.4.1.3
    Coding{"deflate", "", make_deflate_decoder},  // RFC 9110 §8.4.1.2
    Coding{"br", "", make_brotli_decoder},        // RFC 7932
    Coding{"zstd", "", make_zstd_decoder},        // RFC 8878
};

std::string join_names() {
  std::string out;
  for (const Coding& coding : kCodings) {
    if (!out.empty()) out += ", ";
    out += coding.name;
  }
  return out;
}

}  // namespace

std::span<const Coding> codings() noexcept { return kCodings; }

const Coding* find_coding(std::string_view token) noexcept {
  for (const Coding& coding : kCodings) {
    if (iequals(token, coding.name) || (!coding.alias.empty() && iequals(token, coding.alias)))
      return &coding;
  }
  return nullptr;
}

std::string_view accept_encoding_value() noexcept {
  static const std::string value = join_names();
  return value;
}

}  // namespace inlet::codecs
