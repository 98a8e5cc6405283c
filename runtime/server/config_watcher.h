// Asks for a reload on SIGHUP and when the config file, or a file it names (the TLS certificates),
// changes. The files are polled every second: Kubernetes swaps a ConfigMap's or Secret's symlink,
// cert-manager and editors rename a new file over the old one, others rewrite it in place, and one
// stat() a second sees all three alike. Control thread only.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>
#include <utility>
#include <vector>

namespace inlet::runtime {

class ConfigWatcher {
 public:
  // `reload` gets the trigger, "sighup", "file_changed" or "tls_file_changed"; `tick` runs on
  // every poll.
  ConfigWatcher(boost::asio::io_context& control, std::filesystem::path path,
                std::function<void(std::string_view trigger)> reload, std::function<void()> tick);

  void start();
  // The files the running config names (cert_file, key_file, ca_file), watched beside it; called
  // at start and after each reload.
  void watch_also(std::vector<std::filesystem::path> files);

 private:
  // What tells a rewritten file apart: its identity (a swapped symlink, a rename) and its size
  // and mtime (a rewrite in place).
  struct FileStamp {
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp stamp_of(const std::filesystem::path& path);
  // Re-reads every stamp; returns whether any of the named files changed.
  bool restamp_others();

  void wait_for_hangup();
  void poll_later();

  std::filesystem::path path_;
  std::function<void(std::string_view)> reload_;
  std::function<void()> tick_;
  FileStamp stamp_;
  std::vector<std::pair<std::filesystem::path, FileStamp>> others_;
  boost::asio::signal_set hangup_;
  boost::asio::steady_timer timer_;
};

}  // namespace inlet::runtime
