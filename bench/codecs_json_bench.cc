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

#include "codecs/json_validator.h"

namespace {

std::vector<std::string> load_corpus() {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(INLET_CORPUS_DIR)) {
    if (entry.path().extension() == ".json") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::string> bodies;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream body;
    body << in.rdbuf();
    std::string padded = body.str();
    padded.reserve(padded.size() + simdjson::SIMDJSON_PADDING);
    bodies.push_back(std::move(padded));  // a move keeps the padding; a copy would not
  }
  return bodies;
}

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

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end()) continue;
      // With --benchmark_repetitions the median is used, otherwise the single run.
      if (run.run_type == Run::RT_Iteration && !speed_.count(run.run_name.str())) {
        speed_[run.run_name.str()] = it->second;
      } else if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
        speed_[run.run_name.str()] = it->second;
      }
    }
  }
  void print_ratios() const {
    std::printf("\ninlet / raw simdjson (MB/s; target >= 0.80)\n");
    for (const auto& [name, speed] : speed_) {
      const auto suffix = name.rfind("/inlet");
      if (suffix == std::string::npos) continue;
      auto raw = speed_.find(name.substr(0, suffix) + "/raw");
      if (raw == speed_.end()) continue;
      std::printf("  %-24s %8.1f vs %8.1f MB/s  ratio %.2f\n", name.substr(0, suffix).c_str(),
                  speed / 1e6, raw->second / 1e6, speed / raw->second);
    }
  }

 private:
  std::map<std::string, double> speed_;
};

}  // namespace

int main(int argc, char** argv) {
  static const std::vector<std::string> payloads = load_corpus();
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
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
}
