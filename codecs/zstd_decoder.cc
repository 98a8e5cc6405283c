// zstd (RFC 8878), with the window capped at 8 MiB as RFC 9659 requires of the HTTP content
// coding: a frame that asks for more is corrupt, so no request makes a worker allocate a larger
// window. Concatenated and skippable frames decode as one body, as `zstd -d` does.
#include <zstd.h>

#include <new>

#include "codecs/output_sink.h"
#include "codecs/unique_handle.h"

namespace inlet::codecs {
namespace {

constexpr int kWindowLogMax = 23;

class ZstdDecoder final : public Decoder {
 public:
  ZstdDecoder() : context_(ZSTD_createDCtx()) {
    if (!context_ ||
        ZSTD_isError(ZSTD_DCtx_setParameter(context_.get(), ZSTD_d_windowLogMax, kWindowLogMax))) {
      throw std::bad_alloc();
    }
  }

  DecodeStatus decode(std::string_view input, std::string& output, std::size_t limit,
                      std::size_t padding) override {
    ZSTD_DCtx_reset(context_.get(), ZSTD_reset_session_only);
    OutputSink sink(output, limit, padding, size_hint(input, limit));
    ZSTD_inBuffer in{input.data(), input.size(), 0};
    return drain(sink, [&](char* out, std::size_t out_size) -> StepResult {
      ZSTD_outBuffer buffer{out, out_size, 0};
      const std::size_t in_before = in.pos;
      const std::size_t rc = ZSTD_decompressStream(context_.get(), &buffer, &in);
      if (ZSTD_isError(rc)) return {StepResult::kCorrupt, buffer.pos, in.pos != in_before};
      // 0: a frame ended and is flushed; the body ends with the input.
      const bool ended = rc == 0 && in.pos == in.size;
      return {ended ? StepResult::kEnd : StepResult::kMore, buffer.pos, in.pos != in_before};
    });
  }

 private:
  // The frame header may declare the decoded size: a good first allocation, capped by limit.
  static std::size_t size_hint(std::string_view input, std::size_t limit) noexcept {
    const unsigned long long declared = ZSTD_getFrameContentSize(input.data(), input.size());
    if (declared == ZSTD_CONTENTSIZE_UNKNOWN || declared == ZSTD_CONTENTSIZE_ERROR)
      return input.size() * kExpansionGuess;
    return declared < limit ? static_cast<std::size_t>(declared) : limit;
  }

  UniqueHandle<ZSTD_DCtx, ZSTD_freeDCtx> context_;
};

}  // namespace

std::unique_ptr<Decoder> make_zstd_decoder() { return std::make_unique<ZstdDecoder>(); }

}  // namespace inlet::codecs
