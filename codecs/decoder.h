// Streaming content decoders with a hard limit on decoded size; the codings are in codings.h.
// A Decoder is reusable across requests and is not thread-safe: keep one per I/O thread.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "codecs/content_type.h"

namespace inlet::codecs {

enum class DecodeStatus { kOk, kCorrupt, kTooLarge };

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Decodes the whole of `input` and appends it to `output`. Stops as soon as `output.size()`
  // would grow past `limit` bytes (kTooLarge), so a decompression bomb never allocates more than
  // the limit. Truncated input, corrupt data and trailing bytes after the end of the stream are
  // kCorrupt. On kOk the capacity of `output` is at least `output.size() + padding`; on failure
  // `output` holds an unspecified prefix of the decoded data. `output` must not alias `input`.
  virtual DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit,
                              std::size_t padding) = 0;
  DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit) {
    return decode(input, output, limit, 0);
  }
};

// Undoes a list of encodings (last applied is undone first). Owns one decoder per coding (made on
// first use) and a scratch buffer, reused across calls. Not thread-safe.
class BodyDecoder {
 public:
  BodyDecoder();
  ~BodyDecoder();
  // Replaces `output` with the decoded body. `limit` bounds the body; an intermediate layer of a
  // list may exceed it by limit/8 + 4 KiB (compressed data is never much larger than its input). On
  // kOk, `output` holds the decoded body followed by at least `padding` bytes of capacity (for
  // simdjson). An empty list copies `input`. `output` must not alias `input`.
  DecodeStatus decode(std::string_view input, const EncodingList& encodings, std::string& output,
                      std::size_t limit, std::size_t padding);

 private:
  Decoder& decoder_for(const Coding& coding);

  std::vector<std::unique_ptr<Decoder>> decoders_;  // by index in codings()
  std::string scratch_;
};

}  // namespace inlet::codecs
