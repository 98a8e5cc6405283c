// br (RFC 7932).
#include <brotli/decode.h>

#include <cstdint>
#include <new>

#include "codecs/output_sink.h"
#include "codecs/unique_handle.h"

namespace inlet::codecs {
namespace {

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
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(input.data());
    std::size_t avail_in = input.size();
    return drain(sink, [&](char* out, std::size_t out_size) -> StepResult {
      auto* next_out = reinterpret_cast<std::uint8_t*>(out);
      std::size_t avail_out = out_size;
      const std::size_t avail_in_before = avail_in;
      const BrotliDecoderResult result = BrotliDecoderDecompressStream(
          state_.get(), &avail_in, &next_in, &avail_out, &next_out, nullptr);
      const std::size_t produced = out_size - avail_out;
      const bool consumed = avail_in != avail_in_before;
      switch (result) {
        case BROTLI_DECODER_RESULT_SUCCESS:
          return {avail_in == 0 ? StepResult::kEnd : StepResult::kCorrupt, produced, consumed};
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
          return {StepResult::kMore, produced, consumed};
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:  // all input was given: truncated
        case BROTLI_DECODER_RESULT_ERROR:
        default:
          return {StepResult::kCorrupt, produced, consumed};
      }
    });
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

}  // namespace

std::unique_ptr<Decoder> make_brotli_decoder() { return std::make_unique<BrotliStreamDecoder>(); }

}  // namespace inlet::codecs
