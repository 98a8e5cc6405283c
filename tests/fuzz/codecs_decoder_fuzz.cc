// libFuzzer target: BodyDecoder on arbitrary bytes with every coding. Checks the hard output
// limit and the padding promise; ASan checks the rest.
// Built and run by tests/fuzz/run.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "codecs/codings.h"
#include "codecs/decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static inlet::codecs::BodyDecoder decoder;
  static std::string output;
  if (size < 1) return 0;
  constexpr std::size_t kLimit = 64 << 10;
  // The first byte picks one or two codings.
  const auto codings = inlet::codecs::codings();
  inlet::codecs::EncodingList list;
  list.items[list.size++] = &codings[data[0] % codings.size()];
  if (data[0] & 0x80) list.items[list.size++] = &codings[(data[0] >> 3) % codings.size()];
  const std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto status = decoder.decode(input, list, output, kLimit, 64);
  if (output.size() > kLimit + (list.size > 1 ? kLimit / 8 + 4096 : 0)) std::abort();
  if (status == inlet::codecs::DecodeStatus::kOk &&
      (output.size() > kLimit || output.capacity() < output.size() + 64)) {
    std::abort();
  }
  return 0;
}
