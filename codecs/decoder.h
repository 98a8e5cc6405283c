// Streaming content decoders (gzip, deflate, brotli) with a hard limit on decoded size.
// A Decoder is reusable across requests and is not thread-safe: keep one per I/O thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "codecs/content_type.h"

namespace inlet::codecs {

enum class DecodeStatus { kOk, kCorrupt, kTooLarge };

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes the whole of `input` and appends it to `output`. Stops as soon as `output` would grow
  // past `limit` bytes (kTooLarge) so a decompression bomb never allocates more than the limit.
  // Truncated or trailing garbage input is kCorrupt.
  virtual DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit) = 0;
};

std::unique_ptr<Decoder> make_decoder(Encoding encoding);

// Undoes a list of encodings (last applied is undone first). Owns one decoder per coding and a
// scratch buffer, reused across calls. Not thread-safe.
class BodyDecoder {
 public:
  BodyDecoder();
  ~BodyDecoder();
  // On kOk, `output` holds the decoded body followed by at least `padding` bytes of capacity
  // (for simdjson). `output` must not alias `input`.
  DecodeStatus decode(std::string_view input, const EncodingList& encodings, std::string& output,
                      std::size_t limit, std::size_t padding);

 private:
  std::unique_ptr<Decoder> decoders_[4];
  std::string scratch_;
};

}  // namespace inlet::codecs
