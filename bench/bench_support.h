// Shared by the microbenchmarks: the payload loader and a reporter that prints, after Google
// Benchmark's table, each "<name>/inlet" figure as a ratio to its "<name>/raw" twin.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test_payloads.h"

namespace inlet::bench {

// The generated payloads, and the GitHub corpus where present (tests/test_payloads.h), in name
// order, each with `padding` spare bytes of capacity.
inline std::vector<std::string> load_corpus(std::size_t padding = 0) {
  std::vector<std::string> bodies;
  for (auto& payload : inlet::testing::load_payloads(padding)) bodies.push_back(std::move(payload.body));
  return bodies;
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  explicit RatioReporter(const char* title) : title_(title) {}

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
    std::printf("\n%s\n", title_);
    for (const auto& [name, speed] : speed_) {
      const auto suffix = name.rfind("/inlet");
      if (suffix == std::string::npos) continue;
      auto raw = speed_.find(name.substr(0, suffix) + "/raw");
      if (raw == speed_.end()) continue;
      std::printf("  %-32s %8.1f vs %8.1f MB/s  ratio %.2f\n", name.substr(0, suffix).c_str(),
                  speed / 1e6, raw->second / 1e6, speed / raw->second);
    }
  }

 private:
  const char* title_;
  std::map<std::string, double> speed_;
};

}  // namespace inlet::bench
