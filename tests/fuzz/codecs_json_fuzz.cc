// libFuzzer target: JsonValidator on arbitrary bytes. Checks that every rejected body gets a
// located error from the scanner (so it agrees with simdjson) that never echoes the body.
// Built and run by tests/fuzz/run.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "codecs/json_validator.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static inlet::codecs::JsonValidator validator;
  std::string body(reinterpret_cast<const char*>(data), size);
  body.reserve(size + simdjson::SIMDJSON_PADDING);
  if (validator.validate(body)) return 0;
  const std::string error(validator.error());
  if (error.size() >= 120) std::abort();
  if (size > 0 && error.find("byte ") == std::string::npos) std::abort();  // scanner disagreed
  return 0;
}
