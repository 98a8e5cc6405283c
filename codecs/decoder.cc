#include "codecs/decoder.h"

#include <brotli/decode.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <new>

#include "codecs/unique_handle.h"

namespace inlet::codecs {
namespace {

constexpr std::size_t kMinChunk = 4096;
// Compressed JSON typically expands 5-15x; the first guess only sets how much is zero-filled.
constexpr std::size_t kExpansionGuess = 8;

// The decoded bytes of one decode() call, appended to a caller's string. Grows the string in
// doubling chunks but never past `limit` (+ padding) bytes of capacity, so a bomb cannot make it
// allocate more than the limit. std::string's own growth may double the capacity, which is why
// growth goes through reserve_exact().
class OutputSink {
 public:
  OutputSink(std::string& out, std::size_t limit, std::size_t padding, std::size_t expected)
      : out_(out),
        used_(out.size()),
        limit_(limit),
        padding_(padding),
        next_chunk_(std::max(expected, kMinChunk)) {}

  struct Room {
    char* data;
    std::size_t size;
  };

  // Writable bytes just past the decoded ones; size 0 once the limit is reached.
  Room room() {
    if (used_ < out_.size()) return {out_.data() + used_, out_.size() - used_};
    if (used_ >= limit_) return {nullptr, 0};
    const std::size_t chunk = std::min(next_chunk_, limit_ - used_);
    reserve_exact(used_ + chunk + padding_);
    out_.resize(used_ + chunk);
    next_chunk_ = std::max(next_chunk_, used_ + chunk);
    return {out_.data() + used_, chunk};
  }

  void commit(std::size_t n) noexcept { used_ += n; }

  DecodeStatus finish() {
    out_.resize(used_);
    reserve_exact(used_ + padding_);
    return DecodeStatus::kOk;
  }

 private:
  void reserve_exact(std::size_t capacity) {
    if (capacity <= out_.capacity()) return;
    std::string bigger;
    bigger.reserve(capacity);
    bigger.assign(out_.data(), used_);
    out_.swap(bigger);
  }

  std::string& out_;
  std::size_t used_;
  const std::size_t limit_;
  const std::size_t padding_;
  std::size_t next_chunk_;
};

// Once the output reaches the limit, the decoder gets this one-byte buffer: if it can still
// produce a byte the body is too large, if it ends the stream instead the body fits exactly.
struct Probe {
  char byte = 0;
};

class ZlibDecoder final : public Decoder {
 public:
  explicit ZlibDecoder(bool gzip) : gzip_(gzip) {
    if (inflateInit2(&stream_, gzip ? kGzipBits : kZlibBits) != Z_OK) throw std::bad_alloc();
  }
  ~ZlibDecoder() override { inflateEnd(&stream_); }
  ZlibDecoder(const ZlibDecoder&) = delete;
  ZlibDecoder& operator=(const ZlibDecoder&) = delete;

  DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit,
                      std::size_t padding) override {
    if (gzip_) return run(input, output, limit, padding, kGzipBits, gzip_size_hint(input, limit));
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

  // The gzip trailer holds the decoded size mod 2^32: a good first allocation, capped by limit.
  static std::size_t gzip_size_hint(std::string_view in, std::size_t limit) noexcept {
    if (in.size() < 18) return 0;
    const auto* p = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
    const std::uint32_t isize = p[0] | (p[1] << 8) | (p[2] << 16) | (std::uint32_t{p[3]} << 24);
    return std::min<std::size_t>(isize, limit);
  }

  static bool starts_gzip_member(const Bytef* p, std::size_t n) noexcept {
    return n >= 2 && p[0] == 0x1F && p[1] == 0x8B;
  }

  DecodeStatus run(std::string_view input, std::string& output, std::size_t limit,
                   std::size_t padding, int window_bits, std::size_t hint) {
    if (inflateReset2(&stream_, window_bits) != Z_OK) return DecodeStatus::kCorrupt;
    OutputSink sink(output, limit, padding, hint);
    Probe probe;
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
    stream_.avail_in = 0;
    std::size_t input_left = input.size();
    while (true) {
      if (stream_.avail_in == 0 && input_left > 0) {
        stream_.avail_in = static_cast<uInt>(std::min<std::size_t>(input_left, UINT_MAX));
        input_left -= stream_.avail_in;
      }
      const OutputSink::Room room = sink.room();
      const bool probing = room.size == 0;
      stream_.next_out = reinterpret_cast<Bytef*>(probing ? &probe.byte : room.data);
      stream_.avail_out =
          probing ? 1 : static_cast<uInt>(std::min<std::size_t>(room.size, UINT_MAX));
      const uInt avail_in_before = stream_.avail_in;
      const uInt avail_out_before = stream_.avail_out;

      const int rc = inflate(&stream_, Z_NO_FLUSH);
      const std::size_t produced = avail_out_before - stream_.avail_out;
      if (probing && produced > 0) return DecodeStatus::kTooLarge;
      sink.commit(probing ? 0 : produced);

      if (rc == Z_STREAM_END) {
        if (stream_.avail_in == 0 && input_left == 0) return sink.finish();
        if (window_bits == kGzipBits && starts_gzip_member(stream_.next_in, stream_.avail_in)) {
          if (inflateReset(&stream_) != Z_OK) return DecodeStatus::kCorrupt;
          continue;
        }
        return DecodeStatus::kCorrupt;  // trailing bytes after the end of the stream
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) return DecodeStatus::kCorrupt;
      // With room to write, inflate stalls only when it has run out of input: a truncated stream.
      if (produced == 0 && avail_in_before == stream_.avail_in) return DecodeStatus::kCorrupt;
    }
  }

  const bool gzip_;
  z_stream stream_{};
};

class BrotliStreamDecoder final : public Decoder {
 public:
  BrotliStreamDecoder() : state_(create()) {}

  DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit,
                      std::size_t padding) override {
    // Brotli 1.0 has no reset: a used state is replaced (one small allocation; the ring buffer
    // is allocated lazily, sized to the stream's window).
    if (dirty_) state_.reset(create());
    dirty_ = true;
    OutputSink sink(output, limit, padding, input.size() * kExpansionGuess);
    Probe probe;
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
    std::size_t avail_in = input.size();
    while (true) {
      const OutputSink::Room room = sink.room();
      const bool probing = room.size == 0;
      auto* next_out = reinterpret_cast<std::uint8_t*>(probing ? &probe.byte : room.data);
      std::size_t avail_out = probing ? 1 : room.size;
      const std::size_t avail_in_before = avail_in;
      const std::size_t avail_out_before = avail_out;

      const BrotliDecoderResult result = BrotliDecoderDecompressStream(
          state_.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
      const std::size_t produced = avail_out_before - avail_out;
      if (probing && produced > 0) return DecodeStatus::kTooLarge;
      sink.commit(probing ? 0 : produced);

      switch (result) {
        case BROTLI_DECODER_RESULT_SUCCESS:
          return avail_in == 0 ? sink.finish() : DecodeStatus::kCorrupt;
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
          if (produced == 0 && avail_in == avail_in_before) return DecodeStatus::kCorrupt;
          continue;
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:  // all input was given: truncated
        case BROTLI_DECODER_RESULT_ERROR:
        default:
          return DecodeStatus::kCorrupt;
      }
    }
  }

 private:
  static BrotliDecoderState* create() {
    BrotliDecoderState* state = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    if (state == nullptr) throw std::bad_alloc();
    return state;
  }

  UniqueHandle<BrotliDecoderState, BrotliDecoderDestroyInstance> state_;
  bool dirty_ = false;
};

class IdentityDecoder final : public Decoder {
 public:
  DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit,
                      std::size_t padding) override {
    if (output.size() > limit || input.size() > limit - output.size()) {
      return DecodeStatus::kTooLarge;
    }
    output.reserve(output.size() + input.size() + padding);
    output.append(input);
    return DecodeStatus::kOk;
  }
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(Encoding encoding) {
  switch (encoding) {
    case Encoding::kGzip:
      return std::make_unique<ZlibDecoder>(/*gzip=*/true);
    case Encoding::kDeflate:
      return std::make_unique<ZlibDecoder>(/*gzip=*/false);
    case Encoding::kBrotli:
      return std::make_unique<BrotliStreamDecoder>();
    case Encoding::kIdentity:
      break;
  }
  return std::make_unique<IdentityDecoder>();
}

BodyDecoder::BodyDecoder() {
  for (auto encoding :
       {Encoding::kIdentity, Encoding::kGzip, Encoding::kDeflate, Encoding::kBrotli}) {
    decoders_[static_cast<std::size_t>(encoding)] = make_decoder(encoding);
  }
}

BodyDecoder::~BodyDecoder() = default;

DecodeStatus BodyDecoder::decode(std::string_view input, const EncodingList& encodings,
                                 std::string& output, std::size_t limit, std::size_t padding) {
  output.clear();
  const std::size_t steps = std::min(encodings.size, EncodingList::kMax);
  if (steps == 0) {
    return decoders_[static_cast<std::size_t>(Encoding::kIdentity)]->decode(input, output, limit,
                                                                            padding);
  }
  // An intermediate layer is compressed data, which these formats never expand by more than a
  // small fraction over what it encodes; the slack lets a tiny body pass a tiny limit.
  const std::size_t layer_limit = limit + std::min(limit / 8 + 4096, SIZE_MAX - limit);
  // Undo the last coding first. The buffers alternate so that the final step lands in `output`:
  // a step with an even number of steps still to follow writes to `output`.
  std::string_view source = input;
  for (std::size_t i = steps; i-- > 0;) {
    std::string& target = (i % 2 == 0) ? output : scratch_;
    target.clear();
    Decoder& decoder = *decoders_[static_cast<std::size_t>(encodings.items[i])];
    const DecodeStatus status = i == 0 ? decoder.decode(source, target, limit, padding)
                                       : decoder.decode(source, target, layer_limit, 0);
    if (status != DecodeStatus::kOk) return status;
    source = target;
  }
  return DecodeStatus::kOk;
}

}  // namespace inlet::codecs
