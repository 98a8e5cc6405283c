// Shared by the codecs tests: the payloads and reference encoders (zlib, brotli, zstd) that make
// the compressed inputs.
#pragma once

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_payloads.h"

namespace inlet::codecs::testing {

using inlet::testing::Payload;

// The generated payloads, and the GitHub corpus where present (tests/test_payloads.h).
inline const std::vector<Payload>& corpus() { return inlet::testing::payloads(); }

// window_bits: 16 + 15 gzip, 15 zlib, -15 raw deflate.
inline std::string deflate_with(std::string_view data, int window_bits, int level = 6) {
  z_stream stream{};
  if (deflateInit2(&stream, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2");
  }
  std::string out(deflateBound(&stream, data.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

inline std::string gzip(std::string_view data) { return deflate_with(data, 16 + 15); }
inline std::string zlib_wrap(std::string_view data) { return deflate_with(data, 15); }
inline std::string raw_deflate(std::string_view data) { return deflate_with(data, -15); }

inline std::string brotli(std::string_view data, int quality = 5) {
  std::string out(BrotliEncoderMaxCompressedSize(data.size()) + 64, '\0');
  std::size_t size = out.size();
  if (!BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, data.size(),
                             reinterpret_cast<const std::uint8_t*>(data.data()), &size,
                             reinterpret_cast<std::uint8_t*>(out.data()))) {
    throw std::runtime_error("BrotliEncoderCompress");
  }
  out.resize(size);
  return out;
}

// A deflate bomb: `size` zero bytes (a multiple of 1 MiB) in about size/1000 bytes, without
// compressing them all. Z_RLE blocks refer only to the previous byte, so the block that encodes
// one MiB of zeros after a sync flush is valid again after itself and can be repeated.
// window_bits: 16 + 15 gzip, 15 zlib, -15 raw deflate.
inline std::string deflate_zeros(std::size_t size, int window_bits) {
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  const std::string zeros(kMiB, '\0');
  z_stream stream{};
  deflateInit2(&stream, 9, Z_DEFLATED, -15, 9, Z_RLE);
  std::string chunk(2 * kMiB, '\0');
  auto pump = [&](std::size_t n, int flush) {
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    stream.avail_in = static_cast<uInt>(n);
    stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
    stream.avail_out = static_cast<uInt>(chunk.size());
    deflate(&stream, flush);
    return chunk.substr(0, chunk.size() - stream.avail_out);
  };
  const std::string first = pump(kMiB, Z_SYNC_FLUSH);
  const std::string repeated = pump(kMiB, Z_SYNC_FLUSH);
  const std::string last = pump(0, Z_FINISH);
  deflateEnd(&stream);

  const std::size_t blocks = size / kMiB;
  std::string out;
  const uLong crc_block = crc32(0, reinterpret_cast<const Bytef*>(zeros.data()), kMiB);
  const uLong adler_block = adler32(1, reinterpret_cast<const Bytef*>(zeros.data()), kMiB);
  uLong crc = crc32(0, nullptr, 0);
  uLong adler = adler32(0, nullptr, 0);
  for (std::size_t i = 0; i < blocks; ++i) {
    crc = crc32_combine(crc, crc_block, kMiB);
    adler = adler32_combine(adler, adler_block, kMiB);
  }
  if (window_bits > 15) out.assign("\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03", 10);
  if (window_bits == 15) out.assign("\x78\xda", 2);
  out += first;
  for (std::size_t i = 1; i < blocks; ++i) out += repeated;
  out += last;
  auto put = [&](std::uint32_t v, bool big_endian) {
    for (int k = 0; k < 4; ++k) {
      const int shift = big_endian ? 24 - 8 * k : 8 * k;
      out.push_back(static_cast<char>((v >> shift) & 0xFF));
    }
  };
  if (window_bits > 15) {
    put(static_cast<std::uint32_t>(crc), false);
    put(static_cast<std::uint32_t>(size), false);
  }
  if (window_bits == 15) put(static_cast<std::uint32_t>(adler), true);
  return out;
}

inline std::string brotli_zeros(std::size_t size) {
  BrotliEncoderState* state = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
  BrotliEncoderSetParameter(state, BROTLI_PARAM_QUALITY, 0);
  BrotliEncoderSetParameter(state, BROTLI_PARAM_LGWIN, 24);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  std::size_t left = size;
  while (true) {
    const std::size_t n = std::min(left, zeros.size());
    left -= n;
    std::size_t avail_in = n;
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(zeros.data());
    const BrotliEncoderOperation op =
        left == 0 ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
    do {
      std::size_t avail_out = 0;
      BrotliEncoderCompressStream(state, op, &avail_in, &next_in, &avail_out, nullptr, nullptr);
      std::size_t produced = 0;
      const std::uint8_t* bytes = BrotliEncoderTakeOutput(state, &produced);
      out.append(reinterpret_cast<const char*>(bytes), produced);
    } while (avail_in > 0 || BrotliEncoderHasMoreOutput(state));
    if (left == 0 && BrotliEncoderIsFinished(state)) break;
  }
  BrotliEncoderDestroyInstance(state);
  return out;
}

// A zstd frame with a checksum, as the zstd CLI writes. window_log 0 leaves the level's window;
// declare_size false leaves the decoded size out of the frame header, as a streaming sender does.
inline std::string zstd(std::string_view data, int window_log = 0, bool declare_size = true) {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 3);
  ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, declare_size ? 1 : 0);
  if (window_log != 0) ZSTD_CCtx_setParameter(context, ZSTD_c_windowLog, window_log);
  std::string out(ZSTD_compressBound(data.size()), '\0');
  std::size_t size;
  if (declare_size) {
    size = ZSTD_compress2(context, out.data(), out.size(), data.data(), data.size());
  } else {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    ZSTD_outBuffer buffer{out.data(), out.size(), 0};
    size = ZSTD_compressStream2(context, &buffer, &in, ZSTD_e_end);
    size = ZSTD_isError(size) ? size : buffer.pos;
  }
  ZSTD_freeCCtx(context);
  if (ZSTD_isError(size)) throw std::runtime_error(ZSTD_getErrorName(size));
  out.resize(size);
  return out;
}

// A zstd bomb: `size` zero bytes streamed through the encoder (they become run-length blocks),
// with no decoded size in the header, so the decoder learns the size only by decoding.
inline std::string zstd_zeros(std::size_t size) {
  ZSTD_CCtx* context = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 1);
  const std::string zeros(1 << 20, '\0');
  std::string out;
  std::string chunk(ZSTD_CStreamOutSize(), '\0');
  std::size_t left = size;
  while (true) {
    const std::size_t n = std::min(left, zeros.size());
    left -= n;
    ZSTD_inBuffer in{zeros.data(), n, 0};
    const ZSTD_EndDirective mode = left == 0 ? ZSTD_e_end : ZSTD_e_continue;
    std::size_t remaining;
    do {
      ZSTD_outBuffer buffer{chunk.data(), chunk.size(), 0};
      remaining = ZSTD_compressStream2(context, &buffer, &in, mode);
      out.append(chunk.data(), buffer.pos);
    } while (mode == ZSTD_e_end ? remaining != 0 : in.pos < in.size);
    if (left == 0) break;
  }
  ZSTD_freeCCtx(context);
  return out;
}

}  // namespace inlet::codecs::testing
