// The part every streaming decoder shares: where decoded bytes go (OutputSink, which never lets a
// decompression bomb allocate past the limit) and the loop that drives one library call after
// another (drain), probing with a single byte at the limit. Internal to codecs/.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "codecs/decoder.h"

namespace inlet::codecs {

// Compressed JSON typically expands 5-15x; the first guess only sets how much is zero-filled.
inline constexpr std::size_t kExpansionGuess = 8;

// The decoded bytes of one decode() call, appended to a caller's string. Grows the string in
// doubling chunks but never past `limit` (+ padding) bytes of capacity. std::string's own growth
// may double the capacity, which is why growth goes through reserve_exact().
class OutputSink {
 public:
  OutputSink(std::string& out, std::size_t limit, std::size_t padding, std::size_t expected)
      : out_(out), used_(out.size()), limit_(limit), padding_(padding),
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
  static constexpr std::size_t kMinChunk = 4096;

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

// What one call into a decompression library did.
struct StepResult {
  enum State { kMore, kEnd, kCorrupt };
  State state;
  std::size_t produced;  // bytes written to the output buffer
  bool consumed;         // input bytes were taken
};

// Calls `step(char* out, std::size_t out_size) -> StepResult` until the stream ends, fails or
// outgrows the limit. Once the output reaches the limit, `step` gets a one-byte probe buffer: if
// it can still produce a byte the body is too large, if it ends the stream instead the body fits
// exactly. A step that neither produces nor consumes, with room to write, has run out of input:
// the stream is truncated.
template <typename Step>
DecodeStatus drain(OutputSink& sink, Step&& step) {
  char probe = 0;
  while (true) {
    const OutputSink::Room room = sink.room();
    const bool probing = room.size == 0;
    const StepResult r = probing ? step(&probe, 1) : step(room.data, room.size);
    if (probing && r.produced > 0) return DecodeStatus::kTooLarge;
    sink.commit(probing ? 0 : r.produced);
    switch (r.state) {
      case StepResult::kEnd:
        return sink.finish();
      case StepResult::kCorrupt:
        return DecodeStatus::kCorrupt;
      case StepResult::kMore:
        if (r.produced == 0 && !r.consumed) return DecodeStatus::kCorrupt;
        break;
    }
  }
}

}  // namespace inlet::codecs
