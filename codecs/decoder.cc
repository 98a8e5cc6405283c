#include "codecs/decoder.h"

#include <algorithm>
#include <cstdint>

namespace inlet::codecs {
namespace {

DecodeStatus copy_within(std::string_view input, std::string& output, std::size_t limit,
                         std::size_t padding) {
  if (input.size() > limit) return DecodeStatus::kTooLarge;
  output.reserve(input.size() + padding);
  output.assign(input);
  return DecodeStatus::kOk;
}

}  // namespace

BodyDecoder::BodyDecoder() : decoders_(codings().size()) {}

BodyDecoder::~BodyDecoder() = default;

Decoder& BodyDecoder::decoder_for(const Coding& coding) {
  std::unique_ptr<Decoder>& slot = decoders_[static_cast<std::size_t>(&coding - codings().data())];
  if (!slot) slot = coding.make_decoder();
  return *slot;
}

DecodeStatus BodyDecoder::decode(std::string_view input, const EncodingList& encodings,
                                 std::string& output, std::size_t limit, std::size_t padding) {
  output.clear();
  const std::size_t steps = std::min(encodings.size, EncodingList::kMax);
  if (steps == 0) return copy_within(input, output, limit, padding);
  // An intermediate layer is compressed data, which these formats never expand by more than a
  // small fraction over what it encodes; the slack lets a tiny body pass a tiny limit.
  const std::size_t layer_limit = limit + std::min(limit / 8 + 4096, SIZE_MAX - limit);
  // Undo the last coding first. The buffers alternate so that the final step lands in `output`:
  // a step with an even number of steps still to follow writes to `output`.
  std::string_view source = input;
  for (std::size_t i = steps; i-- > 0;) {
    std::string& target = (i % 2 == 0) ? output : scratch_;
    target.clear();
    Decoder& decoder = decoder_for(*encodings.items[i]);
    const DecodeStatus status = i == 0 ? decoder.decode(source, target, limit, padding)
                                       : decoder.decode(source, target, layer_limit, 0);
    if (status != DecodeStatus::kOk) return status;
    source = target;
  }
  return DecodeStatus::kOk;
}

}  // namespace inlet::codecs
