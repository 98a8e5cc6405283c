// BodyDecoder against the raw one-shot library calls on the same data: zlib inflate (what
// uncompress() does, plus gzip framing), BrotliDecoderDecompress and ZSTD_decompressDCtx.
// Prints inlet/raw ratios.
// Usage: codecs_decoder_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "codecs/codings.h"
#include "codecs/decoder.h"

namespace {

using inlet::codecs::BodyDecoder;
using inlet::codecs::DecodeStatus;
using inlet::codecs::EncodingList;

std::string zlib_encode(const std::string& data, int window_bits) {
  z_stream stream{};
  deflateInit2(&stream, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&stream, data.size()) + 64, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::string brotli_encode(const std::string& data) {
  std::string out(BrotliEncoderMaxCompressedSize(data.size()) + 64, '\0');
  std::size_t size = out.size();
  BrotliEncoderCompress(5, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, data.size(),
                        reinterpret_cast<const std::uint8_t*>(data.data()), &size,
                        reinterpret_cast<std::uint8_t*>(out.data()));
  out.resize(size);
  return out;
}

struct Sample {
  std::string plain;
  std::string encoded;
};

// The physical limit: the library's one-shot call into a buffer already of the right size.
bool raw_zlib(const Sample& sample, std::string& out, int window_bits) {
  z_stream stream{};
  inflateInit2(&stream, window_bits);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(sample.encoded.data()));
  stream.avail_in = static_cast<uInt>(sample.encoded.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&stream, Z_FINISH);
  inflateEnd(&stream);
  return rc == Z_STREAM_END;
}

bool raw_brotli(const Sample& sample, std::string& out) {
  std::size_t size = out.size();
  return BrotliDecoderDecompress(sample.encoded.size(),
                                 reinterpret_cast<const std::uint8_t*>(sample.encoded.data()),
                                 &size, reinterpret_cast<std::uint8_t*>(out.data())) ==
             BROTLI_DECODER_RESULT_SUCCESS &&
         size == sample.plain.size();
}

bool raw_zstd(const Sample& sample, std::string& out) {
  static ZSTD_DCtx* context = ZSTD_createDCtx();
  return ZSTD_decompressDCtx(context, out.data(), out.size(), sample.encoded.data(),
                             sample.encoded.size()) == sample.plain.size();
}

struct Codec {
  const char* name;  // as codecs/codings.h names it
  std::string (*encode)(const std::string&);
  bool (*raw_decode)(const Sample&, std::string&);
};

const Codec kCodecs[] = {
    {"gzip", [](const std::string& d) { return zlib_encode(d, 16 + 15); },
     [](const Sample& s, std::string& out) { return raw_zlib(s, out, 16 + 15); }},
    {"deflate", [](const std::string& d) { return zlib_encode(d, 15); },
     [](const Sample& s, std::string& out) { return raw_zlib(s, out, 15); }},
    {"br", brotli_encode, raw_brotli},
    {"zstd",
     [](const std::string& d) {
       std::string out(ZSTD_compressBound(d.size()), '\0');
       out.resize(ZSTD_compress(out.data(), out.size(), d.data(), d.size(), 3));
       return out;
     },
     raw_zstd},
};

std::vector<Sample> encode_all(const std::vector<std::string>& bodies, const Codec& codec) {
  std::vector<Sample> samples;
  for (const auto& body : bodies) samples.push_back({body, codec.encode(body)});
  return samples;
}

void run(benchmark::State& state, const Codec& codec, const std::vector<Sample>& samples,
         bool inlet) {
  EncodingList list;
  list.items[list.size++] = inlet::codecs::find_coding(codec.name);
  BodyDecoder decoder;
  std::string out;
  std::size_t largest = 0;
  std::size_t total = 0;
  for (const auto& s : samples) {
    largest = std::max(largest, s.plain.size());
    total += s.plain.size();
  }
  std::string raw_out(largest, '\0');
  for (auto _ : state) {
    for (const auto& sample : samples) {
      bool ok;
      if (inlet) {
        ok =
            decoder.decode(sample.encoded, list, out, sample.plain.size(), 64) == DecodeStatus::kOk;
        benchmark::DoNotOptimize(out.data());
      } else {
        raw_out.resize(sample.plain.size());
        ok = codec.raw_decode(sample, raw_out);
        benchmark::DoNotOptimize(raw_out.data());
      }
      if (!ok) {
        state.SkipWithError("decode failed");
        return;
      }
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * total));
}

// Collects bytes/s per benchmark so the ratios can be printed after the usual table.
}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> bodies = inlet::bench::load_corpus();
  std::string all;
  for (const auto& body : bodies) all += body;
  static std::vector<std::vector<Sample>> keep;  // benchmarks refer to these: no reallocation
  keep.reserve(2 * std::size(kCodecs));
  for (const Codec& codec : kCodecs) {
    keep.push_back(encode_all({all}, codec));
    const auto& corpus = keep.back();
    keep.push_back(encode_all(bodies, codec));
    const auto& payloads = keep.back();
    for (bool inlet : {false, true}) {
      const std::string who = inlet ? "inlet" : "raw";
      benchmark::RegisterBenchmark(
          ("decode/" + std::string(codec.name) + "/corpus/" + who).c_str(),
          [&codec, &corpus, inlet](benchmark::State& s) { run(s, codec, corpus, inlet); });
      benchmark::RegisterBenchmark(
          ("decode/" + std::string(codec.name) + "/per_payload/" + who).c_str(),
          [&codec, &payloads, inlet](benchmark::State& s) { run(s, codec, payloads, inlet); });
    }
  }
  benchmark::Initialize(&argc, argv);
  inlet::bench::RatioReporter reporter("inlet / raw library (decoded MB/s; target >= 0.80)");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
}
