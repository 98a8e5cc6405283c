// libFuzzer target: the YAML config loader (load_node_config) on arbitrary files. It must build a
// config or throw ConfigError with a message naming the file: no other exception, no crash. It
// never opens a queue or starts Python, as `inlet check` does not.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/config/node_config.h"

// tmpfs where there is one: every iteration writes files, and syncs on a disk cost milliseconds.
inline std::filesystem::path scratch_root() {
  std::error_code ec;
  return std::filesystem::is_directory("/dev/shm", ec) ? std::filesystem::path("/dev/shm")
                                                        : std::filesystem::temp_directory_path();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path file =
      scratch_root() / ("inlet-config-fuzz-" + std::to_string(::getpid()) + ".yaml");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto config = inlet::runtime::load_node_config(file);
    if (!config) std::abort();
  } catch (const inlet::runtime::ConfigError& e) {
    if (std::string(e.what()).find(file.string()) == std::string::npos) {
      std::fprintf(stderr, "ConfigError without the file name: %s\n", e.what());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "load_node_config threw something other than ConfigError: %s\n", e.what());
    std::abort();
  }
  return 0;
}
