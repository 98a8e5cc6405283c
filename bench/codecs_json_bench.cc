// JsonValidator against a plain simdjson::dom::parser::parse on the same padded buffers, per
// payload and for the whole corpus as one array. Prints inlet/raw ratios.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "codecs/json_validator.h"

namespace {

void run(benchmark::State& state, const std::vector<std::string>& bodies, bool inlet) {
  inlet::codecs::JsonValidator validator;
  simdjson::dom::parser parser;
  std::size_t total = 0;
  for (const auto& body : bodies) total += body.size();
  for (auto _ : state) {
    for (const auto& body : bodies) {
      bool ok;
      if (inlet) {
        ok = validator.validate(body);
        benchmark::DoNotOptimize(validator.root());
      } else {
        simdjson::dom::element root;
        ok = parser.parse(reinterpret_cast<const std::uint8_t*>(body.data()), body.size(), false)
                 .get(root) == simdjson::SUCCESS;
        benchmark::DoNotOptimize(root);
      }
      if (!ok) {
        state.SkipWithError("invalid JSON");
        return;
      }
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * total));
}

void run_invalid(benchmark::State& state, const std::string& body) {
  inlet::codecs::JsonValidator validator;
  for (auto _ : state) {
    benchmark::DoNotOptimize(validator.validate(body));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}

}  // namespace

int main(int argc, char** argv) {
  static const std::vector<std::string> payloads =
      inlet::bench::load_corpus(simdjson::SIMDJSON_PADDING);
  std::string array(1, '[');
  for (const auto& body : payloads) array.append(body).push_back(',');
  array.back() = ']';
  array.reserve(array.size() + simdjson::SIMDJSON_PADDING);
  static std::vector<std::string> corpus;
  corpus.push_back(std::move(array));  // a move keeps the padding; a copy would not
  // The error path: the scanner runs over the whole body before reporting the last byte.
  static std::string truncated;
  truncated.reserve(corpus[0].size() + simdjson::SIMDJSON_PADDING);
  truncated.assign(corpus[0], 0, corpus[0].size() - 1);

  for (bool inlet : {false, true}) {
    const std::string who = inlet ? "inlet" : "raw";
    benchmark::RegisterBenchmark(("json/per_payload/" + who).c_str(),
                                 [inlet](benchmark::State& s) { run(s, payloads, inlet); });
    benchmark::RegisterBenchmark(("json/corpus_array/" + who).c_str(),
                                 [inlet](benchmark::State& s) { run(s, corpus, inlet); });
  }
  benchmark::RegisterBenchmark("json/corpus_array_truncated/inlet_error_path",
                               [](benchmark::State& s) { run_invalid(s, truncated); });
  benchmark::Initialize(&argc, argv);
  inlet::bench::RatioReporter reporter("inlet / raw simdjson (MB/s; target >= 0.80)");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
}
