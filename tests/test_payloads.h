// The payloads every corpus-driven test and microbenchmark runs on: the generated ones
// (tests/payload_generator.py, written into the build tree at configure time) always, and the
// third-party GitHub corpus too where `../shared/corpus/github-webhooks/` exists beside the
// checkout. Header-only so the unit tests and the benchmarks share it without a library.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace inlet::testing {

struct Payload {
  std::string name;  // "generated/push-4000-0.json", "github/push.payload.json"
  std::string body;
};

// Every *.json file of `directory`, in name order, each with `padding` spare bytes of capacity
// (a move keeps them; a copy would not). Empty when the directory does not exist.
inline std::vector<Payload> load_payload_dir(const std::filesystem::path& directory,
                                             std::string_view label, std::size_t padding = 0) {
  std::vector<Payload> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(directory, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    std::string body = text.str();
    body.reserve(body.size() + padding);
    out.push_back({std::string(label) + "/" + entry.path().filename().string(), std::move(body)});
  }
  std::sort(out.begin(), out.end(), [](const Payload& a, const Payload& b) { return a.name < b.name; });
  return out;
}

// The generated payloads, then the GitHub corpus when present. Throws when the generated ones are
// missing: that is a broken build tree, never a reason to skip.
inline std::vector<Payload> load_payloads(std::size_t padding = 0) {
  std::vector<Payload> out = load_payload_dir(INLET_GENERATED_PAYLOAD_DIR, "generated", padding);
  if (out.empty()) {
    throw std::runtime_error("no generated payloads in " INLET_GENERATED_PAYLOAD_DIR
                             ": re-run cmake (it runs tests/payload_generator.py)");
  }
  for (Payload& p : load_payload_dir(INLET_CORPUS_DIR, "github", padding)) out.push_back(std::move(p));
  return out;
}

// Loaded once per process.
inline const std::vector<Payload>& payloads() {
  static const std::vector<Payload> all = load_payloads();
  return all;
}

// One named payload of the generated set ("check_run-completed.json").
inline const Payload& generated_payload(std::string_view file) {
  for (const Payload& p : payloads()) {
    if (p.name == "generated/" + std::string(file)) return p;
  }
  throw std::runtime_error("no generated payload " + std::string(file));
}

}  // namespace inlet::testing
