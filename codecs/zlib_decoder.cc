// gzip (RFC 1952; concatenated members decode as one body, as `gzip -d` does) and deflate: zlib-
// wrapped data (RFC 1950) or, when the first two bytes are not a zlib header, a raw deflate stream
// (RFC 1951), as browsers and servers in the wild send both.
//
// A single-member gzip body whose trailer's size fits the limit is first decoded in one call by
// libdeflate, 2-3x faster than zlib on whole buffers, into exactly that many bytes. Anything
// else (several members, a trailer that lies, corrupt data, a body past the limit) goes to zlib's
// streaming path, which alone decides those cases, so both paths answer the same.
#include <libdeflate.h>
#include <zlib.h>

#include <climits>
#include <cstdint>
#include <new>

#include "codecs/output_sink.h"

namespace inlet::codecs {
namespace {

class ZlibDecoder final : public Decoder {
 public:
  explicit ZlibDecoder(bool gzip) : gzip_(gzip) {
    if (inflateInit2(&stream_, gzip ? kGzipBits : kZlibBits) != Z_OK) throw std::bad_alloc();
    if (gzip && (whole_ = libdeflate_alloc_decompressor()) == nullptr) {
      inflateEnd(&stream_);
      throw std::bad_alloc();
    }
  }
  ~ZlibDecoder() override {
    inflateEnd(&stream_);
    if (whole_ != nullptr) libdeflate_free_decompressor(whole_);
  }
  ZlibDecoder(const ZlibDecoder&) = delete;
  ZlibDecoder& operator=(const ZlibDecoder&) = delete;

  DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit,
                      std::size_t padding) override {
    if (gzip_) {
      const std::uint64_t size = gzip_trailer_size(input);
      // The limit counts what `output` already holds.
      if (size > 0 && output.size() + size <= limit && decode_whole_gzip(input, output, size, padding)) {
        return DecodeStatus::kOk;
      }
      return run(input, output, limit, padding, kGzipBits, std::min<std::uint64_t>(size, limit));
    }
    const std::size_t hint = input.size() * kExpansionGuess;
    if (has_zlib_header(input)) {
      const std::size_t start = output.size();
      const DecodeStatus status = run(input, output, limit, padding, kZlibBits, hint);
      if (status != DecodeStatus::kCorrupt) return status;
      // About one raw deflate stream in 30 starts with two bytes that pass the header check.
      output.resize(start);
    }
    return run(input, output, limit, padding, kRawBits, hint);
  }

 private:
  static constexpr int kZlibBits = MAX_WBITS;
  static constexpr int kGzipBits = 16 + MAX_WBITS;
  static constexpr int kRawBits = -MAX_WBITS;

  static bool has_zlib_header(std::string_view in) noexcept {
    if (in.size() < 2) return false;
    const auto cmf = static_cast<unsigned char>(in[0]);
    const auto flg = static_cast<unsigned char>(in[1]);
    return (cmf & 0x0F) == Z_DEFLATED && (cmf >> 4) <= 7 && (cmf * 256u + flg) % 31 == 0;
  }

  // The gzip trailer holds the decoded size mod 2^32 (of the last member, and the sender says it):
  // the size to try in one call, and a good first allocation for the streaming path.
  static std::uint64_t gzip_trailer_size(std::string_view in) noexcept {
    if (in.size() < 18) return 0;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
    return p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24);
  }

  // True when `input` is one gzip member of exactly `size` decoded bytes, now appended to
  // `output`; false leaves `output` as it was.
  bool decode_whole_gzip(std::string_view input, std::string& output, std::size_t size,
                         std::size_t padding) {
    const std::size_t start = output.size();
    if (output.capacity() < start + size + padding) {
      std::string bigger;
      bigger.reserve(start + size + padding);
      bigger.assign(output);
      output.swap(bigger);
    }
    output.resize(start + size);
    std::size_t in_used = 0;
    std::size_t out_used = 0;
    const libdeflate_result result = libdeflate_gzip_decompress_ex(
        whole_, input.data(), input.size(), output.data() + start, size, &in_used, &out_used);
    if (result == LIBDEFLATE_SUCCESS && in_used == input.size() && out_used == size) return true;
    output.resize(start);
    return false;
  }

  static bool starts_gzip_member(const Bytef* p, std::size_t n) noexcept {
    return n >= 2 && p[0] == 0x1F && p[1] == 0x8B;
  }

  DecodeStatus run(std::string_view input, std::string& output, std::size_t limit,
                   std::size_t padding, int window_bits, std::size_t hint) {
    if (inflateReset2(&stream_, window_bits) != Z_OK) return DecodeStatus::kCorrupt;
    OutputSink sink(output, limit, padding, hint);
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = 0;
    std::size_t input_left = input.size();
    return drain(sink, [&](char* out, std::size_t out_size) -> StepResult {
      if (stream_.avail_in == 0 && input_left > 0) {
        stream_.avail_in = static_cast<uInt>(std::min<std::size_t>(input_left, UINT_MAX));
        input_left -= stream_.avail_in;
      }
      stream_.next_out = reinterpret_cast<Bytef*>(out);
      stream_.avail_out = static_cast<uInt>(std::min<std::size_t>(out_size, UINT_MAX));
      const uInt avail_in_before = stream_.avail_in;
      const uInt avail_out_before = stream_.avail_out;
      const int rc = inflate(&stream_, Z_NO_FLUSH);
      const std::size_t produced = avail_out_before - stream_.avail_out;
      if (rc == Z_STREAM_END) {
        if (stream_.avail_in == 0 && input_left == 0) return {StepResult::kEnd, produced, true};
        if (window_bits == kGzipBits && starts_gzip_member(stream_.next_in, stream_.avail_in) &&
            inflateReset(&stream_) == Z_OK) {
          return {StepResult::kMore, produced, true};
        }
        return {StepResult::kCorrupt, produced, true};  // trailing bytes after the stream
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) return {StepResult::kCorrupt, produced, false};
      return {StepResult::kMore, produced, avail_in_before != stream_.avail_in};
    });
  }

  const bool gzip_;
  z_stream stream_{};
  libdeflate_decompressor* whole_ = nullptr;  // gzip only
};

}  // namespace

std::unique_ptr<Decoder> make_gzip_decoder() { return std::make_unique<ZlibDecoder>(true); }
std::unique_ptr<Decoder> make_deflate_decoder() { return std::make_unique<ZlibDecoder>(false); }

}  // namespace inlet::codecs
